"""The data pipeline: dataset -> query statistics -> splits -> features -> labels -> ranking datasets.

:func:`prepare` does everything up to the ranking datasets once, so that ``fit``, experiments
and ablations train many models on the same prepared data.

Evaluation protocols (``protocol``):

``held_out`` (default)
    Validation and test queries contribute no training labels: click and LLM labels come from
    training queries only.
``log_covered``
    As in a production log: every query, test queries included, has click and LLM training
    labels. Human labels are still used only for validation (early stopping) and test.

Query frequency (the ``query`` feature group and the buckets) is the query's session count in
the whole log. It is a popularity counter observable at serving time; the clicks of held-out
queries are never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.config import LABEL_SOURCES_OF, FitConfig
from gbltr.data.frequency import query_stats
from gbltr.data.store import SearchDataset, read_dataset
from gbltr.errors import DataError
from gbltr.labels.clicks import ClickLabels, click_labels, zero_click_report
from gbltr.train.dataset import RankingDataset
from gbltr.validate import check_prepared, check_split_column, label_rows, report, summarise

log = logging.getLogger("gbltr")



def cache_dir() -> Path:
    return Path(os.environ.get("GBLTR_CACHE", Path.home() / ".cache" / "gbltr"))


def builtin_world(params) -> Path:
    """The built-in simulated world for ``params``, generated on first use and cached."""
    from gbltr.data.simulate import write_world

    key = hashlib.sha1(json.dumps(params.to_json(), sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir() / "worlds" / f"world-{key}"
    if not (folder / "dataset.json").exists():
        log.info("simulating the built-in world into %s", folder)
        # A unique temporary folder and an atomic rename: two first-use runs may race; the first
        # rename wins and the other run uses its (identical, seeded) world.
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            write_world(params, tmp)
            try:
                tmp.rename(folder)
            except OSError:
                if not (folder / "dataset.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_llm_labels(path: str | Path) -> pl.DataFrame:
    """An LLM label set: the Parquet written by ``gbltr annotate`` (null labels dropped and
    logged, :func:`gbltr.labels.llm.load_llm_labels`) or a TREC qrels file."""
    from gbltr.data.qrels import read_qrels
    from gbltr.labels.llm import load_llm_labels as load_parquet

    p = Path(path)
    if p.suffix == ".parquet":
        return load_parquet(p)
    if not p.exists():
        raise DataError(f"LLM labels file {str(p)!r} not found; expected Parquet from 'gbltr annotate' or TREC qrels")
    return read_qrels(p, source="llm")


@dataclass
class Prepared:
    """Everything one configuration's models train and evaluate on."""

    config: FitConfig
    dataset_path: str
    stats: pl.DataFrame
    feature_names: tuple[str, ...]
    feature_groups: dict[str, tuple[str, ...]]
    train: RankingDataset
    valid: RankingDataset
    test: RankingDataset
    info: dict = field(default_factory=dict)
    click: ClickLabels | None = None


def _splits(ds: SearchDataset, stats: pl.DataFrame, seed: int) -> pl.DataFrame:
    """query_id, split. Uses the queries' split column, else a seeded 70/15/15 split per bucket."""
    if check_split_column(ds.queries):
        return ds.queries.select("query_id", "split")
    log.warning("queries have no 'split' column: drawing a seeded 70/15/15 split per bucket")
    rng = np.random.default_rng(seed)
    parts = []
    for bucket in stats.partition_by("bucket"):
        ids = bucket["query_id"].sort().to_numpy()
        ids = ids[rng.permutation(ids.size)]
        n_test = int(round(0.15 * ids.size))
        n_valid = int(round(0.15 * ids.size))
        split = np.array(["test"] * n_test + ["valid"] * n_valid + ["train"] * (ids.size - n_test - n_valid))
        parts.append(pl.DataFrame({"query_id": ids, "split": split}))
    return pl.concat(parts)


def _llm_labels(ds: SearchDataset, cfg: FitConfig) -> tuple[pl.DataFrame, int]:
    """The LLM label set to train on (non-null rows) and the number of null labels dropped."""
    if cfg.llm_labels:
        if Path(cfg.llm_labels).suffix == ".parquet":
            from gbltr.labels.llm import load_llm_labels as load_parquet

            return load_parquet(cfg.llm_labels, return_dropped=True)
        return load_llm_labels(cfg.llm_labels), 0
    if "llm" not in ds.labels:
        raise DataError(
            f"--labels {cfg.labels} needs LLM labels: the dataset has no 'llm' label set "
            f"(found {sorted(ds.labels) or 'none'}); pass --llm-labels FILE (Parquet or qrels) "
            "or run 'gbltr annotate'"
        )
    llm = ds.labels["llm"]
    return llm.filter(pl.col("label").is_not_null()), llm["label"].null_count()


def prepare(cfg: FitConfig) -> Prepared:
    """Load data, compute features and labels, and build the train/valid/test ranking datasets."""
    from gbltr.features.build import build_features

    t0 = time.perf_counter()
    path = cfg.data or str(builtin_world(cfg.world))
    ds = read_dataset(path)
    spec = cfg.buckets.spec()
    stats = query_stats(ds.impressions, ds.queries["query_id"], spec)
    split_given = check_split_column(ds.queries)
    splits = _splits(ds, stats, cfg.seed)
    ids = {s: splits.filter(pl.col("split") == s)["query_id"] for s in ("train", "valid", "test")}
    for s in ("valid", "test"):
        if ids[s].len() == 0:
            raise DataError(f"no {s} queries; expected some queries with split={s!r} and human labels")
    if "human" not in ds.labels:
        raise DataError(
            f"model selection and evaluation need human labels on valid/test queries; dataset "
            f"{path} has label sets {sorted(ds.labels) or 'none'}"
        )
    train_ids = ids["train"] if cfg.protocol == "held_out" else ds.queries["query_id"]
    feats = build_features(
        ds.queries, ds.documents, ds.candidates.select("query_id", "doc_id"),
        stats.select("query_id", "frequency"), params=_feature_params(cfg),
    )
    if cfg.features.drop_groups:
        feats = feats.select_groups(drop=cfg.features.drop_groups)
    names = feats.features
    labels: dict[str, pl.DataFrame] = {}
    info: dict = {"dataset": path, "protocol": cfg.protocol}
    sources = LABEL_SOURCES_OF[cfg.labels]
    cl: ClickLabels | None = None
    row_columns = order_by = None
    label_counts: dict[str, int] = {}
    if "click" in sources:
        cl = click_labels(ds.impressions, ds.candidates, train_ids, cfg.click)
        labels["click"] = cl.frame.select("query_id", "doc_id", "label", "source")
        info.update(_click_info(cl))
        info["no_gradient_click_queries"] = zero_click_report(cl.frame, stats)
        row_columns = cl.frame.select("query_id", "doc_id", "position", "ips_weight")
        order_by = "position" if cfg.click.debias else None
        fate = "dropped" if cfg.click.unshown == "drop" else "labelled_0"
        label_counts[f"click_candidates_never_shown_{fate}"] = int((cl.frame["impressions"] == 0).sum())
    elif cfg.click.debias or cfg.click.ips_weights:
        raise DataError(f"click debiasing (debias / ips_weights) needs click labels; --labels {cfg.labels} has none")
    llm_rows, llm_nulls = None, 0
    if "llm" in sources:
        llm_all, llm_nulls = _llm_labels(ds, cfg)
        llm_rows = label_rows(llm_all, ds.queries, train_ids, "llm")
        labels["llm"] = llm_all.join(pl.DataFrame({"query_id": train_ids}), on="query_id", how="semi")
    frame = feats.frame
    train = RankingDataset.build(frame, names, ds.candidates, train_ids, labels, stats, where="training queries",
                                 row_columns=row_columns, order_by=order_by)
    human = {"human": ds.labels["human"]}
    valid = RankingDataset.build(frame, names, ds.candidates, ids["valid"], human, stats,
                                 require_labels="human", where="validation queries")
    test = RankingDataset.build(frame, names, ds.candidates, ids["test"], human, stats,
                                require_labels="human", where="test queries")
    info["n_train_queries"] = _per_bucket(train)
    info["n_labelled_train_queries"] = {src: _per_bucket(train.labelled_by(src)) for src in labels}
    info["n_valid_queries"] = _per_bucket(valid)
    info["n_test_queries"] = _per_bucket(test)
    info["train_rows"] = train.n_rows
    info["notes"] = {"train": train.notes, "valid": valid.notes, "test": test.notes}
    dropped = check_prepared(cfg, train, valid, test, sources, split_given=split_given,
                             llm_rows=llm_rows, llm_nulls=llm_nulls)
    info["dropped"] = {**label_counts, **dropped}
    report(summarise(cfg, path, train, valid, test, sources, dropped), info["dropped"])
    info["prepare_seconds"] = round(time.perf_counter() - t0, 2)
    groups = {g: feats.features_in(g) for g in feats.catalogue.selectors}
    return Prepared(cfg, path, stats, names, groups, train, valid, test, info, cl)


def _click_info(cl: ClickLabels) -> dict:
    """What the run report says about the click model behind the click labels."""
    fitted = cl.model
    return {
        "click_model": fitted.name,
        "propensities": [round(float(x), 4) for x in cl.propensities],
        "click_fit": {"iterations": fitted.info.iterations, "converged": fitted.info.converged,
                      "log_likelihood": round(fitted.info.log_likelihood, 6), "seconds": fitted.info.seconds},
        "click_grading": {"grading": cl.config.grading, "cuts": [round(float(c), 6) for c in cl.cuts],
                          "debias": cl.config.debias, "ips_weights": cl.config.ips_weights},
        "click_sessions": cl.sessions,
    }


def _feature_params(cfg: FitConfig):
    from gbltr.features.text import TextParams

    f = cfg.features
    return TextParams(k1=f.bm25_k1, b=f.bm25_b, mu=f.lm_mu, jm_lambda=f.lm_lambda)


def _per_bucket(ds: RankingDataset) -> dict[str, int]:
    if ds.bucket is None:
        return {"all": ds.n_queries}
    b, c = np.unique(ds.bucket, return_counts=True)
    return {str(k): int(v) for k, v in zip(b, c)}
