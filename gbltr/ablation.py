"""Feature-group ablation on top of fit + evaluate.

For each label setup (``click``, ``llm``, ``fused``) train the full model and one model without
each feature group (or subgroup) of the catalogue (``features/catalogue.toml``), all on the same
prepared data, and report per frequency bucket how much nDCG each group is worth: the drop when
it is removed, with paired t-test and randomisation p-values against the full model. The
fitted models' split gain per group is reported beside it.

This is how the seed paper's finding is checked on a dataset: if clicks carry document-level
signals (authority, quality) and LLM labels carry query-document semantic matching, removing
``document`` features should cost the click-trained model more, and removing
``query_document`` features the LLM-trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.buckets import VIEWS, bucket_counts, bucket_lines, bucket_notes
from gbltr.config import LABEL_KINDS, LABEL_SOURCES_OF, FitConfig
from gbltr.errors import ConfigError, unknown_choice
from gbltr.progress import progress

FULL = "(none)"


@dataclass
class AblationResult:
    per_query: pl.DataFrame  # labels, dropped, query_id, bucket, ndcg@k
    importance: pl.DataFrame  # labels, group, gain_share
    summary: dict
    metric: str

    def to_markdown(self) -> str:
        s = self.summary
        lines = ["# Feature-group ablation", "",
                 f"{self.metric} of the full model and the change when a feature group is removed "
                 "(paired randomisation-test p-value against the full model in brackets).", ""]
        lines += bucket_lines(s.get("n_queries", {}), s.get("bucket_notes", []))
        for labels in s["labels"]:
            lines.append(f"## labels: {labels}")
            lines.append("")
            lines.append("| removed | " + " | ".join(s["buckets"]) + " |")
            lines.append("|---|" + "---:|" * len(s["buckets"]))
            for dropped in [FULL] + s["groups"]:
                cells = []
                for b in s["buckets"]:
                    r = s["results"][labels][b][dropped]
                    cells.append(f"{r['mean']:.4f}" if dropped == FULL else f"{r['delta']:+.4f} ({r['rand_p']:.3g})")
                lines.append(f"| {dropped} | " + " | ".join(cells) + " |")
            lines.append("")
            shares = {g: v for g, v in s["gain_share"][labels].items()}
            lines.append("Split-gain share by group: " + ", ".join(f"{g} {v:.1%}" for g, v in shares.items()))
            lines.append("")
        return "\n".join(lines)


def _drop(prep, names):
    return replace(prep, train=prep.train.without_features(names), valid=prep.valid.without_features(names),
                   test=prep.test.without_features(names),
                   feature_names=tuple(f for f in prep.feature_names if f not in set(names)))


def gain_by_group(model, groups: dict[str, tuple[str, ...]], top_groups) -> dict[str, float]:
    """Share of the model's total split gain per feature group."""
    if model.backend == "lightgbm":
        gains = dict(zip(model.booster.feature_name(), model.booster.feature_importance("gain", iteration=model.best_iteration)))
    else:
        gains = model.booster.get_score(importance_type="total_gain")
    total = sum(gains.values()) or 1.0
    return {g: float(sum(gains.get(f, 0.0) for f in groups.get(g, ())) / total) for g in top_groups}


def run_ablation(cfg: FitConfig, labels=("click", "llm", "fused"), groups=("document", "query_document", "query"),
                 out: str | Path | None = None, *, metric: str = "ndcg@10") -> AblationResult:
    from gbltr.evaluate.significance import paired_test
    from gbltr.experiment import setup_config
    from gbltr.pipeline import prepare
    from gbltr.train.fit import evaluate, train_model

    base = replace(cfg, labels="fused", fusion=replace(cfg.fusion, explicit=True))
    prep = prepare(base, sources=tuple(dict.fromkeys(s for lab in labels for s in LABEL_SOURCES_OF.get(lab, ()))))
    for g in groups:
        if g not in prep.feature_groups:
            raise unknown_choice("feature group", g, prep.feature_groups)
    known = LABEL_KINDS
    for lab in labels:
        if lab not in known:
            raise unknown_choice("--labels value", lab, known)
    frames, imp_rows = [], []
    top = ("document", "query_document", "query")
    with progress(total=len(labels) * (len(groups) + 1), desc="ablation", unit="model") as bar:
        for lab in labels:
            run_cfg = setup_config("fused:famol" if lab == "fused" else lab, base)
            if lab == "fused" and cfg.labels == "fused":
                run_cfg = replace(base, fusion=replace(cfg.fusion, explicit=True))
            for dropped in [FULL, *groups]:
                p = prep if dropped == FULL else _drop(prep, prep.feature_groups[dropped])
                if not p.feature_names:
                    raise ConfigError(f"removing {dropped!r} leaves no feature")
                model = train_model(p, run_cfg)
                frames.append(evaluate(p, model).with_columns(labels=pl.lit(lab), dropped=pl.lit(dropped)))
                if dropped == FULL:
                    for g, share in gain_by_group(model, prep.feature_groups, [t for t in top if t in prep.feature_groups]).items():
                        imp_rows.append({"labels": lab, "group": g, "gain_share": share})
                bar.update(1)
    per_query = pl.concat(frames, how="vertical_relaxed")
    importance = pl.DataFrame(imp_rows)
    from gbltr.evaluate.views import long_views

    long = long_views(per_query)
    buckets = [b for b in VIEWS if b in set(long["view"].to_list())]
    results: dict = {}
    for lab in labels:
        results[lab] = {}
        for b in buckets:
            sub = long.filter((pl.col("labels") == lab) & (pl.col("view") == b))
            full = sub.filter(pl.col("dropped") == FULL).select("query_id", metric)
            res = {FULL: {"mean": float(np.nanmean(full[metric].to_numpy()))}}
            for g in groups:
                other = sub.filter(pl.col("dropped") == g).select("query_id", metric)
                j = full.join(other, on="query_id", suffix="_b")
                t = paired_test(j[metric].to_numpy(), j[f"{metric}_b"].to_numpy())
                res[g] = {"mean": t.mean_b, "delta": t.delta, "t_p": t.t_p, "rand_p": t.rand_p}
            results[lab][b] = res
    gain_share = {lab: {r["group"]: r["gain_share"] for r in importance.filter(pl.col("labels") == lab).iter_rows(named=True)}
                  for lab in labels}
    ref = per_query.filter((pl.col("labels") == labels[0]) & (pl.col("dropped") == FULL) & pl.col(metric).is_not_nan())
    counts = bucket_counts(ref["bucket"].drop_nulls()) if "bucket" in ref.columns else {}
    summary = {"labels": list(labels), "groups": list(groups), "buckets": buckets, "metric": metric,
               "n_queries": counts, "bucket_notes": bucket_notes(counts, "test queries with a relevant document"),
               "results": results, "gain_share": gain_share, "features": {g: list(prep.feature_groups[g]) for g in groups}}
    result = AblationResult(per_query, importance, summary, metric)
    if out is not None:
        write_ablation(result, out)
    return result


def plot_ablation(result: AblationResult, ax=None):
    """Bars: the change in the metric when each group is removed, per label setup and bucket."""
    from gbltr.plots import new_axes

    s = result.summary
    ax = ax if ax is not None else new_axes((9.0, 4.0))
    combos = [(lab, g) for lab in s["labels"] for g in s["groups"]]
    width = 0.8 / len(combos)
    x = np.arange(len(s["buckets"]))
    for i, (lab, g) in enumerate(combos):
        deltas = [s["results"][lab][b][g]["delta"] for b in s["buckets"]]
        ax.bar(x + (i - (len(combos) - 1) / 2) * width, deltas, width, label=f"{lab}: -{g}")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, s["buckets"])
    ax.set_ylabel(f"Δ {result.metric} when the group is removed")
    ax.legend(fontsize=7, ncol=len(s["labels"]))
    return ax


def write_ablation(result: AblationResult, out: str | Path) -> Path:
    from gbltr.evaluate.report import write_outputs

    return write_outputs(out, "ablation", result.per_query, result.summary, result.to_markdown(), plot_ablation(result))
