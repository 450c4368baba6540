"""``gbltr experiment``: several label setups over several seeds, reported per frequency bucket.

For each seed the data are prepared once (for the built-in world the seed is also the world's
seed, so each seed is a fresh world, log and split; for a user's data it is the training seed)
and every setup trains on them. Setups, by name (:data:`SETUPS`):

``click``, ``llm``                    one label source, built-in objective
``fused:famol``                       FAMOL with the config's weight function (default sigmoid)
``fused:famol-stacked``               FAMOL as stacked groups with frequency-conditioned weights
``fused:famol-bucket``, ``-log``      FAMOL with the ``bucket`` (0.8 / 0.5 / 0.2) or ``log`` weight
                                      function and their default parameters
``fused:constant``                    FAMOL with the same mix for every query (w = 0.5): the
                                      constant-weight baseline, always included
``fused:famol-no-query-features``     FAMOL without the ``query`` feature group (query length,
                                      log frequency), always included: per-query loss weights
                                      change the training mixture, but one model can only rank
                                      head and tail differently if it can see which is which
``fused:schedule``                    data scheduling with the config's schedule
``fused:schedule:NAME``               data scheduling with a named schedule

Per bucket the report gives each setup's mean and standard deviation over seeds of nDCG@k, and
a paired t-test and randomisation test (queries pooled over seeds, paired by (seed, query))
against the best single source in that bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.buckets import VIEWS, bucket_counts, bucket_lines, bucket_notes
from gbltr.config import LABEL_SOURCES_OF, FitConfig
from gbltr.errors import ConfigError, unknown_choice
from gbltr.progress import progress

ALWAYS = ("fused:constant", "fused:famol-no-query-features")
DEFAULT_SETUPS = ("click", "llm", "fused:schedule", "fused:famol")
SINGLE = ("click", "llm")


def _fusion(cfg: FitConfig, **kw) -> FitConfig:
    return replace(cfg, labels="fused", fusion=replace(cfg.fusion, explicit=True, **kw))


SETUPS = {
    "click": lambda c: replace(c, labels="click", fusion=replace(c.fusion, explicit=False)),
    "llm": lambda c: replace(c, labels="llm", fusion=replace(c.fusion, explicit=False)),
    "human": lambda c: replace(c, labels="human", fusion=replace(c.fusion, explicit=False)),
    "fused:famol": lambda c: _fusion(c, method="famol", form="objective"),
    "fused:famol-stacked": lambda c: _fusion(c, method="famol", form="stacked"),
    "fused:constant": lambda c: _fusion(c, method="famol", form="objective", weight_fn="constant",
                                        weight_params={"value": 0.5}),
    "fused:famol-no-query-features": lambda c: _fusion(c, method="famol", form="objective"),
    "fused:famol-bucket": lambda c: _fusion(c, method="famol", form="objective", weight_fn="bucket", weight_params={}),
    "fused:famol-log": lambda c: _fusion(c, method="famol", form="objective", weight_fn="log", weight_params={}),
    "fused:schedule": lambda c: _fusion(c, method="schedule"),
}
DROPS = {"fused:famol-no-query-features": ("query",)}


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
        lines = [f"# Experiment: {', '.join(s['setups'])} over seeds {s['seeds']}", ""]
        lines.append(f"Mean ± std over seeds of per-seed mean {self.metric}; Δ and p-values against the best "
                     "single source in the bucket (paired over (seed, query); t = paired t-test, "
                     "rand = randomisation test).")
        lines.append("")
        lines += bucket_lines(s.get("n_queries", {}), s.get("bucket_notes", []))
        for bucket in s["buckets"]:
            best = s["best_single"][bucket]
            lines.append(f"## {bucket} (best single source: {best})")
            lines.append("")
            lines.append(f"| setup | {self.metric} | Δ vs {best} | t p | rand p |")
            lines.append("|---|---:|---:|---:|---:|")
            for setup in s["setups"]:
                r = s["results"][bucket][setup]
                test = r.get("vs_best")
                d = "" if test is None else f"{test['delta']:+.4f}"
                tp = "" if test is None else f"{test['t_p']:.3g}"
                rp = "" if test is None else f"{test['rand_p']:.3g}"
                lines.append(f"| {setup} | {r['mean']:.4f} ± {r['std']:.4f} | {d} | {tp} | {rp} |")
            lines.append("")
        return "\n".join(lines)


def run_experiment(cfg: FitConfig, setups, seeds, out: str | Path | None = None, *, metric: str = "ndcg@10",
                   n_permutations: int = 10_000) -> ExperimentResult:
    from gbltr.pipeline import prepare
    from gbltr.train.fit import evaluate, train_model

    setups = list(dict.fromkeys(list(setups) + list(ALWAYS)))
    for name in setups:
        setup_config(name, cfg)  # validate names before any work
    if not seeds:
        raise ConfigError("experiment needs at least one seed")
    frames = []
    with progress(total=len(seeds) * len(setups), desc="experiment", unit="model") as bar:
        for seed in seeds:
            base = replace(cfg, seed=seed, world=replace(cfg.world, seed=seed) if cfg.data is None else cfg.world,
                           labels="fused", fusion=replace(cfg.fusion, explicit=True))
            prep = prepare(base, sources=tuple(dict.fromkeys(
                s for name in setups for s in LABEL_SOURCES_OF[setup_config(name, base).labels])))
            for name in setups:
                run_cfg = setup_config(name, replace(base, fusion=cfg.fusion))
                p = prep
                drop = DROPS.get(name, ())
                if drop:
                    names = [f for g in drop for f in prep.feature_groups.get(g, ())]
                    p = replace(prep, train=prep.train.without_features(names),
                                valid=prep.valid.without_features(names), test=prep.test.without_features(names),
                                feature_names=tuple(f for f in prep.feature_names if f not in names))
                model = train_model(p, run_cfg, seed=seed)
                pq = evaluate(p, model).with_columns(setup=pl.lit(name), seed=pl.lit(seed))
                frames.append(pq)
                bar.update(1)
    per_query = pl.concat(frames, how="vertical_relaxed")
    summary = summarise_experiment(per_query, setups, list(seeds), metric=metric, n_permutations=n_permutations)
    result = ExperimentResult(per_query, summary, metric)
    if out is not None:
        write_experiment(result, out)
    return result


def summarise_experiment(per_query: pl.DataFrame, setups, seeds, *, metric: str, n_permutations: int = 10_000) -> dict:
    from gbltr.evaluate.significance import paired_test

    from gbltr.evaluate.views import long_views

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
        best = max(singles, key=lambda s: res[s]["mean"]) if singles else setups[0]
        best_single[b] = best
        ref = long.filter((pl.col("view") == b) & (pl.col("setup") == best)).select("seed", "query_id", metric)
        for s in setups:
            if s == best:
                continue
            other = long.filter((pl.col("view") == b) & (pl.col("setup") == s)).select("seed", "query_id", metric)
            j = ref.join(other, on=["seed", "query_id"], suffix="_b")
            t = paired_test(j[metric].to_numpy(), j[f"{metric}_b"].to_numpy(), n_permutations=n_permutations)
            res[s]["vs_best"] = t.to_dict()
        results[b] = res
    ref = per_query.filter((pl.col("setup") == setups[0]) & (pl.col("seed") == seeds[0]) & pl.col(metric).is_not_nan())
    counts = bucket_counts(ref["bucket"].drop_nulls()) if "bucket" in ref.columns else {}
    return {"setups": list(setups), "seeds": list(seeds), "metric": metric, "buckets": buckets,
            "best_single": best_single, "results": results, "n_queries": counts,
            "bucket_notes": bucket_notes(counts, "test queries with a relevant document")}


def plot_experiment(result: ExperimentResult, ax=None):
    from gbltr.plots import new_axes

    s = result.summary
    ax = ax if ax is not None else new_axes((8.5, 4.2))
    n = len(s["setups"])
    width = 0.8 / n
    x = np.arange(len(s["buckets"]))
    for i, setup in enumerate(s["setups"]):
        means = [s["results"][b][setup]["mean"] for b in s["buckets"]]
        stds = [s["results"][b][setup]["std"] for b in s["buckets"]]
        ax.bar(x + (i - (n - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=setup)
    ax.set_xticks(x, s["buckets"])
    ax.set_ylabel(f"{result.metric} (mean ± std over seeds)")
    lo = min(s["results"][b][st]["mean"] for b in s["buckets"] for st in s["setups"])
    ax.set_ylim(max(0.0, lo - 0.08), None)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{len(s['seeds'])} seeds per setup", fontsize=9)
    return ax


def write_experiment(result: ExperimentResult, out: str | Path) -> Path:
    from gbltr.evaluate.report import write_outputs

    return write_outputs(out, "experiment", result.per_query, result.summary, result.to_markdown(), plot_experiment(result))
