"""Document-level (query-independent) features: lengths, URL shape, link authority, domain statistics.

Input: the documents table of :mod:`gbltr.schema` (doc_id, title, body, url [, inlinks, pagerank,
domain]). Output: doc_id and one Float64 column per computed feature of the ``document`` group of
the catalogue:

``doc_title_len``, ``doc_body_len``  tokens (:func:`gbltr.features.text.token_count`)
``doc_url_len``                      characters of the URL
``doc_url_depth``                    non-empty path segments: ``https://a.org/x/y/?q=1`` -> 2
``doc_inlinks_log1p``                ln(1 + inlinks)                         needs ``inlinks``
``doc_pagerank``                     the given PageRank-like score           needs ``pagerank``
``doc_domain_size``                  documents of the table in the domain    needs ``domain``
``doc_domain_inlinks_mean``          mean ln(1 + inlinks) over the domain    needs ``domain``, ``inlinks``
``doc_domain_pagerank_mean``         mean pagerank over the domain           needs ``domain``, ``pagerank``

Missing optional columns: a feature whose column is absent from the table is *omitted* (not
zero-filled: a constant 0 would look like real data to the model and to ablation), and a warning
on the ``gbltr.features`` logger names the omitted features and the missing column. The omission
is reported back in :attr:`DocumentFeatures.omitted`. Null values inside a present column stay
null (missing values, which LightGBM and XGBoost route natively); domain means skip nulls.
Domain statistics are over the documents table given (PageRank-like authority: Page et al. 1999).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl

from gbltr.features.text import token_count

logger = logging.getLogger("gbltr.features")

# URL without scheme://host and without ?query / #fragment, e.g. "/x/y/".
_URL_PATH = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?[^/?#]*"


@dataclass(frozen=True)
class DocumentFeatures:
    """doc_id + one column per computed feature; ``omitted`` maps feature -> reason."""

    frame: pl.DataFrame
    omitted: dict[str, str] = field(default_factory=dict)


def url_depth(url: pl.Expr) -> pl.Expr:
    """Number of non-empty path segments of a URL (scheme, host, query and fragment excluded)."""
    path = url.fill_null("").str.replace(_URL_PATH, "").str.replace(r"[?#].*$", "")
    return path.str.count_matches(r"[^/]+").cast(pl.Float64)


def document_features(documents: pl.DataFrame | pl.LazyFrame) -> DocumentFeatures:
    """Compute every document feature the table's columns allow (see the module docstring).

    ``documents`` must already match :data:`gbltr.schema.DOCUMENTS`. Features needing an absent
    optional column are omitted, logged and listed in :attr:`DocumentFeatures.omitted`.
    """
    lf = documents.lazy()
    present = set(lf.collect_schema().names())
    inl = pl.col("inlinks").cast(pl.Float64).log1p()
    pagerank = pl.col("pagerank").cast(pl.Float64)
    # name -> (expression, optional columns it needs); order = catalogue order
    definitions = {
        "doc_title_len": (token_count(pl.col("title")).cast(pl.Float64), ()),
        "doc_body_len": (token_count(pl.col("body")).cast(pl.Float64), ()),
        "doc_url_len": (pl.col("url").fill_null("").str.len_chars().cast(pl.Float64), ()),
        "doc_url_depth": (url_depth(pl.col("url")), ()),
        "doc_inlinks_log1p": (inl, ("inlinks",)),
        "doc_pagerank": (pagerank, ("pagerank",)),
        "doc_domain_size": (pl.len().over("domain").cast(pl.Float64), ("domain",)),
        "doc_domain_inlinks_mean": (inl.mean().over("domain"), ("domain", "inlinks")),
        "doc_domain_pagerank_mean": (pagerank.mean().over("domain"), ("domain", "pagerank")),
    }
    chosen, omitted, missing_cols = [], {}, set()
    for name, (expr, needs) in definitions.items():
        lacking = [c for c in needs if c not in present]
        if lacking:
            omitted[name] = f"documents table has no column(s) {lacking}"
            missing_cols.update(lacking)
        else:
            chosen.append(expr.alias(name))
    if omitted:
        logger.warning(
            "document features %s omitted: optional documents column(s) %s absent "
            "(features are omitted, not zero-filled)",
            list(omitted),
            sorted(missing_cols),
        )
    frame = lf.select("doc_id", *chosen).collect()
    return DocumentFeatures(frame, omitted)
