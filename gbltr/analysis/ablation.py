"""Feature-group ablation, with attribution and true negatives beside it (``gbltr ablation``).

For each label setup (``click``, ``llm``, ``fused``) the full model and one model without each
feature group (or subgroup) of the catalogue (``features/catalogue.toml``) are trained on the
same prepared data (prepared once; a group is removed by dropping its columns, nothing is
rebuilt). Per frequency bucket the report gives how much nDCG each group is worth: the change
when it is removed, with paired t-test and randomisation p-values against the full model
(:func:`gbltr.evaluate.significance.paired_by_view`; a bucket with too few queries says so).
Beside it, for each full model (:mod:`gbltr.analysis.attribution`): TreeSHAP shares per group
and bucket, permutation importance in nDCG@10, and the split-gain share of the kept rounds;
optionally the true-negative analysis (:mod:`gbltr.analysis.true_negatives`) and the label
distributions (:mod:`gbltr.analysis.label_distributions`).

This is how the seed paper's finding is checked on a dataset: if clicks carry document-level
signals (authority, quality) and LLM labels carry query-document semantic matching, removing
``document`` features should cost the click-trained model more, and removing
``query_document`` features the LLM-trained model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from gbltr.analysis import PERMUTATION_REPEATS, TRUE_NEGATIVES
from gbltr.analysis.attribution import (
    PermutationImportance,
    gain_by_group,
    group_shares,
    permutation_importance,
    shap_shares,
)
from gbltr.analysis.label_distributions import LabelDistributions, label_distributions
from gbltr.analysis.true_negatives import TOPS, TrueNegatives, true_negatives
from gbltr.buckets import bucket_counts, bucket_lines, bucket_notes
from gbltr.config import LABEL_KINDS, LABEL_SOURCES_OF, FitConfig
from gbltr.data.store import read_dataset
from gbltr.errors import ConfigError, unknown_choice
from gbltr.evaluate.report import dropped_lines, nonzero_dropped, write_outputs
from gbltr.evaluate.significance import ViewTest, paired_by_view
from gbltr.evaluate.views import SCORED_WHAT, long_views, view_order
from gbltr.experiment import setup_config
from gbltr.features.build import drop_choices
from gbltr.checkpoint import checkpoint
from gbltr.pipeline import prepare, read_named_files
from gbltr.progress import progress
from gbltr.train.fit import evaluate, train_model
from gbltr.words import counted

FULL = "(none)"
TOP_GROUPS = ("document", "query_document", "query")


@dataclass
class AblationResult:
    """Everything ``gbltr ablation`` reports.

    ``per_query``: labels, dropped (group or ``(none)``), query_id, bucket, frequency, ndcg@k.
    ``deltas``: labels -> one :class:`ViewTest` per (view, removed group) against the full model.
    ``shap``: labels, view, feature, group, n_rows, mean_abs, shap_share, shap_share_within.
    ``permutation``: labels -> :class:`PermutationImportance`. ``gain_share``: labels -> group -> share.
    """

    labels: tuple[str, ...]
    groups: tuple[str, ...]
    metric: str
    per_query: pl.DataFrame
    deltas: dict[str, tuple[ViewTest, ...]]
    gain_share: dict[str, dict[str, float]]
    shap: pl.DataFrame | None = None
    permutation: dict[str, PermutationImportance] = field(default_factory=dict)
    true_negatives: TrueNegatives | None = None
    label_distributions: LabelDistributions | None = None
    features: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    weight_choice: dict[str, dict] = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)  # the validation pass's non-zero counts (gbltr.validate)
    bucket_thresholds: dict = field(default_factory=dict)  # the resolved thresholds (Prepared.bucket_record)

    @property
    def views(self) -> list[str]:
        return view_order({t.view for tests in self.deltas.values() for t in tests})

    def delta(self, labels: str, group: str, view: str) -> ViewTest:
        for t in self.deltas[labels]:
            if t.system == group and t.view == view:
                return t
        raise ConfigError(f"no ablation result for labels {labels!r}, group {group!r}, view {view!r}")

    def full_means(self) -> pl.DataFrame:
        """labels, view, n_queries, n_scored, mean (null when no query of the view is scored)."""
        long = long_views(self.per_query.filter(pl.col("dropped") == FULL))
        m = pl.col(self.metric)
        return (long.group_by("labels", "view", maintain_order=True)
                .agg(pl.len().alias("n_queries"), m.is_not_nan().sum().alias("n_scored"),
                     m.filter(m.is_not_nan()).mean().alias("mean")))

    def delta_table(self) -> pl.DataFrame:
        """labels, group, view, n, status, delta, t_p, rand_p: the heatmap's numbers (delta null
        with a status where a view has too few queries)."""
        return pl.DataFrame([{"labels": lab, "group": t.system, **{k: v for k, v in t.to_dict().items()
                                                                   if k not in ("baseline", "system")}}
                             for lab in self.labels for t in self.deltas[lab]],
                            schema_overrides={"delta": pl.Float64, "t_p": pl.Float64, "rand_p": pl.Float64,
                                              "mean_a": pl.Float64, "mean_b": pl.Float64})

    def shap_groups(self) -> pl.DataFrame:
        """labels, view, group, shap_share, shap_share_within."""
        if self.shap is None:
            return pl.DataFrame()
        return pl.concat([group_shares(self.shap.filter(pl.col("labels") == lab)).with_columns(labels=pl.lit(lab))
                          .select("labels", "view", "group", "shap_share", "shap_share_within") for lab in self.labels])

    def permutation_table(self) -> pl.DataFrame:
        """labels, group, view, n, status, delta (permuted - original), rand_p."""
        return pl.DataFrame([{"labels": lab, "group": t.system, "view": t.view, "n": t.n, "status": t.status,
                              "delta": t.delta, "rand_p": t.rand_p}
                             for lab, p in self.permutation.items() for t in p.tests],
                            schema_overrides={"delta": pl.Float64, "rand_p": pl.Float64})

    def bucket_counts(self) -> dict[str, int]:
        """Test queries that can rank per bucket (:data:`gbltr.evaluate.views.SCORED_WHAT`; the first label
        setup's full model)."""
        ref = self.per_query.filter((pl.col("labels") == self.labels[0]) & (pl.col("dropped") == FULL)
                                    & pl.col(self.metric).is_not_nan())
        return bucket_counts(ref["bucket"].drop_nulls()) if "bucket" in ref.columns else {}

    def to_summary(self) -> dict:
        """The JSON report (ablation.json)."""
        counts = self.bucket_counts()
        out = {"labels": list(self.labels), "groups": list(self.groups), "metric": self.metric, "views": self.views,
               "n_queries": counts, "bucket_notes": bucket_notes(counts, SCORED_WHAT),
               "features": self.features, "full": self.full_means().to_dicts(),
               "deltas": self.delta_table().to_dicts(), "gain_share": self.gain_share, "timings": self.timings,
               "weight_choice": self.weight_choice, "dropped": self.dropped,
               "bucket_thresholds": self.bucket_thresholds}
        if self.shap is not None:
            out["shap_groups"] = self.shap_groups().to_dicts()
            out["shap_features"] = self.shap.to_dicts()
        if self.permutation:
            out["permutation"] = {"k": next(iter(self.permutation.values())).k,
                                  "repeats": next(iter(self.permutation.values())).repeats,
                                  "results": self.permutation_table().to_dicts()}
        if self.true_negatives is not None:
            tn = self.true_negatives
            out["true_negatives"] = {"k": tn.k, "seed": tn.seed, "summary": tn.summary.to_dicts(),
                                     "ndcg_change": {lab: [t.to_dict() for t in ts] for lab, ts in tn.tests.items()}}
        if self.label_distributions is not None:
            ld = self.label_distributions
            out["label_distributions"] = {"histograms": ld.histograms.to_dicts(),
                                          "agreement": [p.to_dict() for p in ld.agreement]}
        return out

    def to_markdown(self) -> str:
        views = self.views
        lines = ["# Feature-group ablation", "",
                 f"{self.metric} of the full model, and the change when a feature group is removed "
                 "(paired randomisation-test p-value against the full model; * p < 0.05, ** p < 0.01, "
                 "*** p < 0.001).", ""]
        counts = self.bucket_counts()
        lines += bucket_lines(counts, bucket_notes(counts, SCORED_WHAT), SCORED_WHAT)
        lines += dropped_lines(self.dropped)
        full = {(r["labels"], r["view"]): r for r in self.full_means().iter_rows(named=True)}
        for lab in self.labels:
            lines += [f"## labels: {lab}", "", "| removed | " + " | ".join(views) + " |", "|---|" + "---:|" * len(views)]
            cells = []
            for v in views:
                r = full.get((lab, v))
                cells.append("no scored query" if r is None or r["mean"] is None else f"{r['mean']:.4f} (n={r['n_scored']})")
            lines.append(f"| {FULL} | " + " | ".join(cells) + " |")
            for g in self.groups:
                lines.append(f"| {g} | " + " | ".join(self.delta(lab, g, v).cell() for v in views) + " |")
            lines.append("")
            shares = self.gain_share.get(lab, {})
            lines.append("Split-gain share (kept rounds): " + ", ".join(f"{g} {v:.1%}" for g, v in shares.items()))
            if lab in self.weight_choice:
                lines.append(f"FAMOL weights chosen on validation for the full model and kept for the models "
                             f"without a group: {self.weight_choice[lab]}")
            lines.append("")
        if self.shap is not None:
            lines += ["## TreeSHAP share by group (mean |SHAP|; within-query centred in brackets)", "",
                      "| labels | group | " + " | ".join(views) + " |", "|---|---|" + "---:|" * len(views)]
            sg = {(r["labels"], r["group"], r["view"]): r for r in self.shap_groups().iter_rows(named=True)}
            for lab in self.labels:
                for g in dict.fromkeys(k[1] for k in sg if k[0] == lab):
                    cells = [f"{sg[(lab, g, v)]['shap_share']:.1%} ({sg[(lab, g, v)]['shap_share_within']:.1%})"
                             if (lab, g, v) in sg else "—" for v in views]
                    lines.append(f"| {lab} | {g} | " + " | ".join(cells) + " |")
            lines.append("")
        if self.permutation:
            p0 = next(iter(self.permutation.values()))
            lines += [f"## Permutation importance (Δ nDCG@{p0.k} when the group's columns are permuted across test "
                      f"rows; {p0.repeats} repeats)", "",
                      "| labels | group | " + " | ".join(views) + " |", "|---|---|" + "---:|" * len(views)]
            for lab, p in self.permutation.items():
                for g in dict.fromkeys(t.system for t in p.tests):
                    cells = [next(t.cell() for t in p.tests if t.system == g and t.view == v) for v in views]
                    lines.append(f"| {lab} | {g} | " + " | ".join(cells) + " |")
            lines.append("")
        if self.true_negatives is not None:
            tn = self.true_negatives
            lines += [f"## True negatives ({counted(tn.k, 'document')} from other queries added to each test list, label 0)", "",
                      "| labels | view | queries | " + " | ".join(f"reach top {t}" for t in TOPS)
                      + f" | negatives in top {max(TOPS)} | Δ nDCG@{tn.metric_k} |",
                      "|---|---|---:|" + "---:|" * (len(TOPS) + 2)]
            for r in tn.summary.iter_rows(named=True):
                t = next(x for x in tn.tests[r["labels"]] if x.view == r["view"])
                lines.append(f"| {r['labels']} | {r['view']} | {r['n_queries']} | "
                             + " | ".join(f"{r[f'reach@{k}']:.1%}" for k in TOPS)
                             + f" | {r[f'negatives_in_top{max(TOPS)}']:.2f} | {t.cell()} |")
            lines.append("")
        if self.label_distributions is not None:
            lines += label_distribution_lines(self.label_distributions, views)
        if self.timings:
            lines += ["## Timings (seconds; wall / CPU of this process)", "",
                      ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items()), ""]
        return "\n".join(lines)


def label_distribution_lines(ld, views) -> list[str]:
    """The markdown section of the label distributions: grade shares per source and view, kappa per pair of
    sources (none when the dataset has one label source)."""
    lines: list[str] = []
    lines += ["## Label distributions (share of pairs per grade)", "",
              "| source | view | " + " | ".join(str(g) for g in sorted(set(ld.histograms["grade"].to_list())))
              + " |", "|---|---|" + "---:|" * ld.histograms["grade"].n_unique()]
    grades = sorted(set(ld.histograms["grade"].to_list()))
    for (src, view), part in ld.histograms.group_by("source", "view", maintain_order=True):
        share = dict(zip(part["grade"].to_list(), part["share"].to_list()))
        lines.append(f"| {src} | {view} | " + " | ".join(f"{share.get(g, 0.0):.1%}" for g in grades) + " |")
    kt = ld.kappa_table()
    if kt.height == 0:
        sources = sorted(set(ld.histograms["source"].to_list()))
        return lines + ["", f"Cohen's kappa: no pair of label sources to compare (sources: {', '.join(sources) or 'none'}).", ""]
    lines += ["", "Cohen's kappa on shared pairs:", "", "| pair | " + " | ".join(views) + " |",
              "|---|" + "---:|" * len(views)]
    for pair in dict.fromkeys(kt["pair"].to_list()):
        cells = []
        for v in views:
            r = kt.filter((pl.col("pair") == pair) & (pl.col("view") == v))
            if r.height == 0:
                cells.append("—")
            elif r["kappa"][0] is None:
                cells.append(r["status"][0] if r["status"][0] != "ok" else "undefined")
            else:
                cells.append(f"{r['kappa'][0]:.3f} (n={r['n_pairs'][0]})")
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _label_config(lab: str, cfg: FitConfig, base: FitConfig) -> FitConfig:
    """The training config of one label setup: the user's fusion settings when they asked for
    ``--labels fused`` (fusion settings need it: :func:`gbltr.config.check_fusion_given`), else FAMOL's setup."""
    if lab == "fused":
        if cfg.labels == "fused":
            return replace(base, fusion=cfg.fusion)
        return setup_config("fused:famol", base)
    return replace(base, labels=lab)


def _searched(run_cfg: FitConfig, model, searches: dict, lab: str) -> FitConfig:
    """After the full model: a FAMOL weight function chosen on validation (``weight_fn = "auto"``,
    recorded in ``model.info["weight_search"]``) is fixed for the models without a group, so the
    search runs once per label setup, not once per removed group."""
    search = getattr(model, "info", {}).get("weight_search")
    if not search:
        return run_cfg
    choice = search["choice"]
    searches[lab] = {"weight_fn": choice["weight_fn"], "params": choice["params"]}
    return replace(run_cfg, fusion=replace(run_cfg.fusion, weight_fn=choice["weight_fn"],
                                           weight_params=dict(choice["params"])))


class _Clock:
    def __init__(self):
        self.timings: dict[str, float] = {}

    def __call__(self, name):
        clock = self

        class _Span:
            def __enter__(self):
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.timings[f"{name}_wall"] = clock.timings.get(f"{name}_wall", 0.0) + time.perf_counter() - self.w
                clock.timings[f"{name}_cpu"] = clock.timings.get(f"{name}_cpu", 0.0) + time.process_time() - self.c

        return _Span()


def run_ablation(cfg: FitConfig, labels=("click", "llm", "fused"), groups=("document", "query_document", "query"),
                 out: str | Path | None = None, *, metric: str = "ndcg@10", attribution: bool = True,
                 permutation_repeats: int = 3, true_negatives_k: int = 0, label_stats: bool = True,
                 n_permutations: int = 2000, tracking=None) -> AblationResult:
    """Train the full model and one model per removed group for each label setup; attribute the
    full models; optionally add ``true_negatives_k`` true negatives per test list and compute the
    label distributions. Writes the report into ``out`` when given (:func:`write_ablation`).
    ``tracking`` (:class:`gbltr.track.TrackingConfig`): also log a parent MLflow run (the report's
    files and figures, each Δ against the full model per view) with one child run per label setup
    and removed group (:meth:`gbltr.track.runs.TrackedRun.log_report`)."""
    from gbltr.track.runs import tracked

    with tracked(tracking, name=Path(out).name if out is not None else "ablation", command="ablation") as track:
        result = _run_ablation(cfg, labels, groups, out, metric=metric, attribution=attribution,
                               permutation_repeats=permutation_repeats, true_negatives_k=true_negatives_k,
                               label_stats=label_stats, n_permutations=n_permutations, track=track)
        track.log_report({view: {f"{lab}/without {t.system}/delta {metric}": t.delta
                                   for lab, tests in result.deltas.items() for t in tests if t.view == view and t.ok}
                          for view in result.views},
                         result.per_query, out, stem="ablation", children=("labels", "dropped"))
    return result


def _run_ablation(cfg: FitConfig, labels, groups, out, *, metric: str, attribution: bool, permutation_repeats: int,
                  true_negatives_k: int, label_stats: bool, n_permutations: int, track) -> AblationResult:
    labels, groups = tuple(labels), tuple(groups)
    for lab in labels:
        if lab not in LABEL_KINDS:
            raise unknown_choice("--labels value", lab, LABEL_KINDS)
    if not labels or not groups:
        raise ConfigError(f"ablation needs at least one label setup and one group; found labels={list(labels)}, "
                          f"groups={list(groups)}")
    PERMUTATION_REPEATS.check("--permutation-repeats", permutation_repeats)
    TRUE_NEGATIVES.check("--true-negatives", true_negatives_k)
    if cfg.data is None:  # the built-in world: the packaged catalogue's names, checked before any work
        known = drop_choices()
        for g in groups:
            if g not in known:
                raise unknown_choice("feature group", g, known)
    clock = _Clock()
    base = replace(cfg, labels="fused")
    sources = tuple(dict.fromkeys(s for lab in labels for s in LABEL_SOURCES_OF[lab]))
    named = read_named_files(base, sources)
    checkpoint("ablation")
    track.log_params({**cfg.to_json(), "ablation": {"labels": list(labels), "groups": list(groups), "metric": metric}})
    with clock("prepare"):  # once, with every label source the setups train on (human included)
        shared = prepare(base, sources=sources, named=named)
    preps = {lab: shared for lab in labels}
    prep = preps[labels[0]]
    ds = ld = None
    if true_negatives_k or label_stats:
        ds = read_dataset(prep.dataset_path)
    if label_stats:  # needs no model: computed and drawn before training, so that it cannot fail after it
        with clock("label_distributions"):
            ld = label_distributions(ds, prep.stats, cfg)
            if out is not None:
                _preview_label_distributions(ld)
    drops = {id(p): {g: p.without_groups([g]) for g in groups} for p in {id(p): p for p in preps.values()}.values()}
    top = {g: prep.feature_groups[g] for g in TOP_GROUPS if g in prep.feature_groups}
    frames, gain, shap, perm, models, searches = [], {}, [], {}, {}, {}
    with progress(total=len(labels) * (len(groups) + 1), desc="ablation", unit="model") as bar:
        for lab in labels:
            run_cfg = _label_config(lab, cfg, preps[lab].config)
            for dropped in [FULL, *groups]:
                p = preps[lab] if dropped == FULL else drops[id(preps[lab])][dropped]
                with clock("train"):
                    model = train_model(p, run_cfg)
                frames.append(evaluate(p, model).with_columns(labels=pl.lit(lab), dropped=pl.lit(dropped)))
                if dropped == FULL:
                    models[lab] = model
                    run_cfg = _searched(run_cfg, model, searches, lab)
                    gain[lab] = gain_by_group(model, top)
                    if attribution:
                        with clock("shap"):
                            shap.append(shap_shares(model, preps[lab].test, top).with_columns(labels=pl.lit(lab)))
                        if permutation_repeats:
                            with clock("permutation"):
                                perm[lab] = permutation_importance(model, preps[lab].test, top, repeats=permutation_repeats,
                                                                   seed=cfg.seed, n_permutations=n_permutations)
                bar.update(1)
    per_query = pl.concat(frames, how="vertical_relaxed")
    deltas = {lab: tuple(paired_by_view(per_query.filter(pl.col("labels") == lab), system="dropped", baseline=FULL,
                                        metric=metric, systems=list(groups), n_permutations=n_permutations,
                                        seed=cfg.seed))
              for lab in labels}
    tn = None
    if true_negatives_k:
        with clock("true_negatives"):
            tn = true_negatives(prep, models, true_negatives_k, ds=ds, seed=cfg.seed, n_permutations=n_permutations)
    shap_frame = pl.concat(shap).select("labels", pl.exclude("labels")) if shap else None
    result = AblationResult(labels, groups, metric, per_query, deltas, gain, shap_frame, perm, tn, ld,
                            features={g: list(prep.feature_groups[g]) for g in groups},
                            timings={k: round(v, 2) for k, v in clock.timings.items()}, weight_choice=searches,
                            dropped=nonzero_dropped(shared), bucket_thresholds=shared.bucket_record())
    if out is not None:
        write_ablation(result, out)
    return result


def _preview_label_distributions(ld) -> None:
    """Draw the label-distribution figure and markdown once, before any model is trained: they depend on the
    labels only, so a failure to draw them (e.g. a dataset with one label source) shows before the training,
    not after it. The figure is closed; :func:`write_ablation` draws the one it saves."""
    import matplotlib.pyplot as plt

    from gbltr import plots

    label_distribution_lines(ld, view_order(ld.histograms["view"].unique().to_list()))
    plt.close(plots.plot_label_distributions(ld).figure)


def write_ablation(result: AblationResult, out: str | Path) -> Path:
    """ablation.md, ablation.json, ablation.png (the Δ heatmap), per_query.parquet, and
    attribution.png, true_negatives.png, label_distributions.png when those were computed."""
    from gbltr import plots

    extra = {}
    if result.shap is not None or result.permutation:
        extra["attribution"] = plots.plot_attribution(result)
    if result.true_negatives is not None:
        extra["true_negatives"] = plots.plot_true_negatives(result.true_negatives, tops=TOPS)
    if result.label_distributions is not None:
        extra["label_distributions"] = plots.plot_label_distributions(result.label_distributions)
    return write_outputs(out, "ablation", result.per_query, result.to_summary(), result.to_markdown(),
                         plots.plot_ablation_heatmap(result), extra_figures=extra)


__all__ = ["FULL", "AblationResult", "run_ablation", "write_ablation"]
