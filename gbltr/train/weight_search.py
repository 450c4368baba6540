"""``weight_fn = "auto"``: FAMOL's weight function and its parameters chosen on validation queries.

The search reads the training queries (to train) and the validation queries' human labels (to
score); it never touches the test queries. It reuses the prepared datasets: a candidate changes
only the per-query loss weights, never the features. Everything is deterministic given the
training seed (fixed candidate order, ties go to the earlier candidate).

Successive halving over two rungs (:func:`search_weights`):

1. **Cheap rung.** Every grid candidate (:func:`grid`) trains ``rung_rounds`` boosting rounds
   (``max(10, rounds // 10)``: 30 with the default 300) and is scored by gbltr's validation
   nDCG@k (:func:`gbltr.evaluate.metrics.ndcg_per_query`, k = the early-stopping cut-off, 10
   by default), overall and per bucket.
2. **Learnt candidate.** From the constant-mix candidates' per-bucket validation scores, each
   bucket takes the constant ``w`` that scored best on that bucket's validation queries; the
   three values are made non-decreasing in frequency (pool-adjacent-violators, weighted by the
   buckets' validation query counts: clicks are trusted no less for a more frequent query) and
   become a ``piecewise`` weight function in log frequency (:mod:`gbltr.labels.fusion`). It is
   trained on the cheap rung too and competes like every other candidate.

   A bucket with **no validation queries that can rank** (:func:`valid_query_counts`) cannot be fitted: it takes the constant that scored
   best on all validation queries, and the search says so (log warning and
   ``learnt["fallback_buckets"]`` in the report). Overall scores use whatever validation
   queries exist (:func:`gbltr.pipeline.prepare` refuses a dataset with none).
3. **Full rung.** The ``keep`` best candidates of the cheap rung train as a normal fit (full
   rounds, early stopping on validation); the best by validation nDCG@k is the chosen model.
   Its booster is returned as is, so ``auto`` costs no retraining of the winner.

Cost: ``n_candidates * rung_rounds + keep * (a normal fit)`` rounds; 11 x 30 rounds + 3 full fits with
the defaults (11 = 10 grid candidates + the learnt one). ``reuse`` lets ``gbltr experiment`` hand over full-rung models it already trained
for the same data and settings (the fixed-weight setups), keyed by :func:`candidate_key`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace

import numpy as np

from gbltr.buckets import BUCKETS, BY_FREQUENCY
from gbltr.evaluate.metrics import SCORED, ndcg_per_query, query_status
from gbltr.labels.fusion import DEFAULT_WEIGHT_PARAMS

log = logging.getLogger("gbltr")

KEEP = 3
CONSTANTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def grid() -> list[tuple[str, dict]]:
    """The candidates of the cheap rung: (weight function, parameters), in a fixed order."""
    cands: list[tuple[str, dict]] = [("constant", {"value": v}) for v in CONSTANTS]
    cands += [("bucket", dict(DEFAULT_WEIGHT_PARAMS["bucket"])), ("log", {})]
    cands += [("sigmoid", {"alpha": 1.5, "beta": math.log1p(f)}) for f in (10.0, 30.0, 100.0)]
    return cands


def rung_rounds(rounds: int) -> int:
    return min(rounds, max(10, rounds // 10))


def candidate_key(fusion) -> str:
    """What identifies a trained FAMOL model given the data and training settings."""
    return json.dumps(fusion.to_summary(), sort_keys=True)


def label(weight_fn: str, params: dict) -> str:
    shown = ", ".join(f"{k}={round(v, 3) if isinstance(v, float) else v}" for k, v in params.items())
    return f"{weight_fn}({shown})"


def validation_scores(model, valid, k: int) -> dict:
    """Mean validation nDCG@k overall and per bucket (queries with no relevant document excluded)."""
    values = ndcg_per_query(model.predict(valid.X), valid.labels["human"], valid.group_ptr, ks=(k,))[:, 0]
    ok = np.isfinite(values)
    out = {"overall": float(values[ok].mean()) if ok.any() else float("nan")}
    if valid.bucket is not None:
        for b in BUCKETS:
            m = ok & (valid.bucket == b)
            out[b] = float(values[m].mean()) if m.any() else None
    return out


def valid_query_counts(valid) -> dict[str, int]:
    """Validation queries per bucket that can rank (:func:`gbltr.evaluate.metrics.query_status`: a
    relevant document and two grades), the queries :func:`validation_scores` averages over; ``{}``
    without buckets."""
    if valid.bucket is None:
        return {}
    scored = query_status(valid.labels["human"], valid.group_ptr) == SCORED
    return {b: int(np.count_nonzero(scored & (valid.bucket == b))) for b in BUCKETS}


def _pava(values: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators)."""
    blocks = [[v, w, 1] for v, w in zip(values, weights)]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            v1, w1, n1 = blocks[i]
            v2, w2, n2 = blocks[i + 1]
            w = w1 + w2
            blocks[i] = [(v1 * w1 + v2 * w2) / w if w else (v1 + v2) / 2, w, n1 + n2]
            del blocks[i + 1]
            i = max(i - 1, 0)
        else:
            i += 1
    return [b[0] for b in blocks for _ in range(b[2])]


def learnt_weights(constant_scores: dict[float, dict], n_valid: dict[str, int]) -> dict:
    """Per-bucket weights fitted on validation: each bucket's best constant, made monotone.

    ``constant_scores``: constant w -> validation scores (overall and per bucket);
    ``n_valid``: validation queries per bucket. Returns ``{"params": {...}, "per_bucket_best":
    {...}, "fallback_buckets": [...]}``.
    """
    ws = sorted(constant_scores)
    overall_best = max(ws, key=lambda w: (constant_scores[w]["overall"], -abs(w - 0.5)))
    raw, fallback = {}, []
    for b in BUCKETS:
        scored = [w for w in ws if constant_scores[w].get(b) is not None]
        if not scored or not n_valid.get(b):
            raw[b] = overall_best
            fallback.append(b)
            continue
        raw[b] = max(scored, key=lambda w: (constant_scores[w][b], -abs(w - 0.5)))
    order = BY_FREQUENCY
    mono = _pava([raw[b] for b in order], [max(n_valid.get(b, 0), 1e-9) for b in order])
    params = {b: round(float(v), 4) for b, v in zip(order, mono)}
    return {"params": {b: params[b] for b in BUCKETS}, "per_bucket_best": raw, "fallback_buckets": fallback}


def search_weights(prep, cfg, settings, *, train_one, reuse: dict | None = None):
    """Search the weight function on validation; returns the chosen model with ``info["weight_search"]``.

    ``settings``: the fit's :class:`gbltr.train.backends.TrainSettings` (scores use its
    ``eval_at``); ``train_one(cfg, rounds=None)`` trains one FAMOL model for a fixed-weight
    ``cfg`` (``rounds``: a cheap-rung budget, None = a full fit with early stopping).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    valid = prep.valid
    k = int(settings.eval_at)
    r1 = rung_rounds(cfg.train.rounds)
    n_valid = valid_query_counts(valid)
    empty = [b for b in BUCKETS if valid.bucket is not None and not n_valid.get(b)]
    if empty:
        log.warning("weight search: no validation queries that can rank in bucket(s) %s; the learnt per-bucket "
                    "weights use the best constant on all validation queries there", empty)

    def fusion_of(fn, params):
        return replace(cfg.fusion, weight_fn=fn, weight_params=dict(params))

    def run(fn, params, *, full: bool):
        c = replace(cfg, fusion=fusion_of(fn, params))
        key = candidate_key(c.fusion)
        reused = full and reuse is not None and key in reuse
        if reused:
            model = reuse[key]
        else:
            model = train_one(c, rounds=None if full else r1)
        scores = validation_scores(model, valid, k)
        return model, {"name": label(fn, c.fusion.resolved_params()), "weight_fn": fn,
                       "params": c.fusion.resolved_params(), "valid": scores, "best_iteration": model.best_iteration,
                       **({"reused": True} if reused else {})}

    rounds_trained = 0
    rung1 = []
    for fn, params in grid():
        _, rec = run(fn, params, full=False)
        rounds_trained += r1
        rung1.append(rec)
        log.info("weight search, %d rounds: %s valid %s@%d %.4f", r1, rec["name"], "ndcg", k, rec["valid"]["overall"])
    consts = {rec["params"]["value"]: rec["valid"] for rec in rung1 if rec["weight_fn"] == "constant"}
    learnt = learnt_weights(consts, n_valid)
    lp = learnt["params"]
    if len(set(lp.values())) == 1:
        learnt["note"] = "equal in every bucket: the same model as constant value=%s, not trained again" % lp["high"]
    else:
        _, rec = run("piecewise", lp, full=False)
        rec["learnt"] = True
        rounds_trained += r1
        rung1.append(rec)
        log.info("weight search, %d rounds: learnt %s valid %.4f", r1, rec["name"], rec["valid"]["overall"])
    ranked = sorted(range(len(rung1)), key=lambda i: (-rung1[i]["valid"]["overall"], i))
    finalists = [rung1[i] for i in ranked[:KEEP]]
    rung2, models = [], []
    for cand in finalists:
        model, rec = run(cand["weight_fn"], cand["params"], full=True)
        if not rec.get("reused"):
            rounds_trained += len(model.history) if model.history else model.best_iteration
        rung2.append(rec)
        models.append(model)
        log.info("weight search, full: %s valid %.4f (%d rounds kept)", rec["name"], rec["valid"]["overall"],
                 model.best_iteration)
    best = max(range(len(rung2)), key=lambda i: (rung2[i]["valid"]["overall"], -i))
    choice = rung2[best]
    model = models[best]
    record = {
        "metric": f"ndcg@{k} on validation queries (human labels)",
        "n_valid_queries": n_valid,
        "rungs": [{"rounds": r1, "candidates": rung1}, {"rounds": f"full ({cfg.train.rounds}, early stopping "
                                                                  f"{cfg.train.early_stopping})", "candidates": rung2}],
        "learnt": learnt,
        "choice": {"weight_fn": choice["weight_fn"], "params": choice["params"], "name": choice["name"],
                   "valid": choice["valid"]},
        "rounds_trained": int(rounds_trained),
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
    }
    log.info("weight search chose %s (validation ndcg@%d %.4f) after %d rounds in %.1f s", choice["name"], k,
             choice["valid"]["overall"], rounds_trained, record["seconds"])
    return replace(model, info={**model.info, "weight_search": record})
