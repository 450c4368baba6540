"""``gbltr clicks fit``: fit several click models on one log, score them on held-out sessions,
and write one report (Markdown + JSON + PNG) with the fitted models.

Logs (:data:`LOG_FORMATS`): a gbltr dataset folder (``impressions.parquet``, human labels when
present), an impressions Parquet file, the TREC Session 2014 per-query files (``trec-session``,
alias ``ncm``; :func:`gbltr.data.real.read_trec_session`) or the Sogou PSCM sample (``sogou``;
:func:`gbltr.data.real.read_sogou_pscm`). ``auto`` tells them apart by their files.

Held out: the log's own split where it has one (TREC: train + valid vs test; Sogou: train vs
test), else a seeded split by session (``test_share`` of the sessions). Held-out sessions whose
query was never seen in training are left out and counted (a click model has nothing to say
about them); unseen (query, doc) pairs of seen queries get the prior
(:mod:`gbltr.labels.clicks.evaluate`).

Agreement with human labels (when the log has them), per query-frequency bucket
(:mod:`gbltr.buckets`; a query's frequency is its number of sessions in the whole log): over the
judged documents a query showed in training, Kendall's tau-b between model relevance and the
human grade over the queries whose human grades differ (the same queries for every model; a
model whose relevances are all tied there scores 0, no ordering), and
nDCG@10 (exponential gain, negative grades as 0) of the ranking by model relevance, beside the
same nDCG of the displayed order (documents by their mean displayed position).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.checkpoint import checkpoint
from gbltr.buckets import BUCKETS, OVERALL, BucketSpec
from gbltr.data.real import read_sogou_pscm, read_trec_session
from gbltr.data.store import read_dataset
from gbltr.errors import DataError, unknown_choice
from gbltr.evaluate.metrics import ndcg_per_query
from gbltr.folders import Input, check_run_folder, run_folder
from gbltr.inputs import read_parquet
from gbltr.labels.clicks import ClickLabelConfig, fit_click_model
from gbltr.labels.clicks.config import LOG_FORMATS, TEST_SHARE
from gbltr.labels.clicks.evaluate import evaluate_held_out, split_seen_queries
from gbltr.labels.clicks.sessions import SessionLog, sessions_from_impressions
from gbltr.progress import progress
from gbltr.schema import IMPRESSIONS, validate

log = logging.getLogger("gbltr")



@dataclass(frozen=True)
class LoadedLog:
    name: str
    impressions: pl.DataFrame
    labels: pl.DataFrame | None
    train_splits: tuple[str, ...] | None   # values of impressions.split used for training, None = no split
    truth: "TruthExamination | None" = None  # a simulated log's examination (world.json)


@dataclass(frozen=True)
class TruthExamination:
    """The examination a simulated log was drawn with (``world.json``, :mod:`gbltr.data.simulate`):
    ``k^-examination_eta`` at positions 1..``display_k``, relative to position 1."""

    examination: tuple[float, ...]
    source: str

    @classmethod
    def of_dataset(cls, folder: Path) -> "TruthExamination | None":
        from gbltr.data.world import WORLD_FILE, read_world_params

        if not (folder / WORLD_FILE).is_file():
            return None
        w = read_world_params(folder)
        k = np.arange(1, w.display_k + 1, dtype=float)
        return cls(tuple(float(x) for x in k ** -w.examination_eta),
                   f"{WORLD_FILE}: examination k^-{w.examination_eta:g}, positions 1..{w.display_k}")

    def compare(self, examination) -> list:
        """Per position: the fitted examination over the truth (None beyond either)."""
        ex = list(examination)
        return [None if i >= len(self.examination) or ex[i] is None or not np.isfinite(ex[i])
                else float(ex[i] / self.examination[i]) for i in range(len(ex))]


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".parquet":
            return "impressions"
        raise DataError(f"{path}: a log file must be impressions Parquet; for a real log pass its folder")
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder; expected a dataset folder or a click log")
    if (path / "train_per_query_quid.txt").exists():
        return "trec-session"
    if (path / "train_data").exists():
        return "sogou"
    if (path / "impressions.parquet").exists():
        return "dataset"
    raise DataError(
        f"{path}: cannot tell the log format (expected impressions.parquet, train_per_query_quid.txt or "
        f"train_data; found {sorted(p.name for p in path.iterdir())[:10]}); pass --format"
    )


def load_log(path: str | Path, fmt: str = "auto") -> LoadedLog:
    path = Path(path)
    if fmt not in LOG_FORMATS:
        raise unknown_choice("log format", fmt, LOG_FORMATS)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt in ("trec-session", "ncm"):
        cl = read_trec_session(path)
        return LoadedLog(cl.name, cl.impressions, cl.labels, ("train", "valid"))
    if fmt == "sogou":
        cl = read_sogou_pscm(path)
        return LoadedLog(cl.name, cl.impressions, cl.labels, ("train",))
    if fmt == "impressions":
        imp = validate(read_parquet(path, "--log", expected="a Parquet table of impressions"), IMPRESSIONS,
                       where=str(path))
        return LoadedLog(path.stem, imp, None, _own_split(imp))

    ds = read_dataset(path)
    if ds.impressions is None or ds.impressions.height == 0:
        raise DataError(f"{path}: the dataset has no impressions (search log); expected impressions.parquet")
    return LoadedLog(path.name, ds.impressions, ds.labels.get("human"), _own_split(ds.impressions),
                     TruthExamination.of_dataset(path))


def _own_split(imp: pl.DataFrame):
    if "split" in imp.columns and imp["split"].null_count() == 0 and "test" in set(imp["split"].unique()):
        return tuple(s for s in imp["split"].unique().to_list() if s != "test")
    return None


def held_out_split(loaded: LoadedLog, *, test_share: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    imp = loaded.impressions
    if loaded.train_splits is not None:
        train = imp.filter(pl.col("split").is_in(list(loaded.train_splits)))
        test = imp.filter(pl.col("split") == "test")
        return train, test, f"the log's own split: {'+'.join(loaded.train_splits)} vs test"
    TEST_SHARE.check("--test-share", test_share)
    ids = imp["session_id"].unique().sort().to_numpy()
    rng = np.random.default_rng(seed)
    test_ids = ids[rng.random(ids.size) < test_share]
    is_test = pl.col("session_id").is_in(pl.Series(test_ids).implode())
    return imp.filter(~is_test), imp.filter(is_test), f"seeded split by session (seed {seed}, {test_share:.0%} held out)"


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of two short vectors (Kendall 1945): (concordant - discordant) pairs over
    sqrt((pairs - pairs tied in x)(pairs - pairs tied in y)); NaN when either is all tied.
    O(n^2) over one query's documents, without scipy's per-call overhead."""
    i, j = np.triu_indices(len(x), k=1)
    sx = np.sign(np.asarray(x, float)[i] - np.asarray(x, float)[j])
    sy = np.sign(np.asarray(y, float)[i] - np.asarray(y, float)[j])
    den = np.sqrt(float(np.count_nonzero(sx)) * float(np.count_nonzero(sy)))
    return float((sx * sy).sum() / den) if den > 0 else float("nan")


def agreement(fitted, train: SessionLog, labels: pl.DataFrame, frequency: pl.DataFrame) -> pl.DataFrame:
    """Per query: bucket, Kendall tau-b (relevance vs human grade), nDCG@10 by relevance and by
    displayed order (see the module docstring)."""
    s, r = np.nonzero(train.shown)
    d = train.doc[s, r]
    n = train.pairs.height
    mean_pos = np.bincount(d, weights=r + 1.0, minlength=n) / np.maximum(np.bincount(d, minlength=n), 1)
    rows = (
        train.pairs.with_columns(mean_position=pl.Series(mean_pos))
        .join(fitted.relevance(), on=["query_id", "doc_id"])
        .join(labels.select("query_id", "doc_id", pl.col("label").alias("human")), on=["query_id", "doc_id"])
        .sort("query_id", "mean_position", "doc_id")
    )
    out = []
    qids = rows["query_id"].to_numpy()
    if qids.size == 0:
        return pl.DataFrame(schema={"query_id": pl.String, "kendall_tau": pl.Float64, "ndcg_model": pl.Float64,
                                    "ndcg_displayed": pl.Float64, "bucket": pl.String})
    ptr = np.r_[0, np.flatnonzero(qids[1:] != qids[:-1]) + 1, qids.size]
    rel = rows["relevance"].to_numpy()
    hum = rows["human"].to_numpy()
    disp = -rows["mean_position"].to_numpy()
    nd_model = ndcg_per_query(rel, np.maximum(hum, 0), ptr, ks=(10,))[:, 0]
    nd_disp = ndcg_per_query(disp, np.maximum(hum, 0), ptr, ks=(10,))[:, 0]
    for i in range(ptr.size - 1):
        a, b = ptr[i], ptr[i + 1]
        tau = np.nan
        if b - a >= 2 and np.unique(hum[a:b]).size > 1:  # the same queries for every model
            tau = kendall_tau_b(rel[a:b], hum[a:b]) if np.unique(rel[a:b]).size > 1 else 0.0
        out.append((qids[a], tau, nd_model[i], nd_disp[i]))
    frame = pl.DataFrame(out, schema={"query_id": pl.String, "kendall_tau": pl.Float64, "ndcg_model": pl.Float64,
                                      "ndcg_displayed": pl.Float64}, orient="row")
    return frame.join(frequency, on="query_id", how="left").with_columns(BucketSpec().expr("frequency"))


def agreement_by_bucket(per_query: pl.DataFrame) -> list[dict]:
    rows = []
    for b in (OVERALL, *BUCKETS):
        part = per_query if b == OVERALL else per_query.filter(pl.col("bucket") == b)
        tau = part["kendall_tau"].drop_nulls().drop_nans()
        nd = part.filter(pl.col("ndcg_model").is_not_nan())
        rows.append({
            "bucket": b, "queries": part.height, "tau_queries": tau.len(),
            "kendall_tau": float(tau.mean()) if tau.len() else None,
            "ndcg_queries": nd.height,
            "ndcg10_model": float(nd["ndcg_model"].mean()) if nd.height else None,
            "ndcg10_displayed": float(nd["ndcg_displayed"].mean()) if nd.height else None,
        })
    return rows


def fit_log(path, models, out, *, fmt: str = "auto", config: ClickLabelConfig = ClickLabelConfig(),
            test_share: float = 0.2, seed: int = 0, overwrite: bool = False) -> dict:
    """Fit ``models`` on ``path``'s training sessions, score the held-out ones, write ``out``
    atomically (:func:`gbltr.folders.run_folder`: an existing non-empty ``out`` is refused
    before any work unless ``overwrite``)."""
    inputs = [Input(path, "click log")]
    check_run_folder(out, overwrite=overwrite, kind="click-model report folder", command="clicks fit", inputs=inputs)
    loaded = load_log(path, fmt)
    train_imp, test_imp, split_note = held_out_split(loaded, test_share=test_share, seed=seed)
    if train_imp.height == 0 or test_imp.height == 0:
        raise DataError(f"{path}: the held-out split left {train_imp.height} training and {test_imp.height} "
                        "test rows; expected both non-empty")
    train = sessions_from_impressions(train_imp, max_positions=config.max_positions, where="training sessions")
    test_all = sessions_from_impressions(test_imp, max_positions=train.n_positions, where="held-out sessions")
    test, unseen_query_sessions = split_seen_queries(train, test_all)
    if unseen_query_sessions:
        log.warning("%d held-out session(s) of queries never seen in training are not scored", unseen_query_sessions)
    if test.n_sessions == 0:
        raise DataError(f"{path}: no held-out session has a query seen in training; nothing to score")
    checkpoint("clicks fit")  # the log read and split; no model fitted
    with run_folder(out, overwrite=overwrite, kind="click-model report folder", command="clicks fit",
                    inputs=inputs) as tmp:
        return _fit_and_write(loaded, path, models, Path(tmp), train, test, test_all, unseen_query_sessions,
                              split_note, config)


def _fit_and_write(loaded, path, models, out: Path, train, test, test_all, unseen_query_sessions, split_note,
                   config) -> dict:
    frequency = loaded.impressions.group_by("query_id").agg(frequency=pl.col("session_id").n_unique())
    results, agree = [], {}
    for name in progress(models, desc="click models", unit="model"):
        t0 = time.perf_counter()
        fitted = fit_click_model(train, config, name)
        fit_s = time.perf_counter() - t0
        score = evaluate_held_out(fitted, test)
        fitted.save(out / "models" / name)
        exam = [float(x) for x in fitted.examination()]
        results.append({"model": name, "citation": fitted.model.citation, "fit_seconds": round(fit_s, 3),
                        "iterations": fitted.info.iterations, "converged": fitted.info.converged,
                        "train_log_likelihood": fitted.info.log_likelihood, "prior": fitted.prior.to_json(),
                        "examination": exam,
                        "examination_over_truth": None if loaded.truth is None else loaded.truth.compare(exam),
                        **score.to_json()})
        if loaded.labels is not None:
            agree[name] = agreement_by_bucket(agreement(fitted, train, loaded.labels, frequency))
    report = {
        "log": loaded.name, "path": str(path), "held_out": split_note,
        "train_sessions": train.n_sessions, "held_out_sessions_scored": test.n_sessions,
        "held_out_sessions_unseen_query": unseen_query_sessions,
        "train_issues": train.issues, "held_out_issues": test_all.issues,
        "config": {"priors": {"choice": config.priors.choice, **config.priors.priors().to_json()},
                   "em_iterations": config.em_iterations,
                   "em_tolerance": config.em_tolerance, "max_positions": config.max_positions},
        "truth": None if loaded.truth is None else {"examination": list(loaded.truth.examination),
                                                    "source": loaded.truth.source},
        "models": results, "agreement": agree,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    plot(report, out / "examination.png")
    return report


def _f(x, nd=4):
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def ranked_models(report: dict) -> list[dict]:
    """The report's models, best (lowest) perplexity first; a model without one comes last."""
    return sorted(report["models"], key=lambda m: (m["perplexity"] is None or not np.isfinite(m["perplexity"]),
                                                   m["perplexity"] if m["perplexity"] is not None else 0.0))


def markdown(report: dict) -> str:
    lines = [f"# Click models on {report['log']}", "",
             f"Held out: {report['held_out']}. Training sessions: {report['train_sessions']}; held-out sessions "
             f"scored: {report['held_out_sessions_scored']} (left out, query never seen in training: "
             f"{report['held_out_sessions_unseen_query']}).", "",
             "Models ranked by held-out perplexity (full click probabilities P(C_r = 1), earlier clicks "
             "marginalised out); conditional perplexity scores P(C_r = 1 | the session's earlier clicks) "
             "(Chuklin, Markov & de Rijke 2015, sec. 4.2; equal for models without click dependence).", "",
             "| rank | model | fit s | iterations | converged | held-out LL / session | perplexity | conditional perplexity "
             "| unseen-pair positions | skipped positions |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, m in enumerate(ranked_models(report), 1):
        lines.append(f"| {i} | {m['model']} | {m['fit_seconds']:.3f} | {m['iterations']} | {m['converged']} | "
                     f"{_f(m['log_likelihood'])} | {_f(m['perplexity'])} | {_f(m['conditional_perplexity'])} | "
                     f"{m['unseen_pair_positions']} | {m['skipped_positions']} |")
    P = max(len(m["perplexity_by_position"]) for m in report["models"])
    for key, title in (("perplexity_by_position", "Perplexity by position (full click probabilities)"),
                       ("conditional_perplexity_by_position",
                        "Conditional perplexity by position (given the earlier clicks)")):
        lines += ["", f"{title}:", "", "| model | " + " | ".join(str(i + 1) for i in range(P)) + " |",
                  "|---|" + "---|" * P]
        for m in report["models"]:
            lines.append(f"| {m['model']} | " + " | ".join(_f(x, 3) for x in m[key]) + " |")
    lines += ["", "Priors (``[click.priors]``; learnt: the Beta hyper-parameters found on the training sessions):", ""]
    for m in report["models"]:
        p = m["prior"]
        learnt = "; ".join(f"{x['kind']} Beta({x['a']:.4g}, {x['b']:.4g}) from {x['pairs']} pairs"
                           + (" (at a bound)" if x["at_bound"] else "") for x in p["learnt"])
        fixed = ", ".join(f"{k} ({v[0]:g}, {v[1]:g})" for k, v in p["priors"].items()
                          if k not in {x["kind"] for x in p["learnt"]})
        lines.append(f"- {m['model']}: {p['choice']}" + (f": {learnt}" if learnt else "") + f"; fixed: {fixed}")
    if report["models"]:
        lines += ["", "Why: " + "; ".join(sorted({m["prior"]["why"] for m in report["models"]})) + "."]
    if report.get("truth"):
        truth = report["truth"]["examination"]
        P = max(len(truth), max(len(m["examination"]) for m in report["models"]))
        lines += ["", f"Examination by position against the truth ({report['truth']['source']}); "
                  "in brackets: fitted / truth:", "",
                  "| model | " + " | ".join(str(i + 1) for i in range(P)) + " | max abs(ratio - 1) |", "|---|" + "---|" * (P + 1),
                  "| truth | " + " | ".join(_f(truth[i], 3) if i < len(truth) else "-" for i in range(P)) + " | |"]
        for m in report["models"]:
            ratios = m["examination_over_truth"]
            cells = [f"{_f(m['examination'][i], 3)} ({_f(ratios[i], 2)})" if i < len(m["examination"]) else "-"
                     for i in range(P)]
            worst = max((abs(r - 1) for r in ratios if r is not None), default=None)
            lines.append(f"| {m['model']} | " + " | ".join(cells) + f" | {_f(worst, 3)} |")
    if report["agreement"]:
        lines += ["", "Agreement with human labels per query-frequency bucket (training pairs with a judgement):", "",
                  "| model | bucket | queries | Kendall tau (queries) | nDCG@10 by model (queries) | nDCG@10 displayed order |",
                  "|---|---|---|---|---|---|"]
        for name, rows in report["agreement"].items():
            for r in rows:
                lines.append(f"| {name} | {r['bucket']} | {r['queries']} | {_f(r['kendall_tau'], 3)} ({r['tau_queries']}) | "
                             f"{_f(r['ndcg10_model'], 3)} ({r['ndcg_queries']}) | {_f(r['ndcg10_displayed'], 3)} |")
    lines += ["", "What reading the log skipped or noticed (training / held out):", ""]
    for k in report["train_issues"]:
        lines.append(f"- {k}: {report['train_issues'][k]} / {report['held_out_issues'].get(k, '-')}")
    lines += ["", "Examination by position: `examination.png`. Fitted models: `models/NAME/`.", ""]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for m in report["models"]:
        ex = np.asarray(m["examination"], float)
        axes[0].plot(np.arange(1, ex.size + 1), ex, marker="o", label=m["model"])
        for ax, key in ((axes[1], "perplexity_by_position"), (axes[2], "conditional_perplexity_by_position")):
            pp = np.array([np.nan if x is None else x for x in m[key]], float)
            ax.plot(np.arange(1, pp.size + 1), pp, marker="o", label=m["model"])
    if report.get("truth"):
        t = np.asarray(report["truth"]["examination"], float)
        axes[0].plot(np.arange(1, t.size + 1), t, "k--", marker="x", label="truth (world.json)")
    axes[0].set(xlabel="position", ylabel="examination (relative to position 1)", title="Examination by position")
    axes[1].set(xlabel="position", ylabel="held-out perplexity", title="Perplexity by position (full)")
    axes[2].set(xlabel="position", ylabel="held-out conditional perplexity",
                title="Conditional perplexity by position")
    axes[0].legend()
    fig.suptitle(report["log"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
