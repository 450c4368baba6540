"""Run folders: what ``gbltr fit`` leaves behind.

::

    RUN/
      report.json        {"name", "labels", "backend", "protocol", "metrics": {"overall": {"ndcg@10": ...},
                          "high": {...}, "medium": {...}, "low": {...}}, "n_queries": {...},
                          "n_no_relevant": {...}, "n_single_grade": {...}, "best_iteration", "training": {...}, ...}
      report.md          the same, for people
      per_query.parquet  query_id, bucket, frequency, ndcg@1, ndcg@3, ndcg@5, ndcg@10 (NaN = the query cannot rank),
                         excluded (null, or why: no_relevant / single_grade)
      model.txt | model.json   the native LightGBM / XGBoost model
      config.json        the resolved configuration (reloads with --config)
      weights.png        FAMOL only: the frequency weight function over the training queries (with
                         weight_fn = "auto": the one the validation search chose; report.json's
                         "weight_search" lists every candidate tried and its validation scores)
      famol_weights.parquet  FAMOL only: query_id, frequency, bucket, click_weight, llm_weight of every
                         training query (the weight function at the resolved bucket thresholds)
      split.parquet      query_id, split (train / valid / test): the query split the run used
      dataset.json       the dataset's manifest as the run saw it: what its sources lack (``missing``), where
                         it came from (``sources``), and what the run skipped (``skipped`` built features,
                         ``empty_groups``); the same facts are in report.json under ``training``
                         (:meth:`gbltr.prepared.Prepared.training_record`)
      catalogue.toml     the user feature catalogue the run grouped precomputed features with (if any)
      train_labels.parquet   the training labels it trained on, every source (query_id, doc_id, label, source)

Every bucket is listed with its query count, zero included; a bucket with fewer than
:data:`gbltr.buckets.MIN_TEST_QUERIES` test queries is flagged as too small for a test.

Metric convention: :mod:`gbltr.evaluate.metrics` (exponential gain; queries without a relevant
document, or whose documents all have one grade, excluded from means and counted in
``n_no_relevant`` and ``n_single_grade``).

Run folders are atomic (:func:`gbltr.folders.run_folder`): the files are written into a temporary sibling
``.RUN.tmp-XXXXXXXX`` and renamed into place, so a reader sees the old folder or the whole new
one, never a mix. An existing non-empty folder is refused unless ``overwrite=True``
(``--overwrite``), which replaces it whole (no stale file of the old run survives), and only a
folder ``fit`` wrote (``.gbltr-output.json``). While a run is being made, ``.RUN.lock`` (the
process id and start time) beside it makes a second run to the same folder fail at once instead
of both finishing and one being lost. What a run may not write over: :mod:`gbltr.folders`.
``report.json`` records ``dataset_fingerprint`` (:func:`gbltr.data.store.fingerprint`), which ``gbltr compare`` checks.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl

from gbltr.buckets import BUCKETS, bucket_notes, note_lines
from gbltr.data.store import fingerprint
from gbltr.evaluate.metrics import metric_columns
from gbltr.evaluate.views import COUNTS, SCORED_WHAT, n_scored, summarise, view_order
from gbltr.folders import check_run_folder, run_folder
from gbltr.words import counted, noun

__all__ = ["build_report", "check_run_folder", "report_markdown", "run_folder", "write_outputs", "write_run",
           "write_run_files"]


def build_report(prep, model, per_query: pl.DataFrame, *, name: str | None = None, train_seconds: float = 0.0) -> dict:
    cfg = prep.config
    metrics_cols = metric_columns(per_query)
    views = summarise(per_query, metrics=metrics_cols)
    for b in BUCKETS:  # every bucket is listed, zero included
        views.setdefault(b, {**{m: None for m in metrics_cols}, "n_queries": 0, **{c: 0 for c in COUNTS}})
    views = {v: views[v] for v in view_order(views)}
    metrics = {v: {m: vals[m] for m in metrics_cols} for v, vals in views.items()}
    label_tag = cfg.labels if cfg.labels != "fused" else f"fused:{cfg.fusion.method}"
    fusion = cfg.fusion.to_summary() if cfg.labels == "fused" else None
    search = model.info.get("weight_search")
    if fusion is not None and search is not None:
        fusion = {**fusion, "chosen": {k: search["choice"][k] for k in ("weight_fn", "params")},
                  "chosen_by": search["metric"]}
    report = {
        "name": name or f"{label_tag} ({cfg.train.backend})",
        "labels": cfg.labels,
        "fusion": fusion,
        "backend": cfg.train.backend,
        "device": cfg.train.device,
        "protocol": cfg.protocol,
        "seed": cfg.seed,
        "metrics": metrics,
        "n_queries": {v: vals["n_queries"] for v, vals in views.items()},
        **{c: {v: vals[c] for v, vals in views.items()} for c in COUNTS},
        "best_iteration": model.best_iteration,
        "features": list(prep.feature_names),
        "dataset_fingerprint": fingerprint(prep.dataset_path),
        "dropped": prep.dropped.to_json(),
        "training": prep.training_record(),
        "train_seconds": round(train_seconds, 2),
        "bucket_notes": bucket_notes({v: n_scored(vals) for v, vals in views.items()}, SCORED_WHAT),
    }
    if search is not None:
        report["weight_search"] = search
    if cfg.labels == "fused" and cfg.fusion.method == "famol":
        from gbltr.train.fused import partial_llm_record

        report["training"]["partial_llm"] = partial_llm_record(prep.train)
    return report


def _search_markdown(search: dict) -> list[str]:
    lines = ["", f"FAMOL weight search (`weight_fn = auto`), scored by {search['metric']}; validation "
             f"queries that can rank per bucket {json.dumps(search['n_valid_queries'])}:", ""]
    lines.append("| rung (rounds) | candidate | overall | high | medium | low |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for rung in search["rungs"]:
        for c in rung["candidates"]:
            v = c["valid"]
            cells = " | ".join("-" if v.get(b) is None else f"{v[b]:.4f}" for b in ("overall", "high", "medium", "low"))
            tag = " (learnt)" if c.get("learnt") else ""
            lr = f" (learning rate {rung['learning_rate']:g})" if "learning_rate" in rung else ""
            lines.append(f"| {rung['rounds']}{lr} | {c['name']}{tag} | {cells} |")
    learnt = search["learnt"]
    lines += ["", f"Learnt per-bucket weights (best constant per bucket on validation, made monotone): "
              f"{json.dumps(learnt['params'])}"]
    if learnt["fallback_buckets"]:
        lines.append(f"No validation queries that can rank in {learnt['fallback_buckets']}: those buckets took the constant that "
                     "scored best on all validation queries.")
    if "note" in learnt:
        lines.append(f"({learnt['note']})")
    ch = search["choice"]
    lines += ["", f"**Chosen: {ch['name']}** (validation {ch['valid']['overall']:.4f}; plotted in weights.png), "
              f"after {search['rounds_trained']} boosting rounds in {search['seconds']} s."]
    alone = single_source(ch)
    if alone == "llm":
        lines.append("The chosen weight gives the click labels weight 0 for every query: this fused run trained on "
                     "the LLM labels alone: in effect it is the LLM run (`--labels llm`), not a fusion.")
    elif alone == "click":
        lines.append("The chosen weight gives the LLM labels weight 0 for every query: this fused run trained on "
                     "the click labels alone: in effect it is the click run (`--labels click`), not a fusion.")
    return lines


def report_markdown(report: dict) -> str:
    lines = [f"# {report['name']}", ""]
    lines.append(
        f"labels `{report['labels']}`, backend `{report['backend']}` ({report['device']}), protocol "
        f"`{report['protocol']}`, seed {report['seed']}, {report['best_iteration']} boosting rounds kept."
    )
    lines.append("")
    views = list(report["metrics"])
    metrics = list(next(iter(report["metrics"].values())))
    lines.append("| view | queries | no relevant | single grade | " + " | ".join(metrics) + " |")
    lines.append("|---|---:|---:|---:|" + "---:|" * len(metrics))
    single = report.get("n_single_grade", {})  # absent from reports written before it was counted
    for v in views:
        vals = " | ".join("-" if report["metrics"][v][m] is None else f"{report['metrics'][v][m]:.4f}" for m in metrics)
        lines.append(f"| {v} | {report['n_queries'][v]} | {report['n_no_relevant'][v]} | {single.get(v, 0)} | {vals} |")
    lines.append("")
    lines.append(
        "nDCG with exponential gain 2^rel - 1 and log2 discount; queries that cannot rank are excluded from "
        "the means: those with no relevant document ('no relevant') and those whose documents all have one "
        "grade, so that every ordering scores 1 ('single grade')."
    )
    tr = report.get("training", {})
    if "no_gradient_click_queries" in tr:
        lines += ["", "Training queries whose click labels are all equal (no ranking gradient):", ""]
        for b, v in sorted(tr["no_gradient_click_queries"].items()):
            lines.append(f"- {b}: {v['no_gradient']} of {v['queries']}")
    lines += note_lines(report.get("bucket_notes", []))
    lines += grade_lines(tr.get("human_training_grades"))
    if tr.get("missing") or tr.get("skipped"):
        lines += ["", "Missing from the dataset or skipped by this run:", ""]
        for k, v in tr.get("missing", {}).items():
            lines.append(f"- no {k}: {v}")
        for why in sorted(set(tr.get("skipped", {}).values())):
            n = sum(1 for v in tr["skipped"].values() if v == why)
            lines.append(f"- skipped {counted(n, 'built feature')}: {why}")
    if "buckets" in tr:
        b = tr["buckets"]
        lines.append("")
        lines.append(f"Buckets: high >= {b['high_min']}, medium >= {b['medium_min']} sessions"
                     + (f" (quantiles {b['quantiles']} of the log's query frequency)" if b.get("quantiles") else ""))
    lines += ["", "Training queries per bucket: " + json.dumps(tr.get("n_train_queries", {}))]
    for source, counts in tr.get("n_labelled_train_queries", {}).items():
        lines.append(f"Training queries with {source} labels: " + json.dumps(counts))
    partial = tr.get("partial_llm")
    if partial and any(v["click_only_queries"] or v["rows_with_llm"] < v["rows"] for v in partial.values()):
        lines += ["", "Partial LLM labels (FAMOL): rows without an LLM label take no part in the LLM loss; "
                  "queries without any LLM label train on clicks alone (click weight 1, LLM weight 0), "
                  "whatever their weight function says.", "",
                  "| bucket | queries | with LLM labels | clicks alone | rows | rows with LLM labels |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {b} | {v['queries']} | {v['queries_with_llm']} | {v['click_only_queries']} | {v['rows']} | "
                  f"{v['rows_with_llm']} |" for b, v in partial.items()]
    lines += dropped_lines(report.get("dropped", {}))
    fp = report.get("dataset_fingerprint")
    if fp:
        lines += ["", f"Dataset fingerprint: `{fp['sha1']}`"]
    if report.get("weight_search"):
        lines += _search_markdown(report["weight_search"])
    return "\n".join(lines) + "\n"


def grade_lines(grades: dict | None) -> list[str]:
    """Markdown: the human labels changed to train on (``training.human_training_grades`` of report.json:
    negative grades made 0, fractional ones rounded), or nothing when none was."""
    if not grades or not any(grades.values()):
        return []
    label = noun("human label")
    return ["", "Human labels changed to train on (evaluation uses them unchanged):", "",
            f"- negative, made 0: {counted(grades.get('negative_to_0', 0), label)}",
            f"- fractional, rounded to the nearest grade: {counted(grades.get('fractional_rounded', 0), label)}"]


def single_source(choice: dict) -> str | None:
    """``"llm"`` when a chosen FAMOL weight function gives clicks weight 0 everywhere (the fused run is
    the LLM run), ``"click"`` when it gives them weight 1 everywhere, else None."""
    if choice.get("weight_fn") not in ("constant", "bucket", "piecewise"):
        return None
    values = {float(v) for v in choice.get("params", {}).values() if isinstance(v, (int, float))}
    return {frozenset({0.0}): "llm", frozenset({1.0}): "click"}.get(frozenset(values))


def nonzero_dropped(prep) -> dict:
    """The validation pass's non-zero counts of rows and queries left out or defaulted (``prep.dropped``)."""
    return prep.dropped.nonzero()


def dropped_lines(dropped: dict, where: str = "") -> list[str]:
    """Markdown lines listing the non-zero counts of :func:`nonzero_dropped` (none when all are zero)."""
    dropped = {k: v for k, v in dropped.items() if v}
    if not dropped:
        return []
    head = f"Counted by the validation pass{' ' + where if where else ''} (rows and queries left out or defaulted; gbltr.validate):"
    return ["", head, ""] + [f"- {k}: {v}" for k, v in sorted(dropped.items())]


def write_run(folder, prep, model, per_query: pl.DataFrame, *, name=None, train_seconds: float = 0.0,
              overwrite: bool = False) -> Path:
    """Write a run folder atomically (:func:`gbltr.folders.run_folder`); returns ``folder``."""
    with run_folder(folder, overwrite=overwrite, command="fit") as tmp:
        write_run_files(tmp, prep, model, per_query, name=name, train_seconds=train_seconds)
    return Path(folder)


def write_run_files(out: Path, prep, model, per_query: pl.DataFrame, *, name=None, train_seconds: float = 0.0) -> dict:
    """The files of a run folder, written into ``out`` as they are (no atomicity of its own);
    returns the report that ``report.json`` holds (for MLflow: :meth:`gbltr.track.runs.TrackedRun.log_fit`)."""
    out = Path(out)
    report = build_report(prep, model, per_query, name=name, train_seconds=train_seconds)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(report_markdown(report))
    per_query.write_parquet(out / "per_query.parquet")
    model.save(out)
    (out / "config.json").write_text(json.dumps(prep.config.to_json(), indent=2))
    if prep.click is not None:  # the click labels trained on, and their click model
        prep.click.frame.write_parquet(out / "click_labels.parquet")
        prep.click.model.save(out / "click_model")
    write_data_records(out, prep)
    if prep.config.labels == "fused" and prep.config.fusion.method == "famol":
        from gbltr.plots import plot_weight_function
        from gbltr.train.fused import famol_weight_table

        fusion = prep.config.fusion
        search = model.info.get("weight_search")
        if search is not None:
            fusion = replace(fusion, weight_fn=search["choice"]["weight_fn"], weight_params=search["choice"]["params"])
        famol_weight_table(prep, fusion).write_parquet(out / "famol_weights.parquet")
        plot_weight_function(prep, path=out / "weights.png", fusion=fusion)
    return report


def run_manifest(prep) -> dict:
    """The dataset's manifest as the run saw it (``dataset.json``): plus the built features this run
    skipped, its empty feature groups and the dataset's path."""
    manifest = dict(prep.manifest)
    manifest["skipped"] = dict(prep.features.skipped)
    manifest["empty_groups"] = list(prep.features.empty_groups)
    manifest["dataset"] = prep.dataset_path
    return manifest


def write_data_records(out: Path, prep) -> None:
    """The dataset's manifest (plus what this run skipped), the query split, the user catalogue, the
    training label sets."""
    (out / "dataset.json").write_text(json.dumps(run_manifest(prep), indent=2, ensure_ascii=False, default=str))
    prep.split_frame().write_parquet(out / "split.parquet")
    if prep.catalogue:
        (out / "catalogue.toml").write_text(prep.catalogue)
    labels = prep.train_labels
    if labels:
        pl.concat(list(labels.values()), how="vertical_relaxed").write_parquet(out / "train_labels.parquet")


def write_outputs(out, stem: str, per_query: pl.DataFrame, summary: dict, markdown: str, ax,
                  extra_figures: dict | None = None) -> Path:
    """The files of a multi-run report (experiment, ablation): STEM.json, STEM.md, STEM.png, per_query.parquet,
    and NAME.png for each NAME -> Axes of ``extra_figures``.

    Written atomically (:func:`gbltr.folders.run_folder`); an existing output folder of the same command
    (one holding ``STEM.json``) is replaced whole; any other non-empty folder is refused.
    """
    with run_folder(out, overwrite=True, marker=f"{stem}.json", kind=f"{stem} folder", command=stem) as folder:
        per_query.write_parquet(folder / "per_query.parquet")
        (folder / f"{stem}.json").write_text(json.dumps(summary, indent=2))
        (folder / f"{stem}.md").write_text(markdown)
        ax.figure.savefig(folder / f"{stem}.png", dpi=110, bbox_inches="tight")
        for name, extra in (extra_figures or {}).items():
            extra.figure.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
    return Path(out)
