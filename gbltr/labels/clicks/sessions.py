"""A search log as session arrays: the one input every click model takes.

:class:`SessionLog` holds ``S`` sessions (SERPs) of at most ``P`` positions as dense matrices:

``P`` is the deepest position the log shows, at most ``max_positions``.

- ``doc`` [S, P] int64: the (query, doc) pair shown at position ``r + 1``, an index into
  ``pairs``; -1 where the position holds nothing (a gap, or a SERP shorter than ``P``);
- ``click`` [S, P] bool: clicked (always False where ``doc == -1``);
- ``query`` [S] int64: index into ``query_ids``;
- ``pairs``: frame(query_id, doc_id) in pair-index order; ``query_ids`` [Q] str;
- ``session_ids`` [S] str; ``issues``: the counts of what :func:`sessions_from_impressions`
  skipped or noticed, and why (nothing is dropped without a count here).

Bad input (issue 8) and what happens to it:

- a row without ``doc_id`` or ``position`` (a click on a document not shown, or a broken row):
  :class:`~gbltr.errors.DataError` naming the session;
- a position below 1, or a (session, position) twice: DataError naming the session;
- a session that shows two queries: DataError;
- positions beyond ``max_positions`` (a session longer than the model's position count): the
  rows are dropped and counted (``rows_beyond_max_positions``, ``sessions_truncated``);
- sessions left with no shown document: dropped and counted (``empty_sessions``);
- gaps (position 3 missing while 4 is shown): kept as empty slots, counted (``sessions_with_gaps``);
- click timestamps (``click_time``) that decrease down the page: kept (the models read clicks
  top to bottom), counted (``sessions_clicks_out_of_order``);
- queries with one SERP: kept (their pairs lean on the prior), counted (``queries_with_one_session``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from gbltr.errors import DataError

log = logging.getLogger("gbltr")

DEFAULT_MAX_POSITIONS = 10


@dataclass(frozen=True)
class SessionLog:
    """Sessions x positions matrices of a click log (see the module docstring)."""

    doc: np.ndarray
    click: np.ndarray
    query: np.ndarray
    pairs: pl.DataFrame
    query_ids: np.ndarray
    session_ids: np.ndarray
    issues: dict = field(default_factory=dict)

    @property
    def n_sessions(self) -> int:
        return int(self.doc.shape[0])

    @property
    def n_positions(self) -> int:
        return int(self.doc.shape[1])

    @property
    def shown(self) -> np.ndarray:
        """[S, P] bool: a document is shown at this position."""
        return self.doc >= 0

    def subset(self, mask: np.ndarray) -> "SessionLog":
        """The sessions where ``mask`` ([S] bool) is true; pairs and queries are kept as they are."""
        mask = np.asarray(mask, bool)
        return SessionLog(self.doc[mask], self.click[mask], self.query[mask], self.pairs, self.query_ids,
                          self.session_ids[mask], dict(self.issues))

    @classmethod
    def from_arrays(cls, doc, click, query=None, *, pairs: pl.DataFrame | None = None) -> "SessionLog":
        """Sessions from ready matrices (simulation, benchmarks). ``doc`` [S, P] pair indices (-1 =
        nothing shown), ``click`` [S, P]. Without ``pairs``, pair ``i`` is (query of its first
        session, ``str(i)``)."""
        doc = np.ascontiguousarray(doc, dtype=np.int64)
        click = np.ascontiguousarray(click, dtype=bool) & (doc >= 0)
        if doc.ndim != 2 or doc.shape != click.shape:
            raise DataError(f"expected doc and click matrices of one shape [S, P]; found {doc.shape}, {click.shape}")
        n_pairs = int(doc.max()) + 1 if doc.size else 0
        query = np.zeros(doc.shape[0], np.int64) if query is None else np.asarray(query, np.int64)
        if pairs is None:
            pair_query = np.zeros(n_pairs, np.int64)
            s, r = np.nonzero(doc >= 0)
            pair_query[doc[s, r]] = query[s]
            pairs = pl.DataFrame({"query_id": pair_query.astype(str), "doc_id": np.arange(n_pairs).astype(str)})
        n_q = int(query.max()) + 1 if query.size else 0
        return cls(doc, click, query, pairs, np.arange(n_q).astype(str), np.arange(doc.shape[0]).astype(str), {})

    def to_impressions(self) -> pl.DataFrame:
        """The sessions as impressions rows (session_id, query_id, position, doc_id, clicked)."""
        s, r = np.nonzero(self.shown)
        pq = self.pairs["query_id"].to_numpy()
        pd = self.pairs["doc_id"].to_numpy()
        d = self.doc[s, r]
        return pl.DataFrame({
            "session_id": self.session_ids[s], "query_id": pq[d], "position": (r + 1).astype(np.int32),
            "doc_id": pd[d], "clicked": self.click[s, r],
        })


def sessions_from_impressions(impressions: pl.DataFrame, *, max_positions: int = DEFAULT_MAX_POSITIONS,
                              where: str = "impressions") -> SessionLog:
    """Session matrices from impressions rows (session_id, query_id, position, doc_id, clicked;
    optional click_time). Checks and counts as in the module docstring."""
    need = ["session_id", "query_id", "position", "doc_id", "clicked"]
    missing = [c for c in need if c not in impressions.columns]
    if missing:
        raise DataError(f"{where}: expected columns {need}; missing {missing} (found {impressions.columns})")
    cols = need + (["click_time"] if "click_time" in impressions.columns else [])
    df = impressions.select(cols)
    issues: dict = {"rows_read": df.height}
    bad = df.filter(pl.any_horizontal(pl.col("session_id", "query_id", "position", "doc_id", "clicked").is_null()))
    if bad.height:
        r = bad.row(0, named=True)
        what = "a click on a document not shown" if r["clicked"] else "a row without session, query, position or document"
        raise DataError(
            f"{where}: {bad.height} row(s) lack session_id, query_id, position or doc_id, e.g. session "
            f"{r['session_id']!r} position {r['position']!r} doc {r['doc_id']!r} ({what}); expected every "
            "row to name the shown document and its position"
        )
    low = df.filter(pl.col("position") < 1)
    if low.height:
        r = low.row(0, named=True)
        raise DataError(f"{where}: session {r['session_id']!r} has position {r['position']}; expected positions 1..{max_positions}")
    dup = df.filter(pl.struct("session_id", "position").is_duplicated())
    if dup.height:
        r = dup.row(0, named=True)
        raise DataError(f"{where}: session {r['session_id']!r} shows position {r['position']} more than once; "
                        "expected one document per position")
    two = df.group_by("session_id").agg(pl.col("query_id").n_unique().alias("n")).filter(pl.col("n") > 1)
    if two.height:
        raise DataError(f"{where}: session {two['session_id'][0]!r} shows {two['n'][0]} queries; expected one query per session")
    beyond = df.filter(pl.col("position") > max_positions)
    issues["rows_beyond_max_positions"] = beyond.height
    issues["sessions_truncated"] = beyond["session_id"].n_unique()
    all_sessions = df["session_id"].n_unique()
    df = df.filter(pl.col("position") <= max_positions)
    issues["empty_sessions"] = all_sessions - df["session_id"].n_unique()
    if df.height == 0:
        raise DataError(f"{where}: no session shows a document at positions 1..{max_positions}")
    if issues["rows_beyond_max_positions"]:
        log.warning("%s: %d row(s) at positions beyond %d dropped (%d sessions truncated, %d left empty)", where,
                    issues["rows_beyond_max_positions"], max_positions, issues["sessions_truncated"], issues["empty_sessions"])
    per = df.group_by("session_id").agg(pl.len().alias("n"), pl.col("position").max().alias("m"))
    issues["sessions_with_gaps"] = per.filter(pl.col("n") < pl.col("m")).height
    if "click_time" in cols:
        ordered = (df.filter(pl.col("clicked") & pl.col("click_time").is_not_null()).sort("session_id", "position")
                   .group_by("session_id").agg((pl.col("click_time").diff() < 0).any().alias("back")))
        issues["sessions_clicks_out_of_order"] = int(ordered["back"].sum())
    # indices: sessions in first-seen order, pairs sorted by (query, doc)
    sessions = df.select("session_id", "query_id").unique("session_id", maintain_order=True).with_row_index("s")
    queries = sessions.select("query_id").unique().sort("query_id").with_row_index("q")
    pairs = df.select("query_id", "doc_id").unique().sort("query_id", "doc_id").with_row_index("p")
    rows = df.join(sessions.select("session_id", "s"), on="session_id").join(pairs, on=["query_id", "doc_id"])
    S = sessions.height
    P = int(df["position"].max())  # matrices as wide as the log's deepest position (<= max_positions)
    doc = np.full((S, P), -1, np.int64)
    click = np.zeros((S, P), bool)
    si = rows["s"].to_numpy().astype(np.int64)
    ri = rows["position"].to_numpy().astype(np.int64) - 1
    doc[si, ri] = rows["p"].to_numpy()
    click[si, ri] = rows["clicked"].to_numpy()
    qidx = sessions.join(queries, on="query_id", how="left").sort("s")["q"].to_numpy().astype(np.int64)
    per_query = np.bincount(qidx, minlength=queries.height)
    issues["sessions"] = S
    issues["queries"] = queries.height
    issues["queries_with_one_session"] = int((per_query == 1).sum())
    issues["sessions_without_click"] = int((~click.any(axis=1)).sum())
    return SessionLog(doc, click, qidx, pairs.drop("p"), queries["query_id"].to_numpy().astype(str),
                      sessions["session_id"].to_numpy().astype(str), issues)
