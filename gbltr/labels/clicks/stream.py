"""Click labels from a log scanned lazily (Polars' streaming engine): for logs larger than memory.

:func:`click_labels_scan` gives the same :class:`~gbltr.labels.clicks.labels.ClickLabels` as
:func:`~gbltr.labels.clicks.labels.click_labels` on the loaded log, without building the
sessions x positions matrices. The log is reduced by streaming group-bys to sufficient
statistics, then the model is fitted on those in memory:

- per (query_id, doc_id, position[, previous click]): impressions ``n`` and clicks ``c``
  (O(distinct shown pairs x positions));
- per query: counts of sessions, truncated/empty/gapped sessions, sessions without a click, and
  the input errors (a session with two queries, a position shown twice), from a per-session
  group-by (its hash table is O(sessions of the training queries); its output is O(queries)).

Models that stream (:data:`STREAMING_MODELS`) are those whose likelihood depends on a session
only through these counts: ``ctr``, ``dctr`` (closed form on per-pair/per-position counts),
``pbm`` (EM on (pair, position) counts, :func:`gbltr.labels.clicks.pbm.em_examination_attractiveness`)
and ``ubm`` (the same EM on (pair, position, previous click) counts; the previous click comes
from a per-session bit mask of clicked positions joined back to the rows, so
``max_positions`` <= :data:`gbltr.labels.clicks.config.UBM_MAX_POSITIONS`). The EM is fed the same arrays in the same order as
in memory, so labels are identical; only the propensity (a mean of examinations, summed in
another order) may differ in the last bits.

``cascade``, ``dbn`` and ``sdbn`` need each session's click sequence: DBN's E-step is a
per-session recursion, and although SDBN's and cascade's attractiveness/satisfaction are counts,
their examination (:func:`gbltr.labels.clicks.dbn.mean_examination`, which sets the propensities)
and log-likelihood are products over each session's earlier documents. Streaming them would mean
holding (or sorting) every session. They are refused with a :class:`~gbltr.errors.ConfigError`
naming the models that stream (:func:`gbltr.labels.clicks.config.check_streamable`): no silent
approximation.

Memory: the per-session group-bys (the session summary; UBM's click-mask join) hold O(sessions)
hash tables, so beyond :data:`SESSION_ROWS_PER_CHUNK` log rows they run once per chunk of sessions
(a hash of session_id), their per-query / per-cell sums added up (exact: a session lies in one
chunk); the per-cell counts are O(distinct shown pairs x positions). Never O(rows). Aggregates are
plain sums/min/max/bit-ors over columns made before the group-by, and the queries run one at a
time (``benchmarks/bench_streaming.py``).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import polars as pl

from gbltr.data.stream import ENGINE, LazyLog
from gbltr.errors import DataError
from gbltr.labels.clicks.base import FitInfo, FittedClickModel
from gbltr.labels.clicks.config import ClickLabelConfig, check_streamable
from gbltr.labels.clicks.empirical import PriorLearner
from gbltr.labels.clicks.labels import ClickLabels, pair_labels
from gbltr.labels.clicks.pbm import PBM
from gbltr.labels.clicks.ubm import UBM

log = logging.getLogger("gbltr")


def _session_summary(rows: pl.LazyFrame, M: int, has_time: bool) -> pl.LazyFrame:
    """Per query: counts over its sessions (see the module docstring). Row-wise columns are made
    before the group-by, so every aggregate is a plain one the streaming engine runs in batches
    (a ``filter`` inside ``agg`` makes it hold the groups: 2x the peak memory at 10M rows)."""
    inside = pl.col("position") <= M
    low = pl.col("position") <= BIT_POSITIONS
    rows = rows.with_columns(__in=inside, __pos_in=pl.when(inside).then(pl.col("position")),
                             __click_in=pl.col("clicked") & inside,
                             __low=low, __bits=pl.when(low).then(_bit(pl.col("position").clip(upper_bound=BIT_POSITIONS)))
                             .otherwise(0))
    aggs = [
        pl.col("query_id").min().alias("query_id"),
        pl.col("query_id").max().alias("query_max"),
        pl.len().alias("n"),
        pl.col("__low").sum().alias("n_low"),
        pl.col("__bits").bitwise_or().alias("bits"),
        pl.col("__in").sum().alias("n_in"),
        pl.col("__pos_in").max().alias("m"),
        pl.col("__click_in").any().alias("clicked"),
    ]
    if has_time:
        timed = pl.col("__click_in") & pl.col("click_time").is_not_null()
        aggs.append((pl.col("click_time").filter(timed).sort_by(pl.col("position").filter(timed)).diff() < 0)
                    .any().alias("back"))
    per_session = rows.group_by("session_id").agg(aggs)
    kept = pl.col("n_in") > 0
    flags = {  # per session, then summed per query (plain sums stream; expressions in agg may not)
        "sessions": kept,
        "rows": pl.col("n"),
        "beyond": pl.col("n") - pl.col("n_in"),
        "truncated": pl.col("n") > pl.col("n_in"),
        "empty": ~kept,
        "gaps": kept & (pl.col("n_in") < pl.col("m")),
        "no_click": kept & ~pl.col("clicked"),
        "multi_query": pl.col("query_id") != pl.col("query_max"),
        # a position shown twice (positions <= BIT_POSITIONS; deeper ones: _deep_duplicates)
        "duplicated": pl.col("bits").bitwise_count_ones() < pl.col("n_low"),
    }
    if has_time:
        flags["back"] = pl.col("back").fill_null(False)
    return (per_session.select("query_id", **{k: v.cast(pl.Int64) for k, v in flags.items()})
            .group_by("query_id").agg(pl.col(list(flags)).sum()))


SESSION_ROWS_PER_CHUNK = 20_000_000
"""Log rows per chunk of sessions in the per-session group-bys (their hash tables grow with the
sessions: ~+500 MB per 4M sessions measured); a larger log is processed in several passes."""


def session_chunks(log_: LazyLog) -> int:
    """How many chunks of sessions (by a hash of session_id) the per-session group-bys use."""
    rows = pl.scan_parquet(log_.path).select(pl.len()).collect().item()  # from the Parquet metadata
    return max(1, -(-rows // SESSION_ROWS_PER_CHUNK))


def _by_session_chunks(lf: pl.LazyFrame, chunks: int, query, keys: list[str]) -> pl.DataFrame:
    """``query(rows)`` (a group-by whose other columns are sums) over each chunk of sessions in turn,
    summed by ``keys``: every session lies in one chunk, so the result is exact."""
    if chunks == 1:
        return query(lf).collect(engine=ENGINE)
    parts = [query(lf.filter(pl.col("session_id").hash(seed=0) % chunks == k)).collect(engine=ENGINE)
             for k in range(chunks)]
    out = pl.concat(parts)
    return out.group_by(keys).agg(pl.exclude(keys).sum())


def _deep_duplicates(rows: pl.LazyFrame) -> pl.LazyFrame:
    """How many (session, position) keys beyond :data:`BIT_POSITIONS` occur twice (row groups whose
    positions all lie above are skipped by their Parquet statistics)."""
    return (rows.filter(pl.col("position") > BIT_POSITIONS).group_by("session_id", "position").len()
            .filter(pl.col("len") > 1).select(pl.len().alias("n")))


def _counts(rows: pl.LazyFrame, M: int, ubm: bool) -> pl.LazyFrame:
    """Per (query_id, doc_id, position[, prev]): impressions n, clicks c (all positions; ``prev``
    only within 1..M)."""
    keys = ["query_id", "doc_id", "position"]
    if ubm:
        inside = pl.col("position") <= M
        mask = (rows.filter(pl.col("clicked") & inside)
                .group_by("session_id")
                .agg(mask=_bit(pl.col("position")).bitwise_or()))
        above = _bit(pl.col("position").clip(upper_bound=M + 1)) - 1
        bits = pl.col("mask").fill_null(0) & above
        rows = (rows.join(mask, on="session_id", how="left")
                .with_columns(prev=pl.when(inside).then(64 - bits.bitwise_leading_zeros().cast(pl.Int64))
                              .otherwise(0)))
        keys.append("prev")
    return rows.group_by(keys).agg(n=pl.len(), c=pl.col("clicked").sum())


BIT_POSITIONS = 63
"""Positions 1..63 fit one Int64 bit mask per session (clicked positions, shown positions)."""


def _bit(position: pl.Expr) -> pl.Expr:
    """2 ** (position - 1) as Int64 (position <= :data:`BIT_POSITIONS`)."""
    return pl.lit(2, pl.Int64).pow(position.cast(pl.Int64) - 1).cast(pl.Int64)


def _raise_input_errors(lf: pl.LazyFrame, summary: pl.DataFrame, deep: int, where: str) -> None:
    """The errors :func:`~gbltr.labels.clicks.sessions.sessions_from_impressions` raises."""
    if summary["duplicated"].sum() or deep:
        dup = (lf.group_by("session_id", "position").agg(pl.len()).filter(pl.col("len") > 1)
               .sort("session_id", "position").head(1).collect(engine=ENGINE))
        r = dup.row(0, named=True)
        raise DataError(f"{where}: session {r['session_id']!r} shows position {r['position']} more than once; "
                        "expected one document per position")
    if summary["multi_query"].sum():
        two = (lf.group_by("session_id").agg(pl.col("query_id").n_unique().alias("n")).filter(pl.col("n") > 1)
               .sort("session_id").head(1).collect(engine=ENGINE))
        raise DataError(f"{where}: session {two['session_id'][0]!r} shows {two['n'][0]} queries; "
                        "expected one query per session")


def click_labels_scan(log_: LazyLog | None, candidates: pl.DataFrame, query_ids: pl.Series,
                      config: ClickLabelConfig = ClickLabelConfig()) -> ClickLabels:
    """:func:`~gbltr.labels.clicks.labels.click_labels` from a lazily scanned log (module docstring).

    Only impressions of ``query_ids`` are read: the clicks of held-out queries never enter."""
    check_streamable(config)
    if log_ is None:
        raise DataError(
            "click labels need a search log, but the impressions table is empty or absent; "
            "expected rows of session_id, query_id, position, doc_id, clicked"
        )
    where = "training impressions"
    M = config.max_positions
    ubm = config.model == "ubm"
    ids = query_ids.unique()
    lf = log_.scan().filter(pl.col("query_id").is_in(ids.implode()))
    has_time = "click_time" in lf.collect_schema()
    # one query at a time (their hash tables would add up if run together, as in collect_all), and
    # the per-session ones by chunks of sessions (a hash of session_id), so they stay bounded
    chunks = session_chunks(log_)
    summary = _by_session_chunks(lf, chunks, lambda part: _session_summary(part, M, has_time), ["query_id"])
    if ubm:
        counts = _by_session_chunks(lf, chunks, lambda part: _counts(part, M, ubm),
                                    ["query_id", "doc_id", "position", "prev"])
    else:
        counts = _counts(lf, M, ubm).collect(engine=ENGINE)
    deep = _deep_duplicates(lf).collect(engine=ENGINE)
    if summary.height == 0:
        raise DataError("no impressions of the training queries; expected some sessions to fit a click model on")
    cand = candidates.join(pl.DataFrame({"query_id": ids}), on="query_id", how="semi").select("query_id", "doc_id")
    stray = counts.select("query_id", "doc_id").unique().join(cand, on=["query_id", "doc_id"], how="anti")
    if stray.height:
        stray = stray.sort("query_id", "doc_id")
        raise DataError(
            f"{stray.height} (query_id, doc_id) pair(s) were shown in the log but are not candidates "
            f"of their query, e.g. {stray.row(0)}; expected every shown document among the candidates"
        )
    _raise_input_errors(lf, summary, int(deep["n"][0]), where)
    issues = _issues(summary, has_time, where, M)
    counts = counts.filter(pl.col("position") <= M)
    if counts.height == 0:
        raise DataError(f"{where}: no session shows a document at positions 1..{M}")
    fitted, exam = _fit(config, counts, issues["sessions"])
    pos = (counts.group_by("query_id", "doc_id", "position").agg(pl.col("n").sum())
           .join(fitted.pairs.select("query_id", "doc_id", "__p"), on=["query_id", "doc_id"]))
    n_pairs, P = fitted.pairs.height, fitted.n_positions
    p = pos["__p"].to_numpy().astype(np.int64)
    r = pos["position"].to_numpy().astype(np.int64) - 1
    n = pos["n"].to_numpy().astype(np.int64)
    per_pos = np.zeros((n_pairs, P), np.int64)
    per_pos[p, r] = n
    imp = per_pos.sum(axis=1)
    prop = (per_pos * np.nan_to_num(exam[:P], nan=1.0)[None, :]).sum(axis=1) / np.maximum(imp, 1)
    mode = per_pos.argmax(axis=1) + 1
    fitted.pairs = fitted.pairs.drop("__p")
    pair_pos = fitted.pairs.select("query_id", "doc_id").with_columns(
        position=pl.Series(mode.astype(np.int32)), propensity=pl.Series(prop))
    frame, cuts = pair_labels(fitted, pair_pos, cand, config)
    return ClickLabels(frame, exam, config, fitted, issues, cuts)


def _issues(summary: pl.DataFrame, has_time: bool, where: str, M: int) -> dict:
    s = {c: int(summary[c].sum()) for c in summary.columns if c != "query_id"}
    issues: dict = {"rows_read": s["rows"], "rows_beyond_max_positions": s["beyond"],
                    "sessions_truncated": s["truncated"], "empty_sessions": s["empty"]}
    if s["sessions"] == 0:
        raise DataError(f"{where}: no session shows a document at positions 1..{M}")
    if s["beyond"]:
        log.warning("%s: %d row(s) at positions beyond %d dropped (%d sessions truncated, %d left empty)", where,
                    s["beyond"], M, s["truncated"], s["empty"])
    issues["sessions_with_gaps"] = s["gaps"]
    if has_time:
        issues["sessions_clicks_out_of_order"] = s["back"]
    issues["sessions"] = s["sessions"]
    issues["queries"] = int((summary["sessions"] > 0).sum())
    issues["queries_with_one_session"] = int((summary["sessions"] == 1).sum())
    issues["sessions_without_click"] = s["no_click"]
    return issues


def _fit(config: ClickLabelConfig, counts: pl.DataFrame, n_sessions: int) -> tuple[FittedClickModel, np.ndarray]:
    """The click model fitted on the counts; its pair table carries the pair index ``__p``."""
    t0 = time.perf_counter()
    prior, em = PriorLearner(config.priors.priors(), config.priors.learn, ("attractiveness",)), config.em
    P = int(counts["position"].max())
    pairs = counts.select("query_id", "doc_id").unique().sort("query_id", "doc_id").with_row_index("__p")
    rows = counts.join(pairs, on=["query_id", "doc_id"])
    n_pairs = pairs.height
    p = rows["__p"].to_numpy().astype(np.int64)
    r = rows["position"].to_numpy().astype(np.int64) - 1
    n = rows["n"].to_numpy().astype(np.int64)
    c = rows["c"].to_numpy().astype(np.int64)
    imp = np.bincount(p, weights=n, minlength=n_pairs).astype(np.int64)
    clk = np.bincount(p, weights=c, minlength=n_pairs).astype(np.int64)
    name = config.model
    if name in ("pbm", "ubm"):
        # the models' own count-to-parameter fits: the same arrays in the same order as in memory
        if name == "pbm":
            fit = PBM.fit_counts(p, r, n, c, n_pairs, P, prior, em, n_sessions)
        else:
            prev = rows["prev"].to_numpy().astype(np.int64)
            fit = UBM.fit_counts(p, r, prev, n, c, n_pairs, P, prior, em, n_sessions)
        attractiveness, relevance, params, info = fit
    else:
        if prior.active:  # as CTR/DCTR in memory (gbltr.labels.clicks.ctr): fitted once on these counts
            prior.refit({"attractiveness": (clk, imp)})
        ctr = prior.priors.attractiveness.update(clk, imp)
        if name == "ctr":
            shown = np.bincount(r, weights=n, minlength=P)
            clicks = np.bincount(r, weights=c, minlength=P)
            rho = prior.priors.examination.update(clicks, shown)
            ll = _binary_ll(rho[r], n, c)
            params = {"examination": rho / rho[0], "click_rate": rho}
        else:
            ll = _binary_ll(ctr[p], n, c)
            params = {"examination": np.ones(P)}
        relevance = attractiveness = ctr
        info = FitInfo(1, True, ll / max(n_sessions, 1))
    frame = pairs.with_columns(pl.Series("attractiveness", np.asarray(attractiveness, float)),
                               pl.Series("relevance", np.asarray(relevance, float)),
                               pl.Series("impressions", imp), pl.Series("clicks", clk))
    fitted = FittedClickModel(name, frame, params, prior.choice(), info, P)
    fitted.info.seconds = round(time.perf_counter() - t0, 4)
    fitted.info.sessions = n_sessions
    return fitted, fitted.examination()


def _binary_ll(p: np.ndarray, n: np.ndarray, c: np.ndarray) -> float:
    """:func:`~gbltr.labels.clicks.base.click_log_likelihood` from counts: c clicks of n at p."""
    p = np.clip(p, 1e-300, 1 - 1e-16)
    return float((c * np.log(p) + (n - c) * np.log1p(-p)).sum())
