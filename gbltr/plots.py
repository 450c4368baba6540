"""Plots of gbltr reports and comparisons.

Each function takes a report or comparison object, accepts ``ax=`` and returns the Axes it drew
on. matplotlib is imported inside the functions (``import gbltr`` must not import it). Without
``ax`` a new figure is made on the non-interactive Agg canvas, without touching pyplot's global
state; in a notebook pass ``ax`` from ``plt.subplots()`` to have it displayed.
"""

from __future__ import annotations

from gbltr.errors import ConfigError
from gbltr.evaluate.significance import stars
from gbltr.evaluate.views import view_order
from gbltr.words import counted


def new_axes(figsize=(6.0, 4.0)):
    """A fresh Axes on an Agg-backed Figure (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def plot_bucket_bars(comparison, metric: str | None = None, ax=None):
    """Grouped bars of each run's mean per view (overall, high, medium, low) with 95% CI bars.

    ``comparison``: a :class:`gbltr.evaluate.compare.Comparison`. Bars of non-baseline runs
    carry the randomisation-test stars (* p < 0.05, ** p < 0.01, *** p < 0.001). A view with too
    few queries for an interval (:data:`gbltr.buckets.MIN_TEST_QUERIES`) gets no error bar and is
    labelled ``n=N`` instead; the intervals drawn are already clipped to the metric's range.
    """
    import numpy as np


    if metric is not None and metric != comparison.metric:
        raise ConfigError(
            f"plot_bucket_bars: the comparison is over {comparison.metric!r}, found metric={metric!r}; "
            "run compare_runs with that metric"
        )
    ax = ax if ax is not None else new_axes()
    buckets = comparison.buckets
    runs = list(comparison.runs)
    x = np.arange(len(buckets), dtype=float)
    width = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        res = [comparison.result(b, run) for b in buckets]
        means = np.array([np.nan if r.mean is None else r.mean for r in res])
        has_ci = np.array([r.ci_low is not None and r.ci_high is not None for r in res])
        lo = np.array([r.mean - r.ci_low if ok else 0.0 for r, ok in zip(res, has_ci)])
        hi = np.array([r.ci_high - r.mean if ok else 0.0 for r, ok in zip(res, has_ci)])
        pos = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(pos, means, width, label=run)
        if has_ci.any():
            ax.errorbar(pos[has_ci], means[has_ci], yerr=np.vstack([lo[has_ci], hi[has_ci]]), fmt="none",
                        ecolor="black", capsize=3)
        for p, m, h, r in zip(pos, means, hi, res):
            mark = stars(r.rand_p)
            if r.too_few:
                mark = f"n={r.n_scored}"
            if mark and np.isfinite(m):
                ax.text(p, m + h, mark, ha="center", va="bottom", fontsize=8 if mark.startswith("n=") else 9,
                        color=bars.patches[0].get_facecolor() if mark.startswith("n=") else "black")
    ax.set_xticks(x)
    ax.set_xticklabels(buckets)
    ax.set_ylabel(comparison.metric)
    ax.set_title(f"{comparison.metric} per bucket (baseline {comparison.baseline}; 95% CI)")
    ax.legend(fontsize=8)
    return ax


def plot_report_buckets(summary: dict, metric: str = "ndcg@10", ax=None):
    """Bars of one report's ``metric`` per view.

    ``summary``: the dict of :func:`gbltr.evaluate.views.summarise` or a report.json's
    ``"metrics"`` ({"overall": {"ndcg@10": ...}, "high": {...}, ...}).
    """
    views = view_order(summary)
    views = [v for v in views if v in summary]
    missing = [v for v in views if metric not in summary[v]]
    if missing:
        raise ConfigError(f"plot_report_buckets: no {metric!r} in view(s) {missing}; found {list(summary[views[0]])}")
    ax = ax if ax is not None else new_axes()
    values = [float("nan") if summary[v][metric] is None else summary[v][metric] for v in views]
    ax.bar(views, values)
    ax.set_ylabel(metric)
    return ax


def plot_weight_function(prep, path=None, ax=None, fusion=None):
    """FAMOL's click weight w(f) and LLM weight 1 - w(f) against training-query frequency.

    ``prep``: a :class:`gbltr.pipeline.Prepared`; the training queries are drawn as a rug so
    the reader sees where the weight function actually acts. Saves to ``path`` when given.
    ``fusion``: the :class:`gbltr.labels.fusion.FusionConfig` to draw (default the config's; with
    ``weight_fn = "auto"`` pass the one the search chose).
    """
    import numpy as np

    cfg = prep.config
    fusion = fusion if fusion is not None else cfg.fusion
    ax = ax if ax is not None else new_axes((6.0, 3.6))
    freq = prep.train.frequency_or_zero()
    grid = np.unique(np.concatenate([[0], np.geomspace(1, max(freq.max(initial=1), 2), 200)]))
    w = fusion.weights(grid, **prep.weight_context())
    x = np.log1p(grid)
    ax.plot(x, w, label="click weight w(f)")
    ax.plot(x, 1 - w, label="LLM weight 1 - w(f)")
    ax.plot(np.log1p(freq), np.full(freq.shape, -0.03), "|", color="grey", alpha=0.3, label="training queries")
    for t in (prep.buckets.medium_min, prep.buckets.high_min):  # the thresholds resolved for this log
        ax.axvline(np.log1p(t), color="black", lw=0.5, ls=":")
    ax.set_xlabel("log(1 + frequency)")
    ax.set_ylabel("loss weight")
    ax.set_ylim(-0.06, 1.04)
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in fusion.resolved_params().items()}
    chosen = " (chosen on validation)" if cfg.fusion.weight_fn != fusion.weight_fn else ""
    ax.set_title(f"FAMOL weight function: {fusion.weight_fn} {shown}{chosen}", fontsize=9)
    ax.legend(fontsize=8, loc="center right")
    if path is not None:
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    return ax


def _panels(n: int, size=(4.2, 3.4), ncols: int | None = None):
    """``n`` Axes on one Agg-backed Figure (for report files; notebooks pass their own ``ax``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = ncols or n
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    FigureCanvasAgg(fig)
    return [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]


def heatmap(matrix, rows, cols, ax=None, *, text=None, cmap="RdBu", center: float | None = 0.0, label: str = ""):
    """A heatmap of ``matrix`` [len(rows), len(cols)] (NaN = no value, drawn grey) with cell
    ``text`` (same shape; default: the values to 3 decimals). ``center``: the value at the middle
    of a diverging colour map (None: the data range). Returns the Axes."""
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    ax = ax if ax is not None else new_axes((1.6 + 1.3 * len(cols), 0.9 + 0.42 * len(rows)))
    finite = m[np.isfinite(m)]
    if center is not None:
        span = float(np.abs(finite - center).max()) if finite.size else 1.0
        span = span or 1.0
        vmin, vmax = center - span, center + span
    else:
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="#d9d9d9")
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            t = text[i][j] if text is not None else ("n/a" if not np.isfinite(m[i, j]) else f"{m[i, j]:.3f}")
            if center is not None:  # diverging: dark at both ends
                dark = np.isfinite(m[i, j]) and abs(m[i, j] - (vmin + vmax) / 2) > 0.35 * (vmax - vmin)
            else:  # sequential (viridis): dark at the low end
                dark = np.isfinite(m[i, j]) and m[i, j] < vmin + 0.5 * (vmax - vmin)
            ax.text(j, i, t, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.figure.colorbar(im, ax=ax, label=label, fraction=0.046, pad=0.04)
    return ax


def plot_ablation_heatmap(result, ax=None):
    """Δ metric when a group is removed: rows (label source, group), columns views (overall and
    buckets); cells carry the Δ and randomisation-test stars, or ``n=N`` (grey) where a view has too
    few queries for a test (:data:`gbltr.buckets.MIN_TEST_QUERIES`). ``result``: a :class:`gbltr.analysis.ablation.AblationResult`."""
    views = result.views
    rows, matrix, text = [], [], []
    for lab in result.labels:
        for g in result.groups:
            rows.append(f"{lab}: -{g}")
            tests = [result.delta(lab, g, v) for v in views]
            matrix.append([t.delta if t.ok else float("nan") for t in tests])
            text.append([t.short_cell() for t in tests])
    ax = heatmap(matrix, rows, views, ax, text=text, label=f"Δ {result.metric} when the group is removed")
    ax.set_title(f"Feature-group ablation: Δ {result.metric} (label source × group × bucket)", fontsize=9)
    return ax


def plot_shap_shares(result, ax=None, *, within: bool = False):
    """TreeSHAP share per (label source, group) and view (``within``: within-query centred)."""
    col = "shap_share_within" if within else "shap_share"
    sg = {(r["labels"], r["group"], r["view"]): r[col] for r in result.shap_groups().iter_rows(named=True)}
    views = result.views
    keys = list(dict.fromkeys((lab, g) for lab, g, _ in sg))
    matrix = [[sg.get((lab, g, v), float("nan")) for v in views] for lab, g in keys]
    ax = heatmap(matrix, [f"{lab}: {g}" for lab, g in keys], views, ax, cmap="viridis", center=None,
                 text=[[f"{x:.0%}" for x in row] for row in matrix], label="share of mean |SHAP|")
    ax.set_title("TreeSHAP share by group" + (" (within-query)" if within else ""), fontsize=9)
    return ax


def plot_permutation(result, ax=None):
    """Δ nDCG@k when each group's columns are permuted, per (label source, group) and view."""
    views = result.views
    rows, matrix, text = [], [], []
    for lab, p in result.permutation.items():
        for g in dict.fromkeys(t.system for t in p.tests):
            tests = [next(t for t in p.tests if t.system == g and t.view == v) for v in views]
            rows.append(f"{lab}: {g}")
            matrix.append([t.delta if t.ok else float("nan") for t in tests])
            text.append([t.short_cell() for t in tests])
    k = next(iter(result.permutation.values())).k if result.permutation else 10
    ax = heatmap(matrix, rows, views, ax, text=text, label=f"Δ nDCG@{k} when permuted")
    ax.set_title("Permutation importance", fontsize=9)
    return ax


def plot_attribution(result):
    """The attribution figure of the report: TreeSHAP shares and permutation importance side by
    side; returns the first Axes (its ``figure`` holds both)."""
    n = (result.shap is not None) + bool(result.permutation)
    axes = _panels(max(n, 1), size=(6.5, 0.9 + 0.42 * len(result.labels) * 3))
    i = 0
    if result.shap is not None:
        plot_shap_shares(result, ax=axes[i])
        i += 1
    if result.permutation:
        plot_permutation(result, ax=axes[i])
    axes[0].figure.tight_layout()
    return axes[0]


def plot_true_negatives(tn, ax=None, *, top: int = 10, tops=None):
    """Share of test queries with a true negative in the top ``top``, per label source and view.
    ``tn``: a :class:`gbltr.analysis.true_negatives.TrueNegatives`. Without ``ax`` one panel per
    depth in ``tops`` is drawn and the first returned; ``tops`` defaults to the depths the summary
    reports (its ``reach@k`` columns; :data:`gbltr.analysis.true_negatives.TOPS`)."""
    import numpy as np


    if ax is None:
        if tops is None:
            tops = [int(c.split("@", 1)[1]) for c in tn.summary.columns if c.startswith("reach@")]
        if not tops:
            raise ConfigError(f"plot_true_negatives: expected reach@k columns in the summary, found "
                              f"{tn.summary.columns}; pass tops= or a TrueNegatives summary")
        axes = _panels(len(tops), size=(4.0, 3.2))
        for a, t in zip(axes, tops):
            plot_true_negatives(tn, ax=a, top=t)
        axes[0].figure.tight_layout()
        return axes[0]
    s = tn.summary
    labels = list(dict.fromkeys(s["labels"].to_list()))
    views = list(dict.fromkeys(s["view"].to_list()))
    x = np.arange(len(views))
    width = 0.8 / max(1, len(labels))
    for i, lab in enumerate(labels):
        part = s.filter(s["labels"] == lab)
        vals = dict(zip(part["view"].to_list(), part[f"reach@{top}"].to_list()))
        ax.bar(x - 0.4 + width * (i + 0.5), [vals.get(v, np.nan) for v in views], width, label=lab)
    ax.set_xticks(x, views)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"queries with a true negative in the top {top}")
    ax.set_title(f"{tn.k} true negatives per list: reach top {top}", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_label_distributions(ld, ax=None, *, view: str = "overall"):
    """Share of labelled pairs per grade and source in one view. ``ld``: a
    :class:`gbltr.analysis.label_distributions.LabelDistributions`. Without ``ax`` one panel per
    view plus a kappa heatmap is drawn and the first returned."""
    import numpy as np

    h = ld.histograms
    if ax is None:
        views = list(dict.fromkeys(h["view"].to_list()))
        axes = _panels(len(views) + 1, size=(3.8, 3.2), ncols=min(3, len(views) + 1))
        for a, v in zip(axes, views):
            plot_label_distributions(ld, ax=a, view=v)
        plot_agreement(ld, ax=axes[-1])
        axes[0].figure.tight_layout()
        return axes[0]
    part = h.filter(h["view"] == view)
    sources = list(dict.fromkeys(part["source"].to_list()))
    grades = sorted(set(h["grade"].to_list()))
    x = np.arange(len(grades))
    width = 0.8 / max(1, len(sources))
    for i, src in enumerate(sources):
        p = part.filter(part["source"] == src)
        share = dict(zip(p["grade"].to_list(), p["share"].to_list()))
        ax.bar(x - 0.4 + width * (i + 0.5), [share.get(g, 0.0) for g in grades], width, label=src)
    ax.set_xticks(x, [str(g) for g in grades])
    ax.set_xlabel("grade")
    ax.set_ylabel("share of labelled pairs")
    ax.set_title(f"label grades: {view}", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_agreement(ld, ax=None):
    """Cohen's kappa per pair of label sources (rows) and view (columns); ``n/a`` where a view
    has too few shared pairs."""
    kt = ld.kappa_table()
    if kt.height == 0:  # one label source: nothing to agree with
        ax = ax if ax is not None else new_axes((3.8, 3.2))
        sources = sorted(set(ld.histograms["source"].to_list()))
        ax.text(0.5, 0.5, f"no pair of label sources to compare\n(sources: {', '.join(sources) or 'none'})",
                ha="center", va="center", fontsize=8, transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title("agreement on shared pairs", fontsize=9)
        return ax
    pairs = list(dict.fromkeys(kt["pair"].to_list()))
    views = list(dict.fromkeys(kt["view"].to_list()))
    val = {(r["pair"], r["view"]): r["kappa"] for r in kt.iter_rows(named=True)}
    matrix = [[float("nan") if val.get((p, v)) is None else val[(p, v)] for v in views] for p in pairs]
    ax = heatmap(matrix, pairs, views, ax, cmap="viridis", center=None, label="Cohen's kappa")
    ax.set_title("agreement on shared pairs", fontsize=9)
    return ax


def plot_annotator_agreement(report, axes=None, *, title: str = ""):
    """Human and LLM label shares side by side, kappa in the title. ``report``: an
    :class:`gbltr.labels.llm.agreement.Agreement` (``gbltr annotate --compare-to``). Returns the two Axes."""
    axes = axes if axes is not None else _panels(2, size=(4.0, 3.0))
    for ax, hist, name in ((axes[0], report.human_hist, "human"), (axes[1], report.llm_hist, "LLM")):
        keys = list(hist)
        total = max(1, sum(hist.values()))
        ax.bar(keys, [hist[k] / total for k in keys], color="tab:blue" if name == "human" else "tab:orange")
        ax.set_xlabel(f"{name} label")
        ax.set_ylabel("share of pairs")
        ax.set_title(f"{name} (n={sum(hist.values())})")
    kappa = "n/a" if report.kappa is None else f"{report.kappa:.3f}"
    kb = "n/a" if report.kappa_binary is None else f"{report.kappa_binary:.3f}"
    fig = axes[0].figure
    fig.suptitle(f"{title} kappa={kappa}, binary kappa={kb}".strip())
    fig.tight_layout()
    return axes


def plot_experiment(result, ax=None):
    """Each setup's mean (± std over seeds) per view. ``result``: a
    :class:`gbltr.experiment.ExperimentResult`."""
    import numpy as np

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
    ax.set_title(f"{counted(len(s['seeds']), 'seed')} per setup", fontsize=9)
    return ax


def plot_budget_curves(result, axes=None):
    """Budget curves: one panel per view, the metric (mean ± std over seeds) against the share of
    LLM labels or the dollars spent on them (``result.unit``) on a log axis, a line per planner, the full-label run as a dashed line. ``result``:
    a :class:`gbltr.analysis.budget_curves.BudgetCurves`. Returns the first Axes."""
    s = result.summary
    views = s["views"]
    axes = axes if axes is not None else _panels(len(views), ncols=min(4, len(views)))
    for ax, view in zip(axes, views):
        res = s["results"][view]
        for planner in s["planners"]:
            means = [res[result.setup(planner, b)]["mean"] for b in s["budgets"]]
            stds = [res[result.setup(planner, b)]["std"] for b in s["budgets"]]
            ax.errorbar(s["budgets"], means, yerr=stds, marker="o", ms=3, capsize=2, label=planner)
        ax.axhline(res["full"]["mean"], color="k", ls="--", lw=1, label="full")
        ax.set_xscale("log")
        ax.set_xticks(s["budgets"], [result.label(b) for b in s["budgets"]])
        ax.minorticks_off()
        ax.set_xlabel("dollars spent on LLM labels (log axis)" if result.unit == "usd" else "share of LLM labels (log axis)")
        ax.set_title(view, fontsize=9)
    axes[0].set_ylabel(f"{result.metric} (mean ± std over {counted(len(s['seeds']), 'seed')})")
    axes[0].legend(fontsize=7)
    return axes[0]
