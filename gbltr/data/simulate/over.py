"""Semi-synthetic logs over real judgements: ``gbltr simulate --over DIR --out NEW``.

The standard semi-synthetic set-up of unbiased learning to rank (Joachims, Swaminathan &
Schnabel, WSDM 2017; Agarwal et al., WWW 2019): a real dataset's queries, documents, candidates,
precomputed features and human labels are kept as they are, and what the dataset lacks is
simulated around them, with every choice below recorded in ``simulation.json`` and the
manifest (``sources``):

Query frequencies (``frequencies``)
    ``power_law`` (default): queries take the ranks of a seeded random permutation and
    ``sessions`` sessions are drawn multinomially with P(rank r) proportional to r^-exponent
    (Zipf). ``log``: each query keeps its number of sessions in the dataset's own log (error if
    it has none).
First-stage ranker
    A noisy ranker shows each session the top ``serp_length`` candidates by
    ``g(rel) + N(0, ranker_noise^2)``, with the noise drawn once per query (a production ranker
    is deterministic) and again with ``session_noise`` per session (small re-rankings). ``g(r) =
    (2^r - 1) / (2^r_max - 1)`` is the graded relevance probability (Chapelle et al., CIKM 2009);
    unjudged candidates count as r = 0, negative grades (spam) as 0.
Click model (``--click-matrix FILE`` replaces it)
    Position bias and trust bias: a result at position k is examined with
    ``theta_k = (1 / k)^eta``; an examined result is clicked with probability
    ``eps_minus_k + (1 - eps_minus_k) * g(rel)``, where ``eps_minus_k = noise_click * theta_k``
    is the trust-bias click on a non-relevant result, more likely near the top (the affine form
    of Agarwal et al. 2019 / Vardasbi et al., CIKM 2020). With ``click_matrix``: a JSON
    ``{"click_prob": [[P(click | rel, pos) for pos 1..10] for rel 0..4]}`` (ULTRA's TianGong-ST
    matrix, read at run time), grades rescaled to 0..4 by ``round(4 r / r_max)``.
LLM labels
    A documented noisy view of the human labels: with probability ``llm_accuracy`` the human
    grade, else the grade moved by a shift drawn from N(0, llm_noise^2), rounded, redrawn while 0
    and capped at r_max in size; a move that would leave 0..r_max goes the other way (then
    clipped), so a changed label always differs from the human one and the agreement is
    ``llm_accuracy`` in expectation. ``llm_labels=FILE`` (Parquet from ``gbltr annotate``, or qrels) is used
    instead where the dataset has text and was annotated.

Everything is seeded by ``seed``. Human labels are untouched: evaluation reads them as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.checkpoint import checkpoint
from gbltr.data.store import check_dataset_out, read_dataset, write_dataset
from gbltr.data.world import WorldParams
from gbltr.errors import DataError, unknown_choice
from gbltr.folders import Input
from gbltr.inputs import read_json_matrix
from gbltr.labels.llm.labelset import load_llm_labels
from gbltr.ranges import check_fields, count, non_negative, number, probability, range_of, seed_range

FREQUENCIES = ("power_law", "log")


@dataclass(frozen=True)
class OverParams:
    """Parameters of :func:`simulate_over` (documented in the module docstring)."""

    seed: int = number(0, seed_range())
    frequencies: str = "power_law"
    sessions: int = number(0, count(0, note="0 = 40 per query"))
    exponent: float = number(1.0, range_of(WorldParams, "frequency_exponent"))
    serp_length: int = number(10, count(1))
    ranker_noise: float = number(0.35, non_negative())
    session_noise: float = number(0.05, non_negative())
    eta: float = number(1.0, non_negative())
    noise_click: float = number(0.1, probability())
    click_matrix: str | None = None
    llm_accuracy: float = number(0.6, probability())
    llm_noise: float = number(1.0, non_negative())
    llm_labels: str | None = None

    def __post_init__(self):
        check_fields(self, "over")
        if self.frequencies not in FREQUENCIES:
            raise unknown_choice("frequencies", self.frequencies, FREQUENCIES)


def _click_matrix(path: str) -> np.ndarray:
    """``click_prob[relevance][position]``: 5 rows (grades 0..4) of click probabilities in [0, 1]."""
    return read_json_matrix(path, "click matrix", "click_prob", rows=5, meaning="click probabilities per position")


def simulate_over(src: str | Path, out: str | Path, params: OverParams = OverParams(), *, overwrite: bool = False) -> Path:
    """Write ``out``: the dataset ``src`` with a simulated log and LLM labels (module docstring)."""
    inputs = over_inputs(src, params)
    check_dataset_out(out, command="simulate", inputs=inputs, overwrite=overwrite)
    # the files named are read and checked before the dataset is
    matrix = _click_matrix(params.click_matrix) if params.click_matrix else None
    given_llm = load_llm_labels(params.llm_labels) if params.llm_labels else None
    ds = read_dataset(src)
    if "human" not in ds.labels:
        raise DataError(f"simulate --over {src}: the dataset has no human labels to simulate around; "
                        "import judgements first (gbltr import ... --also qrels=FILE)")
    checkpoint("simulate")  # the output, the files named and the dataset are checked
    rng = np.random.default_rng(params.seed)
    human = ds.labels["human"].filter(pl.col("label").is_not_null()).select(
        "query_id", "doc_id", pl.col("label").clip(0, None).round().alias("rel"))
    r_max = max(1.0, float(human["rel"].max()))
    cand = (ds.candidates.select("query_id", "doc_id", "rank")
            .join(human, on=["query_id", "doc_id"], how="left").with_columns(pl.col("rel").fill_null(0.0))
            .sort("query_id", "rank", "doc_id"))
    qids = cand["query_id"].unique(maintain_order=True).to_list()
    nq = len(qids)
    # ---- query frequencies
    if params.frequencies == "log":
        if ds.impressions is None:
            raise DataError(f"simulate --over {src} --frequencies log: the dataset has no log; use power_law")
        counts = ds.impressions.group_by("query_id").agg(pl.col("session_id").n_unique().alias("n"))
        freq = pl.DataFrame({"query_id": qids}).join(counts, on="query_id", how="left")["n"].fill_null(0).to_numpy()
    else:
        total = params.sessions or 40 * nq
        ranks = rng.permutation(nq) + 1
        p = ranks.astype(float) ** -params.exponent
        freq = rng.multinomial(total, p / p.sum())
    # ---- sessions: one ranked SERP per session from the noisy first-stage ranker
    g = (2.0 ** cand["rel"].to_numpy() - 1) / (2.0 ** r_max - 1)
    qcol = cand["query_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, qcol[1:] != qcol[:-1]])
    bounds = np.r_[starts, qcol.size]
    docs = cand["doc_id"].to_numpy()
    rel = cand["rel"].to_numpy()
    s_q, s_sess, s_pos, s_doc, s_click = [], [], [], [], []
    sid = 0
    for qi in range(nq):
        lo, hi = bounds[qi], bounds[qi + 1]
        n_sess = int(freq[qi])
        if n_sess == 0:
            continue
        base = g[lo:hi] + rng.normal(0, params.ranker_noise, hi - lo)
        noisy = base[None, :] + rng.normal(0, params.session_noise, (n_sess, hi - lo))
        k = min(params.serp_length, hi - lo)
        order = np.argsort(-noisy, axis=1, kind="stable")[:, :k]
        pos = np.arange(1, k + 1)
        if matrix is not None:
            r4 = np.rint(4 * rel[lo:hi][order] / r_max).astype(int)
            pc = matrix[r4, np.minimum(pos, matrix.shape[1]) - 1]
        else:
            theta = (1.0 / pos) ** params.eta
            eps = params.noise_click * theta
            pc = theta * (eps + (1 - eps) * g[lo:hi][order])
        clicks = rng.random(pc.shape) < pc
        s_q.append(np.full(n_sess * k, qids[qi], dtype=object))
        s_sess.append(np.repeat(np.arange(sid, sid + n_sess), k))
        s_pos.append(np.tile(pos, n_sess))
        s_doc.append(docs[lo:hi][order].ravel())
        s_click.append(clicks.ravel())
        sid += n_sess
    if sid == 0:
        raise DataError("simulate --over: no session was drawn; raise --sessions")
    impressions = pl.DataFrame({
        "session_id": pl.Series(np.concatenate(s_sess)).cast(pl.String).str.replace(r"^", "sim:"),
        "query_id": pl.Series(np.concatenate(s_q).astype(str)),
        "position": pl.Series(np.concatenate(s_pos)).cast(pl.Int32),
        "doc_id": pl.Series(np.concatenate(s_doc).astype(str)),
        "clicked": pl.Series(np.concatenate(s_click)),
    })
    # ---- LLM labels
    if params.llm_labels:
        llm = given_llm
        llm_how = f"from {params.llm_labels}"
    else:
        h = human["rel"].to_numpy()
        keep = rng.random(h.size) < params.llm_accuracy
        shift = np.rint(rng.normal(0, params.llm_noise, h.size))
        while np.any(bad := (~keep) & (shift == 0)):
            shift[bad] = np.rint(rng.normal(0, params.llm_noise, int(bad.sum())))
        shift = np.sign(shift) * np.minimum(np.abs(shift), r_max)
        moved = h + shift
        moved = np.clip(np.where((moved < 0) | (moved > r_max), h - shift, moved), 0, r_max)
        llm_grade = np.where(keep, h, moved)
        llm = human.select("query_id", "doc_id").with_columns(label=pl.Series(llm_grade), source=pl.lit("llm"))
        llm_how = f"noisy view of human labels: accuracy {params.llm_accuracy}, noise sd {params.llm_noise}"
    record = {"over": str(src), **asdict(params), "llm_labels_how": llm_how, "n_sessions": sid,
              "click_model": "click matrix " + params.click_matrix if params.click_matrix else
              "position bias (1/k)^eta + trust bias eps_k = noise_click * theta_k"}
    missing = {k: v for k, v in ds.missing.items() if k != "impressions"}
    out_ds = replace(ds, impressions=impressions, labels={**ds.labels, "llm": llm}, missing=missing,
                     sources=[*ds.sources, {"format": "simulate --over", **record}],
                     metadata={**ds.metadata, "simulated_over": str(src)})
    return write_dataset(out_ds, out, extra_json={"simulation.json": record}, overwrite=overwrite,
                         command="simulate", inputs=inputs)


def over_inputs(src, params: OverParams) -> list[Input]:
    """What ``simulate --over`` reads: the dataset folder, and the files its parameters name."""
    named = [(src, "dataset folder (--over)"), (params.click_matrix, "click matrix"),
             (params.llm_labels, "LLM label set")]
    return [Input(path, what) for path, what in named if path]
