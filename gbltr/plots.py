"""Plots of gbltr reports and comparisons.

Each function takes a report or comparison object, accepts ``ax=`` and returns the Axes it drew
on. matplotlib is imported inside the functions (``import gbltr`` must not import it). Without
``ax`` a new figure is made on the non-interactive Agg canvas, without touching pyplot's global
state; in a notebook pass ``ax`` from ``plt.subplots()`` to have it displayed.
"""

from __future__ import annotations

from gbltr.errors import ConfigError


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
    carry the randomisation-test stars (* p < 0.05, ** p < 0.01, *** p < 0.001).
    """
    import numpy as np

    from gbltr.evaluate.compare import stars

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
        lo = np.array([0.0 if r.ci_low is None else r.mean - r.ci_low for r in res])
        hi = np.array([0.0 if r.ci_high is None else r.ci_high - r.mean for r in res])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, means, width, yerr=np.vstack([lo, hi]), capsize=3, label=run)
        for p, m, h, r in zip(pos, means, hi, res):
            mark = stars(r.rand_p)
            if mark and np.isfinite(m):
                ax.text(p, m + h, mark, ha="center", va="bottom", fontsize=9)
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
    from gbltr.evaluate.views import view_order

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
    freq = prep.train.frequency if prep.train.frequency is not None else np.zeros(prep.train.n_queries)
    grid = np.unique(np.concatenate([[0], np.geomspace(1, max(freq.max(initial=1), 2), 200)]))
    kw = dict(high_min=cfg.buckets.high_min, medium_min=cfg.buckets.medium_min, f_max=float(max(freq.max(initial=0), 1)))
    w = fusion.weights(grid, **kw)
    x = np.log1p(grid)
    ax.plot(x, w, label="click weight w(f)")
    ax.plot(x, 1 - w, label="LLM weight 1 - w(f)")
    ax.plot(np.log1p(freq), np.full(freq.shape, -0.03), "|", color="grey", alpha=0.3, label="training queries")
    for t in (cfg.buckets.medium_min, cfg.buckets.high_min):
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
