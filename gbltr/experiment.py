"""``gbltr experiment``: several label setups over several seeds, reported per frequency bucket.

For each seed the data are prepared once and every setup trains on them. With the built-in
world the seed is also the world's seed, so each seed is a fresh world, log and split. With a
user's dataset (``--data DIR``) the seed is the training seed and, when the dataset has no
``split`` column, the seed of the drawn split; a fixed split and a deterministic booster
(gbltr's defaults: no feature or row subsampling) give the same model for every seed.

Setups, by name (:data:`SETUPS`):

``click``, ``llm``                    one label source, built-in objective
``fused:famol``                       FAMOL with the config's weight function: by default
                                      ``auto``, chosen with its parameters on validation queries
                                      (:mod:`gbltr.train.weight_search`)
``fused:famol-stacked``               FAMOL as stacked groups with frequency-conditioned weights
``fused:famol-sigmoid``, ``-bucket``, FAMOL with a fixed weight function and its default
``-log``                              parameters (sigmoid: the default before ``auto``)
``fused:constant``                    FAMOL with the same mix for every query (w = 0.5): the
                                      constant-weight baseline, always included
``fused:famol-no-query-features``     FAMOL (sigmoid, as in earlier records) without the ``query``
                                      feature group (query length, log frequency), always
                                      included: per-query loss weights change the training
                                      mixture, but one model can only rank head and tail
                                      differently if it can see which is which
``fused:schedule``                    data scheduling with the config's schedule
``fused:schedule:NAME``               data scheduling with a named schedule

Per bucket the report gives each setup's mean and standard deviation over seeds of nDCG@k, and
a paired t-test and randomisation test against the best single source in that bucket, and for
the fused setups against the constant mix and data scheduling (when they are in the run).

Pairing (``summary["pair_by"]``): with the built-in world each seed is a different world, so
queries are paired by (seed, query). On a user's dataset the seeds see the same queries, and
repeated seeds are not independent samples: each query's metric is first averaged over the
seeds it was tested in, and the test pairs by query.

With ``out``, each finished seed is also written to ``OUT-seeds/`` (:func:`checkpoint_dir`), so a
long run split over processes or stopped early can still be summarised (:func:`from_checkpoints`).

The ``auto`` search reuses the fixed-weight setups' models of the same seed when it would
train the very same model (same data, settings and weight function).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from gbltr.buckets import VIEWS, bucket_counts, bucket_lines, bucket_notes
from gbltr.checkpoint import checkpoint
from gbltr.config import LABEL_SOURCES_OF, FitConfig
from gbltr.errors import ConfigError, unknown_choice
from gbltr.evaluate.report import dropped_lines, nonzero_dropped, single_source, write_outputs
from gbltr.evaluate.significance import paired_by_view
from gbltr.evaluate.views import SCORED_WHAT, long_views
from gbltr.folders import Output, write_file
from gbltr.labels.fusion import AUTO
from gbltr.inputs import field, read_document, read_parquet
from gbltr.pipeline import prepare, read_named_files, read_schedule
from gbltr.progress import progress
from gbltr.train.fit import evaluate, train_model
from gbltr.train.weight_search import candidate_key

ALWAYS = ("fused:constant", "fused:famol-no-query-features")
SINGLE = ("click", "llm")


def _fusion(cfg: FitConfig, **kw) -> FitConfig:
    return replace(cfg, labels="fused", fusion=replace(cfg.fusion, **kw))


SETUPS = {
    "click": lambda c: replace(c, labels="click"),
    "llm": lambda c: replace(c, labels="llm"),
    "human": lambda c: replace(c, labels="human"),
    "fused:famol": lambda c: _fusion(c, method="famol", form="objective"),
    "fused:famol-stacked": lambda c: _fusion(c, method="famol", form="stacked"),
    "fused:constant": lambda c: _fusion(c, method="famol", form="objective", weight_fn="constant",
                                        weight_params={"value": 0.5}),
    "fused:famol-no-query-features": lambda c: _fusion(c, method="famol", form="objective", weight_fn="sigmoid",
                                                       weight_params={}),
    "fused:famol-sigmoid": lambda c: _fusion(c, method="famol", form="objective", weight_fn="sigmoid",
                                             weight_params={}),
    "fused:famol-bucket": lambda c: _fusion(c, method="famol", form="objective", weight_fn="bucket", weight_params={}),
    "fused:famol-log": lambda c: _fusion(c, method="famol", form="objective", weight_fn="log", weight_params={}),
    "fused:schedule": lambda c: _fusion(c, method="schedule"),
}
DROPS = {"fused:famol-no-query-features": ("query",)}
REFERENCES = {"vs_constant": "fused:constant", "vs_schedule": "fused:schedule"}


def _is_famol(cfg: FitConfig) -> bool:
    return cfg.labels == "fused" and cfg.fusion.method == "famol"


def _is_search(cfg: FitConfig) -> bool:
    return _is_famol(cfg) and cfg.fusion.weight_fn == AUTO


def setup_config(name: str, cfg: FitConfig) -> FitConfig:
    if name.startswith("fused:schedule:"):
        return _fusion(cfg, method="schedule", schedule=name.split(":", 2)[2])
    if name not in SETUPS:
        raise unknown_choice("setup", name, list(SETUPS) + ["fused:schedule:NAME"])
    return SETUPS[name](cfg)


@dataclass
class ExperimentResult:
    per_query: pl.DataFrame  # setup, seed, query_id, bucket, ndcg@k...
    summary: dict
    metric: str

    def to_markdown(self) -> str:
        s = self.summary
        pairing = PAIRINGS[s.get("pair_by", "seed_query")]
        refs = [(k, r) for k, r in REFERENCES.items() if r in s["setups"]]
        lines = [f"# Experiment: {', '.join(s['setups'])} over seeds {s['seeds']}", ""]
        lines.append(f"Mean ± std over seeds of per-seed mean {self.metric}; Δ and p-values against the best "
                     f"single source in the bucket and, for fused setups, against {', '.join(r for _, r in refs) or '-'} "
                     f"({pairing}; t = paired t-test, rand = randomisation test).")
        lines.append("")
        lines += bucket_lines(s.get("n_queries", {}), s.get("bucket_notes", []), SCORED_WHAT)
        for seed, counts in s.get("dropped", {}).items():
            lines += dropped_lines(counts, f"for seed {seed}")
        for bucket in s["buckets"]:
            best = s["best_single"][bucket]
            lines.append(f"## {bucket} (best single source: {best})")
            lines.append("")
            head = f"| setup | {self.metric} | Δ vs {best} | t p | rand p |"
            rule = "|---|---:|---:|---:|---:|"
            for _, ref in refs:
                head += f" Δ vs {ref} | rand p |"
                rule += "---:|---:|"
            lines += [head, rule]
            for setup in s["setups"]:
                r = s["results"][bucket][setup]
                row = f"| {setup} | {r['mean']:.4f} ± {r['std']:.4f} | " + _cells(r.get("vs_best"), t=True)
                for key, _ in refs:
                    row += " " + _cells(r.get(key), t=False)
                lines.append(row)
            lines.append("")
        for name, per_seed in s.get("weight_search", {}).items():
            lines += [f"## {name}: weight function chosen on validation, per seed", "",
                      "| seed | chosen | validation ndcg | candidates per rung (cheap + middle + full) | rounds | seconds |",
                      "|---|---|---:|---:|---:|---:|"]
            for seed, rec in per_seed.items():
                n = " + ".join(str(len(r["candidates"])) for r in rec["rungs"])
                alone = {"llm": " (click weight 0: the LLM run)", "click": " (LLM weight 0: the click run)"}.get(
                    single_source(rec["choice"]), "")
                lines.append(f"| {seed} | {rec['choice']['name']}{alone} | {rec['choice']['valid']['overall']:.4f} | {n} | "
                             f"{rec['rounds_trained']} | {rec['seconds']} |")
            lines.append("")
        return "\n".join(lines)


def _cells(test: dict | None, *, t: bool) -> str:
    if test is None:
        return " |  |" + ("  |" if t else "")
    if test.get("delta") is None:  # too few paired queries: the reason, never NaN
        return f" {test['status']} |  |" + ("  |" if t else "")
    out = f"{test['delta']:+.4f} |"
    if t:
        out += " |" if test["t_p"] is None else f" {test['t_p']:.3g} |"
    return out + f" {test['rand_p']:.3g} |"


def check_seeds(seeds, where: str | None = None) -> list[int]:
    """The experiment's seeds, refused when empty or when one is given twice.

    A repeated seed trains the same models again: it is no new sample, so it would shrink the std
    over seeds and count each test query once per repetition. ``where`` names the seeds' origin in the
    error (default: ``--seeds`` and the list)."""
    seeds = list(seeds)
    where = where or f"--seeds {','.join(map(str, seeds))}"
    if not seeds:
        raise ConfigError(f"experiment needs at least one seed; found none ({where})")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ConfigError(f"{where}: seed(s) {twice} given more than once; expected "
                          "distinct seeds (a repeated seed retrains the same models: no new sample)")
    return seeds


def run_experiment(cfg: FitConfig, setups, seeds, out: str | Path | None = None, *, metric: str = "ndcg@10",
                   n_permutations: int = 10_000, tracking=None) -> ExperimentResult:
    """Train and evaluate every setup for every seed (module docstring); write the report into
    ``out`` when given. ``tracking`` (:class:`gbltr.track.TrackingConfig`): also log a parent
    MLflow run (the report's files, each setup's mean per view) with one child run per setup x
    seed (:meth:`gbltr.track.runs.TrackedRun.log_experiment`)."""
    from gbltr.track.runs import tracked

    with tracked(tracking, name=Path(out).name if out is not None else "experiment", command="experiment") as track:
        result = _run_experiment(cfg, setups, seeds, out, metric=metric, n_permutations=n_permutations, track=track)
        track.log_report({view: {f"{setup}/{metric}": r["mean"] for setup, r in res.items()}
                          for view, res in result.summary["results"].items()},
                         result.per_query, out, stem="experiment", children=("setup", "seed"))
    return result


def _run_experiment(cfg: FitConfig, setups, seeds, out, *, metric: str, n_permutations: int, track) -> ExperimentResult:
    seeds = check_seeds(seeds)
    setups = list(dict.fromkeys(list(setups) + list(ALWAYS)))
    for name in setups:  # names and the schedules they name, before any work
        read_schedule(setup_config(name, cfg))
    frames = []
    searches: dict = {}
    dropped: dict = {}
    thresholds: dict = {}  # seed -> the resolved bucket thresholds (a seed's world may differ)
    pair_by = "seed_query" if cfg.data is None else "query"

    def seed_config(seed: int) -> FitConfig:
        return replace(cfg, seed=seed, world=replace(cfg.world, seed=seed) if cfg.data is None else cfg.world,
                       labels="fused")

    sources = tuple(dict.fromkeys(s for name in setups for s in LABEL_SOURCES_OF[setup_config(name, cfg).labels]))
    named = read_named_files(seed_config(seeds[0]), sources)  # the files named (and --data) once, for every seed
    checkpoint("experiment")
    track.log_params({**cfg.to_json(), "experiment": {"setups": setups, "seeds": list(seeds), "metric": metric}})
    with progress(total=len(seeds) * len(setups), desc="experiment", unit="model") as bar:
        for seed in seeds:
            base = seed_config(seed)
            prep = prepare(base, sources=sources, named=named)
            dropped[str(seed)] = nonzero_dropped(prep)
            thresholds[str(seed)] = prep.bucket_record()
            reuse: dict = {}
            seed_frames = []
            # fixed-weight FAMOL setups first, so that the auto search can reuse their models
            for name in sorted(setups, key=lambda n: _is_search(setup_config(n, cfg))):
                run_cfg = setup_config(name, replace(base, fusion=cfg.fusion))
                drop = DROPS.get(name, ())
                p = prep.without_groups([g for g in drop if g in prep.feature_groups])
                model = train_model(p, run_cfg, seed=seed, reuse=None if drop else reuse)
                if not drop and _is_famol(run_cfg) and not _is_search(run_cfg):
                    reuse[candidate_key(run_cfg.fusion)] = model
                if "weight_search" in model.info:
                    searches.setdefault(name, {})[str(seed)] = model.info["weight_search"]
                pq = evaluate(p, model).with_columns(setup=pl.lit(name), seed=pl.lit(seed))
                seed_frames.append(pq)
                bar.update(1)
            frames += seed_frames
            if out is not None:  # a checkpoint per seed: a long run that is stopped keeps its finished seeds
                folder = checkpoint_dir(out)
                write_file(folder / f"seed-{seed}.parquet", pl.concat(seed_frames, how="vertical_relaxed").write_parquet,
                           what="experiment checkpoint")
                done = json.dumps({"weight_search": {name: rec[str(seed)] for name, rec in searches.items()
                                                     if str(seed) in rec}}, indent=1)
                write_file(folder / f"seed-{seed}.json", lambda tmp: tmp.write_text(done), what="experiment checkpoint")
    per_query = pl.concat(frames, how="vertical_relaxed")
    summary = summarise_experiment(per_query, setups, list(seeds), metric=metric, n_permutations=n_permutations,
                                   pair_by=pair_by)
    if searches:
        summary["weight_search"] = searches
    summary["dropped"] = dropped
    summary["bucket_thresholds"] = thresholds
    result = ExperimentResult(per_query, summary, metric)
    if out is not None:
        write_experiment(result, out)
    return result


PAIRINGS = {"seed_query": "paired over (seed, query)",
            "query": "paired by query, each query's metric first averaged over the seeds"}


def _pairing_frame(per_query: pl.DataFrame, metric: str, pair_by: str) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """The per-query frame the paired tests run on, and its pairing keys (``pair_by``: :data:`PAIRINGS`)."""
    if pair_by == "seed_query":
        return per_query, ("seed", "query_id")
    scored = per_query.filter(pl.col(metric).is_not_nan())
    bucket = ["bucket"] if "bucket" in per_query.columns else []
    return scored.group_by("setup", "query_id", *bucket).agg(pl.col(metric).mean()), ("query_id",)


def summarise_experiment(per_query: pl.DataFrame, setups, seeds, *, metric: str, n_permutations: int = 10_000,
                         pair_by: str = "seed_query") -> dict:
    """Per view and setup: mean and std over seeds, and paired tests (``pair_by``: see :data:`PAIRINGS`)
    by :func:`gbltr.evaluate.significance.paired_by_view`."""
    if pair_by not in PAIRINGS:
        raise unknown_choice("pairing", pair_by, PAIRINGS)
    long = long_views(per_query)
    long = long.filter(pl.col(metric).is_not_nan())
    buckets = [b for b in VIEWS if b in set(long["view"].to_list())]
    per_seed = long.group_by("view", "setup", "seed").agg(pl.col(metric).mean())
    results: dict = {}
    best_single: dict = {}
    for b in buckets:
        stats = per_seed.filter(pl.col("view") == b)
        res = {}
        for s in setups:
            vals = stats.filter(pl.col("setup") == s).sort("seed")[metric].to_numpy()
            res[s] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                      "per_seed": [float(v) for v in vals]}
        singles = [s for s in SINGLE if s in res]
        best_single[b] = max(singles, key=lambda s: res[s]["mean"]) if singles else setups[0]
        results[b] = res
    frame, keys = _pairing_frame(per_query, metric, pair_by)
    for t in paired_by_view(frame, system="setup", baseline=best_single, metric=metric, keys=keys,
                            systems=list(setups), n_permutations=n_permutations):
        if t.view in results:
            results[t.view][t.system]["vs_best"] = t.to_dict()
    for key, ref in REFERENCES.items():
        fused = [s for s in setups if s.startswith("fused:") and s != ref]
        if ref not in setups or not fused:
            continue
        for t in paired_by_view(frame, system="setup", baseline=ref, metric=metric, keys=keys, systems=fused,
                                n_permutations=n_permutations):
            if t.view in results:
                results[t.view][t.system][key] = t.to_dict()
    ref = per_query.filter((pl.col("setup") == setups[0]) & (pl.col("seed") == seeds[0]) & pl.col(metric).is_not_nan())
    counts = bucket_counts(ref["bucket"].drop_nulls()) if "bucket" in ref.columns else {}
    return {"setups": list(setups), "seeds": list(seeds), "metric": metric, "buckets": buckets,
            "pair_by": pair_by, "best_single": best_single, "results": results, "n_queries": counts,
            "bucket_notes": bucket_notes(counts, SCORED_WHAT)}


def experiment_outputs(out) -> list[Output]:
    """What ``experiment --out OUT`` writes: the report folder (replaced whole by the next
    experiment) and ``OUT-seeds/`` (:func:`checkpoint_dir`, kept across runs)."""
    return [Output(out, "--out", "experiment folder", marker="experiment.json"),
            Output(checkpoint_dir(out), "--out (its -seeds/ checkpoints)", "checkpoint folder", reused=True)]


def checkpoint_dir(out) -> Path:
    """``OUT-seeds/``: ``seed-N.parquet`` (per-query results) and ``seed-N.json`` (weight searches),
    written after each seed. Beside the report folder, which is written atomically at the end."""
    return Path(f"{Path(out)}-seeds")


def from_checkpoints(folders, setups, *, metric: str = "ndcg@10", n_permutations: int = 10_000,
                     pair_by: str = "seed_query") -> ExperimentResult:
    """An experiment summarised from the per-seed checkpoints (:func:`checkpoint_dir`) of one or
    more runs, given by their ``OUT`` folders: seeds split over several processes, or a run stopped early."""
    frames, searches = [], {}
    for out in folders:
        folder = checkpoint_dir(out)
        if not folder.is_dir():
            folder = Path(out) / "seeds"  # the layout of the first recorded run (benchmarks/results)
        for path in sorted(folder.glob("seed-*.parquet")):
            frames.append(read_parquet(path, "experiment checkpoint"))
            side = path.with_suffix(".json")
            if side.exists():
                seed = path.stem.split("-", 1)[1]
                side_doc = read_document(side, "experiment checkpoint", "the weight searches of a seed", fmt="json")
                for name, rec in field(side_doc, "weight_search", "table", f"experiment checkpoint {side}").items():
                    searches.setdefault(name, {})[seed] = rec
    if not frames:
        raise ConfigError(f"no per-seed checkpoints (OUT-seeds/seed-N.parquet) for {[str(f) for f in folders]}")
    # one file per seed: a seed found in two folders (or files) would count its queries twice
    check_seeds([s for f in frames for s in f["seed"].unique().to_list()],
                where=f"checkpoints of {[str(f) for f in folders]}")
    per_query = pl.concat(frames, how="vertical_relaxed")
    seeds = sorted(set(per_query["seed"].to_list()))
    summary = summarise_experiment(per_query, setups, seeds, metric=metric, n_permutations=n_permutations,
                                   pair_by=pair_by)
    if searches:
        summary["weight_search"] = {k: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for k, v in searches.items()}
    return ExperimentResult(per_query, summary, metric)


def write_experiment(result: ExperimentResult, out: str | Path) -> Path:
    from gbltr.plots import plot_experiment

    return write_outputs(out, "experiment", result.per_query, result.summary, result.to_markdown(), plot_experiment(result))
