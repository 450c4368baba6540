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

One path for every dataset: simulated worlds, imported logs and feature-file datasets.

- Features: features built from text (:func:`gbltr.features.build.build_features`) for the
  inputs the dataset has, plus its precomputed ``features.parquet`` columns, grouped by
  ``features.catalogue`` (``--catalogue``; without one they form the group ``precomputed``).
  Built features whose input is missing (no document text, no URL, no log) are left out and
  named in ``Prepared.features.skipped`` (:class:`gbltr.prepared.FeatureRecord`), and the dataset
  manifest's ``missing`` entries travel into ``Prepared.manifest``. Training is refused when no feature is left, or when every feature is
  constant within every query (nothing to rank by); the error names the missing inputs.
- Splits (``split``): ``source`` uses the queries' split column (a seeded random split, with a
  warning, when the source has none); ``random`` always draws a seeded 70/15/15 split per bucket,
  with validation and test queries drawn among the queries that have human labels.
- ``--labels human`` trains on the human labels of the training queries (negative grades such
  as TREC spam count as 0, fractional averaged grades are rounded; both counted in ``Prepared.human_grades``).
- The search log (:class:`gbltr.data.log.SearchLog`): loaded (:class:`~gbltr.data.log.MemoryLog`) or,
  with ``train.stream`` (on by default with ``--engine dask``), never loaded but scanned lazily for its
  checks, the query frequency and the click model's counts (:class:`~gbltr.data.log.ScannedLog`);
  everything else is as above, and the prepared data are the same (``tests/data/test_stream.py``).
- Buckets: fixed thresholds or ``[buckets] quantiles`` of the log's query frequencies
  (:func:`gbltr.buckets.resolve_spec`); the thresholds used are ``Prepared.buckets``, the one spec
  that FAMOL's weights, the weight plot and the reports read.

What :func:`prepare` returns is :class:`gbltr.prepared.Prepared`: typed records, no dict.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr import inputs
from gbltr.buckets import BucketSpec, bucket_counts, resolve_spec
from gbltr.config import LABEL_SOURCES_OF, FitConfig
from gbltr.data.simulate import write_world
from gbltr.data.log import SearchLog, open_dataset
from gbltr.data.store import SearchDataset
from gbltr.errors import DataError, unknown_choice
from gbltr.features.build import build_features
from gbltr.features.catalogue import check_catalogue_columns, read_user_catalogue
from gbltr.features.text import TextParams
from gbltr.labels.clicks import ClickLabels, zero_click_report
from gbltr.labels.llm.labelset import load_llm_labels
from gbltr.labels.human import HumanGrades, integer_grades
from gbltr.prepared import ClickSummary, Dropped, FeatureRecord, LabelCoverage, LogSummary, Prepared, Split
from gbltr.train.dataset import RankingDataset
from gbltr.schema import SPLITS
from gbltr.validate import check_prepared, check_split_column, label_rows, report, summarise

log = logging.getLogger("gbltr")



def cache_dir() -> Path:
    return Path(os.environ.get("GBLTR_CACHE", Path.home() / ".cache" / "gbltr"))


def builtin_world(params) -> Path:
    """The built-in simulated world for ``params``, generated on first use and cached."""
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


def draw_split(ds: SearchDataset, stats: pl.DataFrame, seed: int, mode: str = "source") -> Split:
    """The query split (:class:`gbltr.prepared.Split`): the queries' split column (``source``) or a
    seeded 70/15/15 split per bucket (``random``, or ``source`` without a split column).
    Valid/test queries are drawn among the queries with human labels; the others train."""
    if mode == "source":
        if _source_split(ds):
            return Split(mode, True, ds.queries.select("query_id", "split"))
        why = ds.missing.get("split", "the queries have no 'split' column")
        log.warning("--split source: %s; drawing a seeded 70/15/15 split of the queries per bucket (--split random)", why)
    rng = np.random.default_rng(seed)
    parts = []
    eligible = stats
    if "human" in ds.labels:
        judged = ds.labels["human"].select("query_id").unique()
        eligible = stats.join(judged, on="query_id", how="semi")
        rest = stats.join(judged, on="query_id", how="anti")
        if rest.height:
            parts.append(pl.DataFrame({"query_id": rest["query_id"], "split": ["train"] * rest.height}))
    for bucket in eligible.sort("query_id").partition_by("bucket", maintain_order=True):
        ids = bucket["query_id"].sort().to_numpy()
        ids = ids[rng.permutation(ids.size)]
        n_test = int(round(0.15 * ids.size))
        n_valid = int(round(0.15 * ids.size))
        split = np.array(["test"] * n_test + ["valid"] * n_valid + ["train"] * (ids.size - n_test - n_valid))
        parts.append(pl.DataFrame({"query_id": ids, "split": split}))
    return Split(mode, False, pl.concat(parts))


def _source_split(ds: SearchDataset) -> bool:
    """The queries' own split column is usable (:func:`gbltr.validate.check_split_column`); a
    partial one is an error that also gives the import's reason and the way out."""
    try:
        return check_split_column(ds.queries)
    except DataError as exc:
        why = ds.missing.get("split")
        raise DataError(f"{exc}{'. ' + why if why else ''}; or use --split random (in a config file: "
                        "split = \"random\")") from exc


def _check_split(split: Split) -> None:
    for s in SPLITS:
        if split.ids(s).len() == 0:
            raise DataError(f"no {s} queries (--split {split.mode}); expected some queries with split={s!r}"
                            + (" and human labels" if s != "train" else "")
                            + ("; use --split random to draw a seeded query split" if split.mode == "source" else ""))


def _human_training_labels(ds: SearchDataset) -> tuple[pl.DataFrame, HumanGrades | None]:
    """Human labels as training grades: negative -> 0, fractional -> rounded (counted: :class:`HumanGrades`)."""
    lab = ds.labels["human"].filter(pl.col("label").is_not_null() & pl.col("label").is_not_nan())
    grades, counts = integer_grades(lab["label"].to_numpy())
    if counts:
        log.info("human training labels: %d negative grade(s) -> 0, %d fractional grade(s) rounded",
                 counts.negative_to_0, counts.fractional_rounded)
    return lab.with_columns(pl.Series("label", grades)), (counts if counts else None)


def _llm_labels(ds: SearchDataset, cfg: FitConfig, named: NamedFiles) -> tuple[pl.DataFrame, int]:
    """The LLM label set to train on (non-null rows) and the number of null labels dropped."""
    if cfg.llm_labels:
        return named.llm_labels if named.llm_labels is not None else load_llm_labels(cfg.llm_labels, return_dropped=True)
    if "llm" not in ds.labels:
        raise DataError(
            f"--labels {cfg.labels} needs LLM labels: the dataset has no 'llm' label set "
            f"(found {sorted(ds.labels) or 'none'}); pass --llm-labels FILE (Parquet or qrels), "
            "run 'gbltr annotate' (datasets with text), or simulate them over the human labels with "
            "'gbltr simulate --over DIR --out NEW'"
        )
    llm = ds.labels["llm"]
    return llm.filter(pl.col("label").is_not_null()), llm["label"].null_count()


@dataclass(frozen=True)
class NamedFiles:
    """The files a configuration names, read and checked before any expensive work
    (:func:`read_named_files`): a bad one fails in a second, not after preparation. The commands
    that prepare data (fit, experiment, ablation) reach their :func:`gbltr.checkpoint.checkpoint`
    right after reading these."""

    schedule: tuple | None = None  # the stages of fusion.schedule (gbltr.train.fused.Stage)
    catalogue: object | None = None  # features.catalogue parsed (its columns are checked against the data later)
    llm_labels: tuple[pl.DataFrame, int] | None = None  # (non-null rows, nulls dropped) of --llm-labels
    dataset: SearchDataset | None = None  # --data read and checked (None: the built-in world, simulated on first use)
    log: SearchLog | None = None  # --data's search log (gbltr.data.log): loaded, or scanned lazily (train.stream) with its header checked


def read_schedule(cfg: FitConfig) -> tuple | None:
    """The stages of ``cfg``'s schedule when it trains by one (``--labels fused --fusion schedule``)."""
    if cfg.labels != "fused" or cfg.fusion.method != "schedule":
        return None
    from gbltr.train.fused import load_schedule

    return tuple(load_schedule(cfg.fusion.schedule))


def read_named_files(cfg: FitConfig, sources: tuple[str, ...] | None = None) -> NamedFiles:
    """Read and check every file ``cfg`` names (schedule, catalogue, LLM labels, the ``--data``
    folder's tables) through :mod:`gbltr.inputs`; ``sources`` as for :func:`prepare`. The built-in
    world is not a user file: :func:`prepare` simulates it on first use."""
    sources = sources or LABEL_SOURCES_OF[cfg.labels]
    catalogue = None
    if cfg.features.catalogue:
        catalogue = read_user_catalogue(cfg.features.catalogue)
    llm = None
    if cfg.llm_labels:
        if "llm" in sources:
            llm = load_llm_labels(cfg.llm_labels, return_dropped=True)
        else:  # named but not trained on: checked as a file, not read
            inputs.check_file(cfg.llm_labels, "--llm-labels", "Parquet from 'gbltr annotate' or TREC qrels")
    schedule = read_schedule(cfg)
    ds = search = None
    if cfg.data is not None:
        ds, search = open_dataset(cfg.data, cfg.streams)
    return NamedFiles(schedule, catalogue, llm, ds, search)


def prepare(cfg: FitConfig, sources: tuple[str, ...] | None = None, named: NamedFiles | None = None) -> Prepared:
    """Load data, compute features and labels, and build the train/valid/test ranking datasets.

    ``sources``: the training label sources to prepare; default those of ``cfg.labels``
    (:data:`gbltr.config.LABEL_SOURCES_OF`). Experiments and ablations pass the union of theirs.
    ``named``: the files ``cfg`` names, already read (:func:`read_named_files`, which runs first
    otherwise)."""
    t0 = time.perf_counter()
    named = named or read_named_files(cfg, sources)
    path = cfg.data or str(builtin_world(cfg.world))
    ds, search = (named.dataset, named.log) if named.dataset is not None else open_dataset(path, cfg.streams)
    frequency = search.frequency(ds.queries["query_id"])
    spec = resolve_buckets(cfg, frequency["frequency"])
    stats = frequency.with_columns(spec.expr())
    split = draw_split(ds, stats, cfg.seed, cfg.split)
    _check_split(split)
    if "human" not in ds.labels:
        raise DataError(
            f"model selection and evaluation need human labels on valid/test queries; dataset "
            f"{path} has label sets {sorted(ds.labels) or 'none'}"
        )
    ids = {s: split.ids(s) for s in SPLITS}
    train_ids = ids["train"] if cfg.protocol == "held_out" else ds.queries["query_id"]
    frame, names, groups, catalogue_text, skipped, empty = _features(ds, stats, cfg, named, has_log=search.has_sessions())
    labels: dict[str, pl.DataFrame] = {}
    sources = tuple(sources) if sources is not None else LABEL_SOURCES_OF[cfg.labels]
    cl: ClickLabels | None = None
    click = None
    row_columns = order_by = None
    label_counts: dict[str, int] = {}
    if "click" in sources:
        cl = search.click_labels(ds.candidates, train_ids, cfg.click)
        labels["click"] = cl.frame.select("query_id", "doc_id", "label", "source")
        click = click_summary(cl, stats)
        row_columns = cl.frame.select("query_id", "doc_id", "position", "ips_weight")
        order_by = "position" if cfg.click.debias else None
        fate = "dropped" if cfg.click.unshown == "drop" else "labelled_0"
        label_counts[f"click_candidates_never_shown_{fate}"] = int((cl.frame["impressions"] == 0).sum())
    elif cfg.click.debias or cfg.click.ips_weights:
        raise DataError(f"click debiasing (debias / ips_weights) needs click labels; --labels {cfg.labels} has none")
    llm_rows, llm_nulls = None, 0
    if "llm" in sources:
        llm_all, llm_nulls = _llm_labels(ds, cfg, named)
        llm_rows = label_rows(llm_all, ds.queries, train_ids, "llm")
        labels["llm"] = llm_all.join(pl.DataFrame({"query_id": train_ids}), on="query_id", how="semi")
    human_grades = None
    if "human" in sources:
        human, human_grades = _human_training_labels(ds)
        labels["human"] = human.join(pl.DataFrame({"query_id": ids["train"]}), on="query_id", how="semi")
    train = RankingDataset.build(frame, names, ds.candidates, train_ids, labels, stats, where="training queries",
                                 row_columns=row_columns, order_by=order_by)
    human = {"human": ds.labels["human"]}
    valid = RankingDataset.build(frame, names, ds.candidates, ids["valid"], human, stats,
                                 require_labels="human", where="validation queries")
    test = RankingDataset.build(frame, names, ds.candidates, ids["test"], human, stats,
                                require_labels="human", where="test queries")
    why_missing = set(skipped.values()) | set(ds.missing.values())
    constant = _check_can_rank(train, valid, names, why_missing, exempt=groups.get("query", ()))
    coverage = LabelCoverage(
        train=_per_bucket(train), labelled_train={src: _per_bucket(train.labelled_by(src)) for src in labels},
        valid=_per_bucket(valid), test=_per_bucket(test), all_queries=bucket_counts(stats["bucket"]),
        train_rows=train.n_rows, notes={"train": train.notes, "valid": valid.notes, "test": test.notes})
    found = check_prepared(cfg, train, valid, test, sources, split_given=split.from_source,
                           llm_rows=llm_rows, llm_nulls=llm_nulls)
    dropped = Dropped({**label_counts, **found})
    report(summarise(cfg, path, train, valid, test, sources, found), dropped.to_json())
    manifest = {"missing": dict(ds.missing), "sources": ds.sources, "metadata": ds.metadata}
    train_labels = {src: lab.select("query_id", "doc_id", "label", "source") for src, lab in labels.items()}
    return Prepared(
        cfg, path, stats, names, groups, train, valid, test, buckets=spec, split=split, coverage=coverage,
        features=FeatureRecord(skipped, tuple(empty), tuple(constant)), dropped=dropped,
        log=LogSummary(streamed=search.streamed, queries_in_log=int((frequency["frequency"] > 0).sum()), click=click),
        click=cl, manifest=manifest, catalogue=catalogue_text, train_labels=train_labels, human_grades=human_grades,
        prepare_seconds=round(time.perf_counter() - t0, 2))


def resolve_buckets(cfg: FitConfig, frequency: pl.Series) -> BucketSpec:
    """The bucket thresholds for this log (:func:`gbltr.buckets.resolve_spec`): ``[buckets]``'s
    fixed ones, or its quantiles of the frequencies of the queries seen in the log (of every
    query when none is)."""
    seen = frequency.filter(frequency > 0)
    return resolve_spec(cfg.buckets.spec(), cfg.buckets.quantiles, seen if seen.len() else frequency)


#: Built feature groups/subgroups that need an input the dataset may lack: input -> selectors.
_NEEDS = {
    "text": ("query_document", "doc_length"),
    "query_text": ("query_document", "query_length"),
    "url": ("url",),
    "impressions": ("query_frequency",),
}
_WHY = {
    "text": "no document text, so no text features",
    "query_text": "no query text, so no query-text features",
    "url": "no document URLs, so no URL features",
    "impressions": "no search log, so no query-frequency feature",
}


def _present(ds: SearchDataset, has_log: bool) -> dict[str, bool]:
    """Which inputs the dataset has; ``has_log``: its search log has sessions (:meth:`gbltr.data.log.SearchLog.has_sessions`)."""
    d = ds.documents
    return {
        "text": bool(d.height and d.select(pl.col("title").is_not_null().any() | pl.col("body").is_not_null().any()).item()),
        "query_text": bool(ds.queries["text"].is_not_null().any()),
        "url": bool(d["url"].is_not_null().any()),
        "impressions": has_log,
    }


def _features(ds: SearchDataset, stats: pl.DataFrame, cfg: FitConfig, named: NamedFiles, has_log: bool):
    """(frame, names, groups, catalogue TOML text, skipped, empty groups): built features for the
    inputs present, plus the precomputed columns grouped by the user catalogue; ``skipped``: built
    feature -> why it was left out (:class:`gbltr.prepared.FeatureRecord`)."""
    present = _present(ds, has_log)
    skipped: dict[str, str] = {}
    feats = build_features(
        ds.queries, ds.documents, ds.candidates.select("query_id", "doc_id"),
        stats.select("query_id", "frequency"), params=TextParams.from_config(cfg.features),
    )
    drop: set[str] = set()
    for need, selectors in _NEEDS.items():
        if not present[need]:
            for sel in selectors:
                for n in feats.features_in(sel):
                    if n not in drop:
                        drop.add(n)
                        skipped[n] = _WHY[need]
    groups: dict[str, list[str]] = {}
    for sel in feats.catalogue.selectors:
        groups[sel] = [n for n in feats.features_in(sel) if n not in drop]
    names = [n for n in feats.features if n not in drop]
    frame = feats.frame.select("query_id", "doc_id", *names)
    catalogue_text = None
    if ds.features is not None:
        cols = list(ds.feature_columns)
        clash = [c for c in cols if c in set(feats.features)]
        if clash:
            raise DataError(f"features.parquet columns {clash} have the names of built features; rename them")
        if cfg.features.catalogue:
            cat = check_catalogue_columns(named.catalogue, cfg.features.catalogue, cols)
            catalogue_text = _catalogue_text(cfg.features.catalogue)
            for sel in cat.selectors:
                groups.setdefault(sel, []).extend(f.name for f in cat.features_in(sel))
            loose = [c for c in cols if c not in set(cat.names)]
            if loose:
                log.warning("catalogue %s leaves %d precomputed column(s) ungrouped (%s...): they train, in group "
                            "'uncatalogued'", cfg.features.catalogue, len(loose), loose[:5])
                groups.setdefault("uncatalogued", []).extend(loose)
        else:
            log.warning("no --catalogue: the %d precomputed feature columns form one group 'precomputed' "
                        "(ablation cannot tell them apart)", len(cols))
            groups.setdefault("precomputed", []).extend(cols)
        pre = ds.candidates.select("query_id", "doc_id").join(ds.features, on=["query_id", "doc_id"], how="left")
        without = ds.candidates.select("query_id", "doc_id").join(ds.features, on=["query_id", "doc_id"], how="anti")
        if without.height:
            ex = without.head(3).rows()
            raise DataError(
                f"features.parquet has no row for {without.height} of {pre.height} candidate(s) "
                f"({without['query_id'].n_unique()} query(ies)), e.g. (query_id, doc_id) {ex}; expected one row of "
                "precomputed features per candidate: add those rows (or remove those candidates)"
            )
        frame = frame.join(pre, on=["query_id", "doc_id"], how="left")
        names = names + cols
    elif cfg.features.catalogue:
        raise DataError(f"--catalogue {cfg.features.catalogue} given, but the dataset has no features.parquet "
                        "(precomputed columns) to group")
    if cfg.features.drop_groups:
        for g in cfg.features.drop_groups:
            if g not in groups:
                raise unknown_choice("feature group or subgroup", g, groups)
        gone = {n for g in cfg.features.drop_groups for n in groups[g]}
        names = [n for n in names if n not in gone]
    empty = [g for g in ("document", "query", "query_document") if g in groups and not groups[g]]
    for g in empty:
        reasons = sorted({skipped[n] for n in feats.features_in(g) if n in skipped})
        log.warning("feature group %r is empty: %s", g, "; ".join(reasons) or "no feature")
    if not names:
        raise DataError("no feature to train on: " + "; ".join(sorted(set(skipped.values())) or ["every group dropped"])
                        + ". Import a feature file (gbltr import svmlight) or documents with text")
    kept = {g: tuple(n for n in v if n in set(names)) for g, v in groups.items()}
    return frame.select("query_id", "doc_id", *names), tuple(names), kept, catalogue_text, skipped, empty


def _catalogue_text(path: str) -> str:
    p = Path(path)
    if p.exists():
        return inputs.read_text(p, "feature catalogue", "a TOML file")
    return (importlib.resources.files("gbltr.catalogue") / "catalogues" / f"{path}.toml").read_text(encoding="utf-8")


def _check_can_rank(train: RankingDataset, valid: RankingDataset, names, why_missing, exempt=()) -> list[str]:
    """Refuse features that are constant within every query: no model can rank with them.
    ``why_missing``: the inputs missing (skipped features, the manifest), for the error. Returns
    the features constant within every query (warned; exempt ones, the query group, left out)."""
    varying = []
    for ds in (train, valid):
        if ds.n_rows == 0:
            continue
        X = ds.X.astype(np.float64)
        q = ds.row_query()
        mins = np.full((ds.n_queries, X.shape[1]), np.inf)
        maxs = np.full((ds.n_queries, X.shape[1]), -np.inf)
        Xf = np.where(np.isnan(X), 0.0, X)
        np.minimum.at(mins, q, Xf)
        np.maximum.at(maxs, q, Xf)
        varying.append((maxs > mins).any(axis=0))
    if varying and not np.logical_or.reduce(varying).any():
        why = sorted(set(why_missing))
        raise DataError(
            f"the features cannot rank: each of the {len(names)} feature(s) ({', '.join(list(names)[:6])}"
            f"{'...' if len(names) > 6 else ''}) is constant within every query, so every model keeps the "
            "first-stage order. Missing inputs: " + ("; ".join(why) or "none recorded")
        )
    constant = [n for n, v in zip(names, np.logical_or.reduce(varying)) if not v and n not in set(exempt)] if varying else []
    if constant:
        log.warning("%d feature(s) are constant within every query and cannot rank on their own: %s",
                    len(constant), constant[:8])
    return constant


def click_summary(cl: ClickLabels, stats: pl.DataFrame) -> ClickSummary:
    """What the run report says about the click model behind the click labels."""
    fitted = cl.model
    return ClickSummary(
        click_model=fitted.name,
        propensities=tuple(round(float(x), 4) for x in cl.propensities),
        click_fit={"iterations": fitted.info.iterations, "converged": fitted.info.converged,
                   "log_likelihood": round(fitted.info.log_likelihood, 6), "seconds": fitted.info.seconds},
        click_grading={"grading": cl.config.grading, "cuts": [round(float(c), 6) for c in cl.cuts],
                       "debias": cl.config.debias, "ips_weights": cl.config.ips_weights},
        click_sessions=cl.sessions,
        no_gradient_click_queries=zero_click_report(cl.frame, stats),
        click_prior=fitted.prior,
    )


def pair_features(cfg: FitConfig, ds: SearchDataset, stats: pl.DataFrame, pairs: pl.DataFrame):
    """The :class:`~gbltr.features.build.FeatureTable` of ``pairs`` (query_id, doc_id), built as
    :func:`prepare` builds the candidates' features (same parameters and query statistics; the
    caller selects the prepared feature columns). Precomputed columns (``features.parquet``)
    cannot be computed for new pairs and are absent. Pairs need not be candidates: the true-negative analysis featurises
    (query, document from another query) pairs through here."""
    return build_features(ds.queries, ds.documents, pairs, stats.select("query_id", "frequency"),
                          params=TextParams.from_config(cfg.features))


def _per_bucket(ds: RankingDataset) -> dict[str, int]:
    if ds.bucket is None:
        return {"all": ds.n_queries}
    b, c = np.unique(ds.bucket, return_counts=True)
    return {str(k): int(v) for k, v in zip(b, c)}
