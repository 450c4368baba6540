"""The validation pass: checks made before any model is trained, and the summary of what will be.

:func:`check_split_column` refuses a ``split`` column with some nulls (the old behaviour, a
redraw of the whole split, silently changed the test set). :func:`check_prepared` runs at the
end of :func:`gbltr.pipeline.prepare`, before training: it refuses label sets that leave a
source with no usable training query, valid/test splits that lose queries, validation or test
labels with which no query can rank (no relevant document, or one grade only), and settings that cannot
fit the data; it collects every
count of rows or queries left out into ``Prepared.dropped`` (:class:`gbltr.prepared.Dropped`, which run reports carry) and logs
them on stderr with a one-paragraph summary of what will be trained on. :func:`check_metric`
lets commands that train many models refuse a metric name before the first one.

Documented handling (not refusals):

- labels of queries that are not training queries (valid/test under ``held_out``) are not used;
  counted as ``<source>_label_rows_on_held_out_queries``;
- training queries without candidates, and candidates without a label of a source, are left
  out; counted;
- with a *drawn* split (no ``split`` column) valid/test queries without human labels are left
  out; counted. With a given split they are refused;
- valid/test documents without a human label leave evaluation (``unjudged_rows_removed``).
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from gbltr.errors import ConfigError, DataError
from gbltr.words import counted

log = logging.getLogger("gbltr")


def check_metric(metric: str, ks) -> str:
    """Return ``metric`` if it is one of the per-query columns ``ndcg@k`` for ``k`` in ``ks``."""
    from gbltr.evaluate.metrics import check_metric as check_column, metric_names

    return check_column(metric, metric_names(ks), where="the cut-offs come from eval.ks")


def check_split_column(queries: pl.DataFrame) -> bool:
    """True when ``queries`` has a usable ``split`` column, False when there is none (or it is all
    null: no split given). Raises :class:`DataError` when only some values are null."""
    if "split" not in queries.columns:
        return False
    nulls = queries.filter(pl.col("split").is_null())
    if nulls.height == queries.height:
        log.warning("queries: the 'split' column is empty (all null): treating it as absent")
        return False
    if nulls.height:
        ids = nulls["query_id"].head(5).to_list()
        raise DataError(
            f"queries table: {nulls.height} of {queries.height} queries have no split (null), e.g. "
            f"query_id {ids}; expected train/valid/test on every query, or no 'split' column at all "
            "(then gbltr draws a seeded 70/15/15 split). Fill those values, or drop the column"
        )
    return True


def _distinct_grades(ds, source: str) -> np.ndarray:
    """Per query of ``ds`` ([n_queries] bool): has at least two different non-missing ``source`` labels."""
    y = ds.labels[source]
    q = ds.row_query()
    ok = ~np.isnan(y)
    if not ok.any():
        return np.zeros(ds.n_queries, bool)
    lo = np.full(ds.n_queries, np.inf)
    hi = np.full(ds.n_queries, -np.inf)
    np.minimum.at(lo, q[ok], y[ok])
    np.maximum.at(hi, q[ok], y[ok])
    return hi > lo


def check_rankable(ds, name: str) -> dict[str, int]:
    """Count the ``name`` (valid/test) queries that cannot rank, by reason (:func:`gbltr.evaluate.metrics.query_status`,
    the one definition evaluation uses), and refuse when none is left: every mean would be undefined (test) and
    early stopping would have no signal (valid)."""
    from gbltr.evaluate.metrics import NO_RELEVANT, SCORED, SINGLE_GRADE, query_status

    status = query_status(ds.labels["human"], ds.group_ptr)
    counts = {f"{name}_queries_without_relevant_document": int((status == NO_RELEVANT).sum()),
              f"{name}_queries_with_one_grade": int((status == SINGLE_GRADE).sum())}
    if not (status == SCORED).any():
        no_rel, single = counts.values()
        use = "early stopping has no signal (it would stop at iteration 1)" if name == "valid" \
            else "nDCG is undefined for every test query"
        if single == 0:
            raise DataError(
                f"{name} queries: none of the {ds.n_queries} has a relevant document (every human label "
                f"is <= 0); {use}. Expected graded human labels with some label > 0"
            )
        y = ds.labels["human"]
        found = np.unique(y[~np.isnan(y)]).tolist()[:5]
        raise DataError(
            f"{name} queries: none of the {ds.n_queries} can rank: {single} have one grade only (all their documents "
            f"judged alike; human labels found: {found}) and {no_rel} no relevant document; every ordering of such a "
            f"query scores the same, so {use}. Expected human labels with two different grades, one > 0, in each "
            f"{name} query. Check the human labels"
        )
    return counts


def check_trainable(ds, source: str, where: str = "training queries") -> int:
    """Raise unless some query of ``ds`` has two different ``source`` grades; return how many do not.

    A ranking objective learns only from pairs of different grades: a label set that is all 0 (or
    all equal per query) would train a constant model and exit 0.
    """
    graded = _distinct_grades(ds, source)
    if not graded.any():
        y = ds.labels[source]
        found = np.unique(y[~np.isnan(y)]).tolist()[:5]
        raise DataError(
            f"{source} labels of the {where}: none of the {ds.n_queries} queries has two different grades "
            f"(found only {found}); a ranking objective learns nothing from them. Check the labels (all zero?)"
        )
    return int((~graded).sum())


def label_rows(frame: pl.DataFrame, queries: pl.DataFrame, train_ids: pl.Series, source: str) -> dict[str, int]:
    """Where the rows of a training label set go: used (training queries), on held-out queries,
    on queries unknown to the dataset."""
    known = frame.join(queries.select("query_id"), on="query_id", how="semi")
    used = known.join(pl.DataFrame({"query_id": train_ids}), on="query_id", how="semi")
    return {
        f"{source}_label_rows": frame.height,
        f"{source}_label_rows_used": used.height,
        f"{source}_label_rows_on_held_out_queries": known.height - used.height,
        f"{source}_label_rows_on_unknown_queries": frame.height - known.height,
    }


def check_prepared(cfg, train, valid, test, sources, *, split_given: bool, llm_rows: dict | None = None,
                   llm_nulls: int = 0) -> dict[str, int]:
    """Refuse data that would train or evaluate on nothing; return the counts of what is left out.

    ``train``/``valid``/``test``: the ranking datasets; ``sources``: the training label sources;
    ``llm_rows``: :func:`label_rows` of the LLM label set; ``llm_nulls``: its null labels dropped.
    """
    dropped: dict[str, int] = {}
    if llm_rows is not None:
        dropped.update(llm_rows)
        dropped["llm_label_rows_null"] = int(llm_nulls)
    for source in sources:
        part = train.labelled_by(source)
        n_lab = part.n_queries
        dropped[f"train_queries_without_{source}_labels"] = train.n_queries - n_lab
        dropped[f"train_rows_without_{source}_label"] = int(np.isnan(train.labels[source]).sum())
        if n_lab == 0:
            hint = ""
            if source == "llm" and llm_rows is not None:
                hint = (
                    f" The LLM label set has {llm_rows['llm_label_rows']} non-null row(s): "
                    f"{llm_rows['llm_label_rows_on_unknown_queries']} on queries this dataset does not have, "
                    f"{llm_rows['llm_label_rows_on_held_out_queries']} on validation/test queries, and "
                    f"{llm_nulls} null label(s) were dropped."
                    " Are they for this dataset (check the query ids) and for its training queries?"
                )
            raise DataError(
                f"--labels {cfg.labels}: none of the {train.n_queries} training queries has a {source} label; "
                f"expected {source} labels on training queries.{hint}"
            )
        dropped[f"train_queries_with_equal_{source}_labels"] = check_trainable(part, source)
    dropped["train_queries_without_candidates"] = train.notes.get("queries_without_rows", 0)
    for name, ds in (("valid", valid), ("test", test)):
        lost = ds.notes.get("queries_without_rows", 0)
        dropped[f"{name}_queries_without_human_labels"] = lost
        if lost and split_given:
            examples = ds.notes.get("queries_without_rows_examples", [])
            raise DataError(
                f"{lost} of the {ds.notes.get('queries_requested', lost + ds.n_queries)} {name} queries have no "
                f"human-labelled candidate, e.g. query_id {examples}; expected every {name} query judged. "
                "Check that the human label ids match the queries and documents exactly (stray spaces, "
                f"typos), or set those queries' split to 'train'"
            )
        dropped[f"{name}_unjudged_rows_removed"] = ds.notes.get("unjudged_rows_removed", 0)
        dropped.update(check_rankable(ds, name))
    min_leaf = cfg.train.min_data_in_leaf
    if min_leaf > train.n_rows:
        raise ConfigError(
            f"train.min_data_in_leaf={min_leaf} is above the {train.n_rows} training rows: no tree "
            "could split; expected a value well below the number of rows"
        )
    return dropped


def summarise(cfg, path: str, train, valid, test, sources, dropped: dict[str, int]) -> str:
    """A short summary of what will be trained on; logged on stderr by :func:`report`."""
    lab = ", ".join(
        f"{s} labels on {counted(train.labelled_by(s).n_queries, 'query')}" for s in sources
    )
    return (
        f"data {path}: training on {counted(train.n_queries, 'query')} ({counted(train.n_rows, 'row')}; {lab}) "
        f"with --labels {cfg.labels}, {cfg.train.backend}, protocol {cfg.protocol}; validating on "
        f"{counted(valid.n_queries, 'query')}, testing on {counted(test.n_queries, 'query')}"
    )


def report(summary: str, dropped: dict[str, int]) -> None:
    """Log the summary (INFO) and every non-zero count of left-out rows/queries (WARNING: stderr)."""
    log.info("%s", summary)
    flat = {k: v for k, v in dropped.items() if v and "_with_equal_" in k}
    shown = {k: v for k, v in dropped.items()
             if v and k not in flat and not k.endswith(("_label_rows", "_label_rows_used"))}
    if shown:
        log.warning("left out or defaulted: %s", ", ".join(f"{k}={v}" for k, v in sorted(shown.items())))
    if flat:
        log.info("no ranking signal (all labels of the query equal): %s",
                 ", ".join(f"{k}={v}" for k, v in sorted(flat.items())))
