"""Compare run folders per frequency bucket with paired significance tests.

A run folder (written by ``gbltr fit`` / ``experiment``) holds:

``report.json``        {"name": str (optional; default: the folder name), "metrics": {"overall":
                       {"ndcg@10": ...}, "high": {...}, ...}, "n_queries": {...}, ...}
``per_query.parquet``  query_id (String), bucket (String: high / medium / low, optional),
                       ndcg@1, ndcg@3, ndcg@5, ndcg@10 (Float64, NaN = the query cannot rank),
                       excluded (String, optional: null, or why: no_relevant / single_grade)

Means are recomputed from ``per_query.parquet`` (per-query values are the primitive; the
report's means are not trusted). Every run must cover exactly the same query_ids with the same
buckets as the baseline, and runs whose reports record different ``dataset_fingerprint`` values
(:func:`gbltr.data.store.fingerprint`) are refused; a run without one (older or hand-made) is
compared with a warning on stderr. Per view (overall, then each bucket, as in
:mod:`gbltr.evaluate.views`) the comparison gives each run's mean with a 95% t confidence
interval (clipped to what the metric can take, :data:`gbltr.evaluate.metrics.METRIC_BOUNDS`),
its delta against the baseline and the paired t-test and randomisation-test p-values
(Smucker, Allan & Carterette 2007; see :mod:`gbltr.evaluate.significance`). A view with fewer
than :data:`gbltr.buckets.MIN_TEST_QUERIES` scored queries gets neither interval nor test: its
cells show its ``n``, and the Markdown lists it under a note.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.buckets import MIN_TEST_QUERIES
from gbltr.checkpoint import checkpoint
from gbltr.inputs import read_document, read_parquet
from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.evaluate.metrics import METRIC_BOUNDS, check_metric
from gbltr.evaluate.significance import DEFAULT_PERMUTATIONS, paired_by_view, stars
from gbltr.evaluate.views import exclusion_counts, long_views, view_order
from gbltr.folders import Input, check_run_folder, run_folder
from gbltr.track import is_model_uri

log = logging.getLogger("gbltr")

REPORT_FILE = "report.json"
PER_QUERY_FILE = "per_query.parquet"


@dataclass(frozen=True)
class Run:
    """One run folder: its name, path, report (dict) and per-query frame."""

    name: str
    path: Path
    report: dict
    per_query: pl.DataFrame

    @classmethod
    def from_dir(cls, path: str | Path) -> Run:
        """A run folder, or a registered model ``models:/NAME/VERSION`` logged by ``gbltr fit
        --mlflow`` (its run-folder files are stored beside it: :mod:`gbltr.track.registry`)."""
        if is_model_uri(path):
            from dataclasses import replace

            from gbltr.track.registry import registered_folder

            with registered_folder(str(path)) as folder:
                return replace(cls.from_dir(folder), path=Path(str(path)))
        p = Path(path)
        if not p.is_dir():
            raise DataError(f"run folder {str(p)!r}: expected a directory, found none")
        pq = p / PER_QUERY_FILE
        if not pq.is_file():
            found = sorted(x.name for x in p.iterdir())
            raise DataError(
                f"run folder {str(p)!r}: expected {PER_QUERY_FILE}, found {found}; "
                "is this the output folder of `gbltr fit`?"
            )
        report: dict = {}
        rp = p / REPORT_FILE
        if rp.is_file():
            report = read_document(rp, "run report", "the report of a `gbltr fit` run", fmt="json")
        name = report.get("name") or p.resolve().name
        frame = read_parquet(pq, "run table", expected="a Parquet table of per-query metrics (rerun `gbltr fit` "
                             "for this run)")
        if "query_id" not in frame.columns:
            raise SchemaError(f"{pq}: missing column 'query_id'; found {frame.columns}")
        frame = frame.with_columns(pl.col("query_id").cast(pl.String))
        if frame["query_id"].is_duplicated().any():
            dup = frame.filter(pl.col("query_id").is_duplicated())["query_id"].unique().head(3).to_list()
            raise SchemaError(f"{pq}: expected one row per query_id, found duplicates, e.g. {dup}")
        return cls(name=str(name), path=p, report=report, per_query=frame)


@dataclass(frozen=True)
class BucketResult:
    """One run in one view (``bucket``: overall / high / medium / low).

    ``n_queries`` counts the view's queries, ``n_no_relevant`` and ``n_single_grade`` those that
    cannot rank (NaN, excluded from ``mean``; counted as in :func:`gbltr.evaluate.views.exclusion_counts`);
    ``ci_low``/``ci_high`` is the 95% t interval of the mean clipped to the metric's range (None
    below :data:`~gbltr.buckets.MIN_TEST_QUERIES` scored queries). ``delta``, ``t_p``, ``rand_p``
    and ``n_paired`` compare with the baseline (None for the baseline itself, and below the minimum).
    """

    bucket: str
    run: str
    n_queries: int
    n_no_relevant: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n_single_grade: int = 0
    delta: float | None = None
    t_p: float | None = None
    rand_p: float | None = None
    n_paired: int | None = None

    @property
    def n_scored(self) -> int:
        """Queries the mean is over (those that can rank)."""
        return self.n_queries - self.n_no_relevant - self.n_single_grade

    @property
    def too_few(self) -> bool:
        """Fewer scored queries than :data:`~gbltr.buckets.MIN_TEST_QUERIES`: no interval, no test."""
        return self.n_scored < MIN_TEST_QUERIES


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def mean_ci(values: np.ndarray, bounds: tuple[float, float] = METRIC_BOUNDS,
            min_queries: int = MIN_TEST_QUERIES) -> tuple[float | None, float | None, float | None]:
    """Mean of the finite ``values`` and its 95% t interval, clipped to ``bounds`` (what the metric
    can take); the interval is None with fewer than ``min_queries`` finite values."""
    from scipy import stats

    v = values[np.isfinite(values)]
    if v.size == 0:
        return None, None, None
    m = float(v.mean())
    if v.size < max(min_queries, 2):
        return m, None, None
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, max(bounds[0], m - half), min(bounds[1], m + half)


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_runs`: one :class:`BucketResult` per (view, run)."""

    metric: str
    baseline: str
    runs: tuple[str, ...]
    results: tuple[BucketResult, ...]
    n_permutations: int
    seed: int

    @property
    def buckets(self) -> list[str]:
        return view_order({r.bucket for r in self.results})

    def result(self, bucket: str, run: str) -> BucketResult:
        for r in self.results:
            if r.bucket == bucket and r.run == run:
                return r
        raise ConfigError(
            f"no result for bucket {bucket!r} and run {run!r}; buckets: {self.buckets}, runs: {list(self.runs)}"
        )

    def to_frame(self) -> pl.DataFrame:
        """One row per (bucket, run), the fields of :class:`BucketResult`."""
        return pl.DataFrame([asdict(r) for r in self.results], infer_schema_length=None)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "runs": list(self.runs),
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            "min_test_queries": MIN_TEST_QUERIES,
            "too_few_queries": self.small_views(),
            "results": [{k: _clean(v) for k, v in asdict(r).items()} for r in self.results],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def small_views(self) -> dict[str, int]:
        """Views with fewer than :data:`~gbltr.buckets.MIN_TEST_QUERIES` scored queries -> that count."""
        return {b: self.result(b, self.baseline).n_scored for b in self.buckets
                if self.result(b, self.baseline).too_few}

    def small_view_notes(self) -> list[str]:
        small = self.small_views()
        if not small:
            return []
        listed = ", ".join(f"{b} (n={n})" for b, n in small.items())
        return [f"**Too few queries for a confidence interval or a significance test** (fewer than "
                f"{MIN_TEST_QUERIES} queries that can rank): {listed}. Their means are shown; their CIs and "
                "p-values are not.", ""]

    def to_markdown(self) -> str:
        def f(x, spec=".4f"):
            return "—" if x is None else format(x, spec)

        def p(x):
            return "—" if x is None else ("<0.0001" if x < 1e-4 else f"{x:.4f}")

        lines = [
            f"Comparison of {self.metric} (baseline: {self.baseline}; paired t-test and randomisation "
            f"test, {self.n_permutations} permutations, seed {self.seed})",
            "",
            *self.small_view_notes(),
            f"| bucket | run | queries (no rel., single grade) | mean | 95% CI | Δ vs {self.baseline} | t-test p | rand. p |",
            "|---|---|---:|---:|---|---:|---:|---:|",
        ]
        for b in self.buckets:
            for run in self.runs:
                r = self.result(b, run)
                ci = (f"n={r.n_scored} < {MIN_TEST_QUERIES}" if r.too_few else "—" if r.ci_low is None
                      else f"[{r.ci_low:.4f}, {r.ci_high:.4f}]")
                delta = "—" if r.delta is None else f"{r.delta:+.4f}{stars(r.rand_p)}"
                lines.append(
                    f"| {b} | {run} | {r.n_queries} ({r.n_no_relevant}, {r.n_single_grade}) | {f(r.mean)} | {ci} | "
                    f"{delta} | {p(r.t_p)} | {p(r.rand_p)} |"
                )
        lines += [
            "",
            "Queries that cannot rank (no relevant document, or one grade only) are excluded from means and tests. "
            "Stars (randomisation test): * p < 0.05, ** p < 0.01, *** p < 0.001.",
        ]
        return "\n".join(lines) + "\n"


def _check_same_queries(runs: list[Run], base: Run, metric: str) -> None:
    for run in runs:
        check_metric(metric, run.per_query, where=f"the metric columns of run {run.name!r}, {run.path}/{PER_QUERY_FILE}",
                     fix="pass one of them as --metric")
    base_ids = set(base.per_query["query_id"].to_list())
    for run in runs:
        if run is base:
            continue
        ids = set(run.per_query["query_id"].to_list())
        if ids != base_ids:
            lacks = sorted(base_ids - ids)
            extra = sorted(ids - base_ids)
            raise DataError(
                f"runs are not over the same test queries: expected run {run.name!r} to have the "
                f"{len(base_ids)} query_ids of baseline {base.name!r}, found {len(ids)}: it lacks "
                f"{len(lacks)} (e.g. {lacks[:3]}) and has {len(extra)} others (e.g. {extra[:3]}); "
                "evaluate every run on the same test split"
            )
        if "bucket" in base.per_query.columns or "bucket" in run.per_query.columns:
            if "bucket" not in base.per_query.columns or "bucket" not in run.per_query.columns:
                raise SchemaError(
                    f"runs {base.name!r} and {run.name!r}: only one has a 'bucket' column; "
                    "expected both or neither"
                )
            j = base.per_query.select("query_id", "bucket").join(
                run.per_query.select("query_id", pl.col("bucket").alias("_other")), on="query_id"
            )
            diff = j.filter(pl.col("bucket").ne_missing(pl.col("_other")))
            if diff.height:
                raise DataError(
                    f"runs {base.name!r} and {run.name!r} put {diff.height} query(ies) in different "
                    f"buckets, e.g. {diff.row(0, named=True)}; expected the same query statistics "
                    "table for every run"
                )


def _check_same_dataset(runs: list[Run]) -> None:
    """Refuse runs whose reports record different dataset fingerprints (same ids, other data)."""
    prints = {r.name: r.report.get("dataset_fingerprint") for r in runs}
    known = {n: fp for n, fp in prints.items() if isinstance(fp, dict) and fp.get("sha1")}
    if len({fp["sha1"] for fp in known.values()}) > 1:
        (n1, a), *rest = known.items()
        n2, b = next((n, fp) for n, fp in rest if fp["sha1"] != a["sha1"])
        files = sorted(f for f in set(a.get("files", {})) | set(b.get("files", {}))
                       if a.get("files", {}).get(f) != b.get("files", {}).get(f))
        raise DataError(
            f"runs {n1!r} and {n2!r} were made on different datasets (fingerprints {a['sha1']} and "
            f"{b['sha1']}; differing files: {files}); expected runs on the same dataset. Shared query "
            "ids do not make them comparable: rerun both on one dataset folder"
        )
    missing = [n for n in prints if n not in known]
    if missing:
        log.warning("compare: run(s) %s record no dataset fingerprint (older gbltr or hand-made); "
                    "cannot check that every run saw the same dataset", missing)


def _distinct_names(runs: list[Run]) -> list[Run]:
    """Runs whose report names collide (same labels, other seed) get ``name [folder]`` (a registered
    model: ``name [models:/NAME/VERSION]``), then the path."""
    from dataclasses import replace

    def short(r: Run) -> str:  # the folder's name, or a registered model's whole models:/NAME/VERSION
        return str(r.path) if is_model_uri(r.path) else r.path.name

    for label in (lambda r: f"{r.name} [{short(r)}]", lambda r: f"{r.name} [{r.path}]"):
        names = [r.name for r in runs]
        if len(set(names)) == len(names):
            return runs
        runs = [replace(r, name=label(r)) if names.count(r.name) > 1 else r for r in runs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"compare: expected distinct run folders, found {dup} more than once")
    return runs


def _pick_baseline(runs: list[Run], baseline: str | None) -> Run:
    if baseline is None:
        return runs[0]
    for run in runs:
        if baseline == run.name:
            return run
    for run in runs:
        if Path(baseline).resolve() == run.path.resolve():
            return run
    raise ConfigError(
        f"unknown baseline {baseline!r}; choose one of: {', '.join(r.name for r in runs)} "
        "(a run name or folder)"
    )


def compare_runs(
    run_dirs,
    out_dir: str | Path | None = None,
    *,
    baseline: str | None = None,
    metric: str = "ndcg@10",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    tracking=None,
) -> Comparison:
    """Compare run folders per view; write comparison.md/.json/.png into ``out_dir`` if given.

    ``run_dirs``: two or more run folders (see the module docstring); a run is named by its
    report.json ``name``, else its folder name, and names that collide get `` [folder]``
    appended. ``baseline``: a run name or folder (default: the first run). Raises :class:`DataError` when the runs do not cover
    the same query_ids and buckets. A run may be a registered model ``models:/NAME/VERSION``.
    ``tracking`` (:class:`gbltr.track.TrackingConfig`): also log the comparison to MLflow (each run's
    mean and Δ per view as metrics, the written files as artefacts).
    """
    from gbltr.track.runs import tracked

    with tracked(tracking, name=Path(out_dir).name if out_dir is not None else "compare", command="compare") as track:
        comparison = _compare(run_dirs, out_dir, baseline=baseline, metric=metric, n_permutations=n_permutations,
                              seed=seed, track=track)
        track.log_views(_comparison_views(comparison))
        if out_dir is not None:
            track.log_files(Path(out_dir), ("comparison.md", "comparison.json"))
    return comparison


def _comparison_views(comparison: Comparison) -> dict:
    """``{view: {"RUN/METRIC": mean, "RUN/delta METRIC": Δ}}`` of a comparison, for MLflow."""
    views: dict = {}
    for r in comparison.results:
        views.setdefault(r.bucket, {})[f"{r.run}/{comparison.metric}"] = r.mean
        if r.delta is not None:
            views[r.bucket][f"{r.run}/delta {comparison.metric}"] = r.delta
    return views


def _compare(run_dirs, out_dir, *, baseline, metric, n_permutations, seed, track) -> Comparison:
    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ConfigError(f"compare: expected two or more run folders, found {len(dirs)}")
    if out_dir is not None:
        check_run_folder(out_dir, **_comparison_folder(dirs))
    runs = _distinct_names([Run.from_dir(d) for d in dirs])
    names = [r.name for r in runs]
    base = _pick_baseline(runs, baseline)
    _check_same_dataset(runs)
    _check_same_queries(runs, base, metric)
    checkpoint("compare")
    track.log_params({"runs": [str(d) for d in dirs], "baseline": base.name, "metric": metric,
                      "permutations": n_permutations, "seed": seed})
    track.log_tags({"gbltr.dataset_fingerprint": next((r.report["dataset_fingerprint"]["sha1"] for r in runs
                                                       if r.report.get("dataset_fingerprint")), "")})

    cols = ["query_id"] + (["bucket"] if "bucket" in base.per_query.columns else [])
    frames = [
        base.per_query.select(cols).join(
            run.per_query.select("query_id", pl.col(metric).cast(pl.Float64).fill_null(float("nan")),
                                 *(["excluded"] if "excluded" in run.per_query.columns else [])),
            on="query_id",
        ).with_columns(pl.lit(run.name).alias("_run"))
        for run in runs
    ]
    per_query = pl.concat(frames, how="diagonal_relaxed")
    tests = {(t.view, t.system): t for t in paired_by_view(
        per_query, system="_run", baseline=base.name, metric=metric, n_permutations=n_permutations, seed=seed)}
    long = long_views(per_query, bucket_col="bucket")
    results: list[BucketResult] = []
    for view in view_order(long["view"].unique().to_list()):
        part = long.filter(pl.col("view") == view)
        for run in runs:
            mine = part.filter(pl.col("_run") == run.name)
            if "excluded" not in run.per_query.columns:
                mine = mine.drop("excluded", strict=False)
            counts = mine.select(exclusion_counts(mine, metric)).row(0, named=True)
            vals = mine[metric].to_numpy()
            mean, lo, hi = mean_ci(vals)
            extra: dict = {}
            t = tests.get((view, run.name))
            if t is not None and t.ok:
                extra = {"delta": t.delta, "t_p": t.t_p, "rand_p": t.rand_p, "n_paired": t.n}
            results.append(
                BucketResult(
                    bucket=view,
                    run=run.name,
                    n_queries=int(vals.size),
                    n_no_relevant=int(counts["n_no_relevant"]),
                    n_single_grade=int(counts["n_single_grade"]),
                    mean=mean,
                    ci_low=lo,
                    ci_high=hi,
                    **extra,
                )
            )
    comparison = Comparison(
        metric=metric,
        baseline=base.name,
        runs=tuple(names),
        results=tuple(results),
        n_permutations=n_permutations,
        seed=seed,
    )
    if out_dir is not None:
        write_comparison(comparison, out_dir, dirs)
    return comparison


def _comparison_folder(run_dirs=()) -> dict:
    """How a comparison folder is claimed (:func:`gbltr.folders.run_folder`): its own folder,
    replaced whole by the next comparison; never a run folder or another command's folder, and
    never one of the runs it reads."""
    return dict(overwrite=True, marker="comparison.json", kind="comparison folder", command="compare",
                inputs=[Input(d, "run folder") for d in run_dirs if not is_model_uri(d)])


def write_comparison(comparison: Comparison, out_dir: str | Path, run_dirs=()) -> dict[str, Path]:
    """Write comparison.md, comparison.json and comparison.png into ``out_dir`` (atomically:
    :func:`_comparison_folder`); return the paths."""
    from gbltr.plots import new_axes, plot_bucket_bars

    out = Path(out_dir)
    names = {"markdown": "comparison.md", "json": "comparison.json", "png": "comparison.png"}
    with run_folder(out, **_comparison_folder(run_dirs)) as tmp:
        (tmp / names["markdown"]).write_text(comparison.to_markdown())
        (tmp / names["json"]).write_text(comparison.to_json() + "\n")
        width = max(5.0, 1.0 + 0.6 * len(comparison.buckets) * len(comparison.runs))
        ax = plot_bucket_bars(comparison, ax=new_axes(figsize=(width, 4.0)))
        ax.figure.savefig(tmp / names["png"], dpi=120, bbox_inches="tight")
    return {k: out / v for k, v in names.items()}
