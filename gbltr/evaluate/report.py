"""Run folders: what ``gbltr fit`` leaves behind.

::

    RUN/
      report.json        {"name", "labels", "backend", "protocol", "metrics": {"overall": {"ndcg@10": ...},
                          "high": {...}, "medium": {...}, "low": {...}}, "n_queries": {...},
                          "n_no_relevant": {...}, "best_iteration", "training": {...}, ...}
      report.md          the same, for people
      per_query.parquet  query_id, bucket, frequency, ndcg@1, ndcg@3, ndcg@5, ndcg@10 (NaN = no relevant document)
      model.txt | model.json   the native LightGBM / XGBoost model
      config.json        the resolved configuration (reloads with --config)
      weights.png        FAMOL only: the frequency weight function over the training queries

Metric convention: :mod:`gbltr.evaluate.metrics` (exponential gain, queries without a relevant
document excluded from means and counted in ``n_no_relevant``).

Run folders are atomic (:func:`run_folder`): the files are written into a temporary sibling
``.RUN.tmp-XXXXXXXX`` and renamed into place, so a reader sees the old folder or the whole new
one, never a mix. An existing non-empty folder is refused unless ``overwrite=True``
(``--overwrite``), which replaces it whole (no stale file of the old run survives). While a run
is being made, ``.RUN.lock`` (holding the process id) beside it makes a second run to the same
folder fail at once instead of both finishing and one being lost. ``report.json`` records
``dataset_fingerprint`` (:func:`gbltr.data.store.fingerprint`), which ``gbltr compare`` checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

import polars as pl

from gbltr.data.store import fingerprint
from gbltr.errors import ConfigError
from gbltr.evaluate.views import summarise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_lock(lock: Path, out: Path) -> None:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if pid > 0 and _pid_alive(pid):
                raise ConfigError(
                    f"run folder {str(out)!r} is being written by another gbltr process (pid {pid}, lock "
                    f"{lock}); expected one run per folder: wait for it or choose another --out"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as exc:
            raise ConfigError(
                f"run folder {str(out)!r}: cannot write in {str(out.parent)!r} ({exc.strerror}); "
                "expected a writable output folder (choose another --out)"
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return
    raise ConfigError(f"run folder {str(out)!r}: could not take the lock {lock}; is another run starting?")


def check_run_folder(folder, *, overwrite: bool = False, marker: str = "report.json") -> Path:
    """Check, before any work, that run folder ``folder`` can be written; return it as an absolute path.

    Refused (:class:`ConfigError`): a path that is a file; a parent folder that cannot be created
    or written; an existing non-empty folder without ``overwrite``; and, even with
    ``overwrite``, a non-empty folder without ``marker`` (it is not a gbltr output folder, and
    replacing it whole would delete files gbltr did not write).
    """
    out = Path(folder).absolute()
    parent = out.parent
    if out == parent:
        raise ConfigError(f"run folder {str(folder)!r}: expected a folder below some parent, found the root")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"run folder {str(folder)!r}: cannot create {str(parent)!r} ({exc.strerror})") from None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run folder {str(folder)!r} exists and is not a folder; expected a folder path for --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"run folder {str(folder)!r}: {str(parent)!r} is not writable; expected a writable output "
            "folder (choose another --out)"
        )
    _check_occupied(out, folder, overwrite, marker)
    return out


def _check_occupied(out: Path, folder, overwrite: bool, marker: str) -> None:
    if _occupied(out):
        if not overwrite:
            raise ConfigError(
                f"run folder {str(folder)!r} already exists; pass --overwrite to replace it whole, or "
                "choose another --out"
            )
        if not (out / marker).exists():
            raise ConfigError(
                f"run folder {str(folder)!r} exists and holds no {marker}, so it is not a gbltr output "
                "folder; refusing to replace it (and the files in it): choose another --out"
            )


def _occupied(out: Path) -> bool:
    return out.is_dir() and any(out.iterdir())


@contextlib.contextmanager
def run_folder(folder, *, overwrite: bool = False, marker: str = "report.json"):
    """Claim run folder ``folder`` before any work and yield an empty temporary sibling to fill.

    Checks it at once (:func:`check_run_folder`) and takes ``.NAME.lock``. When the block ends
    normally the temporary folder replaces ``folder`` whole; on an error it is removed and
    ``folder`` is left as it was.
    """
    out = check_run_folder(folder, overwrite=overwrite, marker=marker)
    parent = out.parent

    def occupied() -> bool:
        return _occupied(out)

    lock = parent / f".{out.name}.lock"
    _take_lock(lock, out)
    try:
        _check_occupied(out, folder, overwrite, marker)  # again under the lock: a run may have just finished
    except ConfigError:
        lock.unlink(missing_ok=True)
        raise
    for leftover in (*parent.glob(f".{out.name}.tmp-*"), *parent.glob(f".{out.name}.old-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # of runs that were killed: a live run holds the lock
    tmp = parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        try:
            tmp.mkdir()
        except OSError as exc:
            raise ConfigError(f"run folder {str(out)!r}: cannot write in {str(parent)!r} ({exc.strerror})") from None
        yield tmp
        if occupied():
            if not overwrite:
                raise ConfigError(
                    f"run folder {str(out)!r} appeared while this run was working; pass --overwrite "
                    "to replace it, or choose another --out"
                )
            old = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.is_dir():
                out.rmdir()
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)


def build_report(prep, model, per_query: pl.DataFrame, *, name: str | None = None, train_seconds: float = 0.0) -> dict:
    cfg = prep.config
    metrics_cols = [c for c in per_query.columns if c.startswith("ndcg@")]
    views = summarise(per_query, metrics=metrics_cols)
    metrics = {v: {m: vals[m] for m in metrics_cols} for v, vals in views.items()}
    label_tag = cfg.labels if cfg.labels != "fused" else f"fused:{cfg.fusion.method}"
    report = {
        "name": name or f"{label_tag} ({cfg.train.backend})",
        "labels": cfg.labels,
        "fusion": cfg.fusion.to_summary() if cfg.labels == "fused" else None,
        "backend": cfg.train.backend,
        "device": cfg.train.device,
        "protocol": cfg.protocol,
        "seed": cfg.seed,
        "metrics": metrics,
        "n_queries": {v: vals["n_queries"] for v, vals in views.items()},
        "n_no_relevant": {v: vals["n_no_relevant"] for v, vals in views.items()},
        "best_iteration": model.best_iteration,
        "features": list(prep.feature_names),
        "dataset_fingerprint": fingerprint(prep.dataset_path),
        "dropped": prep.info.get("dropped", {}),
        "training": prep.info,
        "train_seconds": round(train_seconds, 2),
    }
    return report


def report_markdown(report: dict) -> str:
    lines = [f"# {report['name']}", ""]
    lines.append(
        f"labels `{report['labels']}`, backend `{report['backend']}` ({report['device']}), protocol "
        f"`{report['protocol']}`, seed {report['seed']}, {report['best_iteration']} boosting rounds kept."
    )
    lines.append("")
    views = list(report["metrics"])
    metrics = list(next(iter(report["metrics"].values())))
    lines.append("| view | queries | no relevant | " + " | ".join(metrics) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(metrics))
    for v in views:
        vals = " | ".join("-" if report["metrics"][v][m] is None else f"{report['metrics'][v][m]:.4f}" for m in metrics)
        lines.append(f"| {v} | {report['n_queries'][v]} | {report['n_no_relevant'][v]} | {vals} |")
    lines.append("")
    lines.append(
        "nDCG with exponential gain 2^rel - 1 and log2 discount; queries with no relevant document "
        "are excluded from the means and counted under 'no relevant'."
    )
    tr = report.get("training", {})
    if "no_gradient_click_queries" in tr:
        lines += ["", "Training queries whose click labels are all equal (no ranking gradient):", ""]
        for b, v in sorted(tr["no_gradient_click_queries"].items()):
            lines.append(f"- {b}: {v['no_gradient']} of {v['queries']}")
    lines += ["", "Training queries per bucket: " + json.dumps(tr.get("n_train_queries", {}))]
    for source, counts in tr.get("n_labelled_train_queries", {}).items():
        lines.append(f"Training queries with {source} labels: " + json.dumps(counts))
    dropped = {k: v for k, v in report.get("dropped", {}).items() if v}
    if dropped:
        lines += ["", "Counted by the validation pass (rows and queries left out or defaulted; gbltr.validate):", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(dropped.items())]
    fp = report.get("dataset_fingerprint")
    if fp:
        lines += ["", f"Dataset fingerprint: `{fp['sha1']}`"]
    return "\n".join(lines) + "\n"


def write_run(folder, prep, model, per_query: pl.DataFrame, *, name=None, train_seconds: float = 0.0,
              overwrite: bool = False) -> Path:
    """Write a run folder atomically (:func:`run_folder`); returns ``folder``."""
    with run_folder(folder, overwrite=overwrite) as tmp:
        write_run_files(tmp, prep, model, per_query, name=name, train_seconds=train_seconds)
    return Path(folder)


def write_run_files(out: Path, prep, model, per_query: pl.DataFrame, *, name=None, train_seconds: float = 0.0) -> Path:
    """The files of a run folder, written into ``out`` as they are (no atomicity of its own)."""
    out = Path(out)
    report = build_report(prep, model, per_query, name=name, train_seconds=train_seconds)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(report_markdown(report))
    per_query.write_parquet(out / "per_query.parquet")
    model.save(out)
    (out / "config.json").write_text(json.dumps(prep.config.to_json(), indent=2))
    if prep.config.labels == "fused" and prep.config.fusion.method == "famol":
        from gbltr.plots import plot_weight_function

        plot_weight_function(prep, path=out / "weights.png")
    return out


def write_outputs(out, stem: str, per_query: pl.DataFrame, summary: dict, markdown: str, ax) -> Path:
    """The files of a multi-run report (experiment, ablation): STEM.json, STEM.md, STEM.png, per_query.parquet.

    Written atomically (:func:`run_folder`); an existing output folder of the same command
    (one holding ``STEM.json``) is replaced whole; any other non-empty folder is refused.
    """
    with run_folder(out, overwrite=True, marker=f"{stem}.json") as folder:
        per_query.write_parquet(folder / "per_query.parquet")
        (folder / f"{stem}.json").write_text(json.dumps(summary, indent=2))
        (folder / f"{stem}.md").write_text(markdown)
        ax.figure.savefig(folder / f"{stem}.png", dpi=110, bbox_inches="tight")
    return Path(out)
