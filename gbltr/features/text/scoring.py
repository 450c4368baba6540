"""The scoring formulas of the text features.

Scores for a (query, document, field), summing over query tokens t with their query count qtf,
with tf = count of t in the field, dl = field length, N = documents, df/cf = document/collection
frequency of t in the field, |C| = total field tokens (see :class:`TextParams` for the constants):

* BM25, Lucene variant (Robertson et al. 1994, "Okapi at TREC-3"; Lucene >= 8 as described by
  Kamphuis et al. 2020, "Which BM25 do you mean?"):
  ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))`` with ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``.
  Identical to ``bm25s.BM25(method="lucene")``. ``rank_bm25.BM25Okapi`` differs: it multiplies
  by (k1 + 1) and uses ``idf = ln((N - df + 0.5) / (df + 0.5))`` floored at ``0.25 * mean idf``.
* TF-IDF (SMART ``ltn``; Salton & Buckley 1988): ``(1 + ln tf) * ln(N / df)`` for tf > 0, else 0.
* LM with Dirichlet smoothing (Zhai & Lafferty 2001, "A study of smoothing methods for language
  models applied to ad hoc IR"), the full query log-likelihood
  ``ln((tf + mu * p(t|C)) / (dl + mu))``.
* LM with Jelinek-Mercer smoothing (same paper), ``ln((1 - lambda) * tf / dl + lambda * p(t|C))``
  (``tf / dl`` taken as 0 for an empty field).

Query terms absent from the collection: the collection model is Lucene's
(``LMSimilarity.DefaultCollectionModel``) ``p(t|C) = (cf + 1) / (|C| + 1)``, so a term never seen
in the field still has probability ``1 / (|C| + 1) > 0`` and both LM scores stay finite; such a
term adds the same penalty to every document of equal length. BM25 and TF-IDF give it 0.
A query without tokens scores 0 on every feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.errors import ConfigError
from gbltr.features.text.index import FieldIndex, kernels


@dataclass(frozen=True)
class TextParams:
    """Constants of the text scores.

    k1, b: BM25 term-frequency saturation and length normalisation (Lucene defaults 1.2, 0.75).
    mu: Dirichlet prior (Zhai & Lafferty 2001 recommend ~2000). jm_lambda: weight of the
    collection model in Jelinek-Mercer smoothing (0.1 suits short queries, same paper).
    """

    k1: float = 1.2
    b: float = 0.75
    mu: float = 2000.0
    jm_lambda: float = 0.1

    @classmethod
    def from_config(cls, features) -> "TextParams":
        """The text constants of a run's ``[features]`` section (a
        :class:`gbltr.config.FeatureConfig`: ``bm25_k1``, ``bm25_b``, ``lm_mu``, ``lm_lambda``);
        what training and ``rerank`` build features with."""
        return cls(k1=features.bm25_k1, b=features.bm25_b, mu=features.lm_mu, jm_lambda=features.lm_lambda)

    def __post_init__(self) -> None:
        checks = [
            ("k1", self.k1 >= 0, ">= 0"),
            ("b", 0 <= self.b <= 1, "in [0, 1]"),
            ("mu", self.mu > 0, "> 0"),
            ("jm_lambda", 0 < self.jm_lambda <= 1, "in (0, 1]"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(
                    f"text feature parameter {name}={getattr(self, name)!r}; expected {want}"
                )


def _attach_field(rows: pl.DataFrame, index: FieldIndex, n_vocab: int) -> pl.DataFrame:
    """rows(pair, doc_idx, term_id, qtf, ...) + tf_f, df_f, cf_f, len_f of field f (0 when absent).

    tf by scanning the document's postings (numba; ~80 per document, cheaper than hashing the
    whole postings table for a join); df, cf and the length by gathering from dense per-term and
    per-document arrays.
    """
    f = index.field
    n_terms = max(n_vocab, 1)
    dense = (
        pl.DataFrame({"term_id": pl.arange(0, n_terms, eager=True).cast(pl.UInt32)})
        .join(index.term_stats, on="term_id", how="left", maintain_order="left")
        .fill_null(0)
    )
    lengths = index.doc_lengths.sort("doc_idx")["length"]
    postings = index.postings
    if not postings["doc_idx"].is_sorted():
        postings = postings.sort("doc_idx")
    post_doc = postings["doc_idx"].cast(pl.UInt32).to_numpy()
    doc_ptr = np.searchsorted(post_doc, np.arange(index.n_docs + 1, dtype=np.uint32), side="left")
    tf = kernels()[1](
        doc_ptr,
        postings["term_id"].cast(pl.UInt32).to_numpy(),
        postings["tf"].cast(pl.UInt32).to_numpy(),
        rows["doc_idx"].cast(pl.UInt32).to_numpy(),
        rows["term_id"].cast(pl.UInt32).to_numpy(),
    )
    return rows.with_columns(
        pl.Series(f"tf_{f}", tf, dtype=pl.UInt32),
        pl.lit(dense["df"]).gather(pl.col("term_id")).alias(f"df_{f}"),
        pl.lit(dense["cf"]).gather(pl.col("term_id")).alias(f"cf_{f}"),
        pl.lit(lengths).gather(pl.col("doc_idx")).alias(f"len_{f}"),
    )


def _field_aggregates(index: FieldIndex, p: TextParams) -> list[pl.Expr]:
    """Per-pair sums over query terms: bm25_f, tfidf_f, lm_dir_f, lm_jm_f, coverage_f."""
    f = index.field
    tf, df, cf = (pl.col(f"{c}_{f}").cast(pl.Float64) for c in ("tf", "df", "cf"))
    qtf, dl = pl.col("qtf").cast(pl.Float64), pl.col(f"len_{f}").cast(pl.Float64)
    n, total, avgdl = float(index.n_docs), index.total_length, index.avg_length
    present = pl.col(f"tf_{f}") > 0
    idf = (1.0 + (n - df + 0.5) / (df + 0.5)).log()
    norm = dl / avgdl if avgdl > 0 else pl.lit(1.0)  # every field empty: no length to normalise
    bm25 = pl.when(present).then(qtf * idf * tf / (tf + p.k1 * (1.0 - p.b + p.b * norm))).otherwise(0.0)
    tfidf = pl.when(present).then(qtf * (1.0 + tf.log()) * (n / df).log()).otherwise(0.0)
    p_c = (cf + 1.0) / (total + 1.0)
    lm_dir = qtf * ((tf + p.mu * p_c) / (dl + p.mu)).log()
    p_ml = pl.when(dl > 0).then(tf / dl).otherwise(0.0)
    lm_jm = qtf * ((1.0 - p.jm_lambda) * p_ml + p.jm_lambda * p_c).log()
    return [
        bm25.sum().alias(f"bm25_{f}"),
        tfidf.sum().alias(f"tfidf_{f}"),
        lm_dir.sum().alias(f"lm_dir_{f}"),
        lm_jm.sum().alias(f"lm_jm_{f}"),
        (present.sum() / pl.len()).cast(pl.Float64).alias(f"coverage_{f}"),
    ]
