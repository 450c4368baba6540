"""``weight_fn = "auto"``: FAMOL's weight function and its parameters chosen on validation queries.

The search reads the training queries (to train) and the validation queries' human labels (to
score); it never touches the test queries. It reuses the prepared datasets: a candidate changes
only the per-query loss weights, never the features. Everything is deterministic given the
training seed (fixed candidate order, ties go to the earlier candidate).

Successive halving over three rungs (:func:`search_weights`) whose cost is bounded by the fit
itself: the two cheap rungs train on seeded, bucket-stratified shares of the training queries
(``RUNG_SAMPLE``: a quarter, then half; :func:`sample_queries`), and their rounds
(:func:`rung_rounds`) are sized so that their boosting, counted in full-data rounds, is at most
``SEARCH_SHARE`` (0.6) of the fewest rounds any full fit with these settings trains (early
stopping's patience + 1: :func:`fewest_fit_rounds`). So ``auto`` costs at most about 1.6 of the
fixed-weight fit it returns, on every world, however early that fit stops
(benchmarks/bench_weight_search.py). The features are binned once per training set for every
candidate (:meth:`gbltr.train.backends.base.Backend.bins_reused`, entered by
:func:`gbltr.train.fused.train_fused`; one subset per rung share).

The two cheap rungs boost with ``RUNG_SPEEDUP`` (8) times the fit's learning rate (at most 1):
few large steps get about as far as the many small steps of a full fit, so a candidate's
cheap-rung score says more about its full fit than the same few small steps would.

1. **Cheap rung.** Every grid candidate (:func:`grid`) trains ``r1`` boosting rounds on a
   quarter of the training queries (:func:`rung_rounds`: 3 with the default 300 rounds and
   patience 30) and is scored by
   gbltr's validation nDCG@k (:func:`gbltr.evaluate.metrics.ndcg_per_query`, k = the
   early-stopping cut-off, 10 by default), overall and per bucket.
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
3. **Middle rung.** The ``keep`` best candidates of the cheap rung boost on to ``r2 = 3 * r1``
   rounds (9 by default) on half of the training queries (holding the cheap rung's), continuing their cheap-rung models where the backend can continue
   training (``init_model``), so the first ``r1`` rounds are not paid twice; otherwise they
   train ``r2`` rounds afresh.
4. **Full rung.** The best of the middle rung trains as a normal fit (full rounds, early
   stopping on validation) and is the chosen model: the very model a fixed-weight run of the
   chosen function gives (same seed, trained from scratch), so ``auto`` costs no retraining.

Cost: ``n_candidates * r1 / 4 + keep * (r2 - r1) / 2`` full-data rounds + one normal fit;
11 x 3 / 4 + 3 x 6 / 2 = 17.25 with the defaults, under 0.6 x 31 (11 = 10 grid candidates + the
learnt one). Before this it was 51 rounds on every query (up to 1.93-2.37 fits on a world whose
fit stops at 69 rounds), and before issue 19 11 x 30 rounds + 3 full fits (4-5 fits). ``reuse``
lets ``gbltr experiment`` hand over full models it already trained for the same data and
settings (the fixed-weight setups), keyed by :func:`candidate_key`: the full rung then costs
nothing.

Selection reads the validation queries only: every score is :func:`validation_scores` on
``prep.valid``; ``prep.test`` is never read.
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
RUNG_SPEEDUP = 8  # the cheap rungs boost with this multiple of the fit's learning rate (at most 1)
RUNG_SAMPLE = (0.25, 0.5)  # share of the training queries the cheap and the middle rung train on
SEARCH_SHARE = 0.6  # the rungs' boosting, in full-data rounds, within this share of the fewest rounds a fit trains
CONSTANTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def grid() -> list[tuple[str, dict]]:
    """The candidates of the cheap rung: (weight function, parameters), in a fixed order."""
    cands: list[tuple[str, dict]] = [("constant", {"value": v}) for v in CONSTANTS]
    cands += [("bucket", dict(DEFAULT_WEIGHT_PARAMS["bucket"])), ("log", {})]
    cands += [("sigmoid", {"alpha": 1.5, "beta": math.log1p(f)}) for f in (10.0, 30.0, 100.0)]
    return cands


def fewest_fit_rounds(train) -> int:
    """The fewest boosting rounds a full fit with ``train`` (a :class:`gbltr.config.TrainConfig`)
    can train: with early stopping, its patience plus one (the best round is at least the
    first); without, all ``rounds``."""
    if train.early_stopping and train.early_stopping > 0:
        return min(train.rounds, train.early_stopping + 1)
    return train.rounds


def rung_rounds(train, n_candidates: int, *, keep: int = KEEP, continue_training: bool = True) -> tuple[int, int]:
    """Rounds of the cheap and the middle rung, ``(r1, 3 * r1)``, sized so that the search's
    boosting, counted in full-data rounds (a round on a share ``s`` of the training queries counts
    ``s``), stays within ``SEARCH_SHARE`` of :func:`fewest_fit_rounds`: so within that share of the
    final fit's own rounds, whatever they turn out to be. At least one round each (a config of
    very few rounds can exceed the share: a candidate is not scored without a round)."""
    s1, s2 = RUNG_SAMPLE
    per_r1 = n_candidates * s1 + keep * s2 * (2 if continue_training else 3)
    r1 = max(1, int(SEARCH_SHARE * fewest_fit_rounds(train) / per_r1))
    r1 = min(train.rounds, r1)
    return r1, min(train.rounds, 3 * r1)


def sample_queries(bucket, share: float, seed: int) -> np.ndarray:
    """[n_queries] bool: a share of the training queries for a cheap rung, ``ceil(share * n)`` of
    each bucket's (at least one), drawn from one seeded order per bucket, so a larger share holds
    every query of a smaller one. ``bucket``: the training queries' buckets (None: one bucket)."""
    n = len(bucket) if bucket is not None else 0
    mask = np.zeros(n, dtype=bool)
    if share >= 1 or n == 0:
        return np.ones(n, dtype=bool)
    labels = np.asarray(bucket).astype(str)
    for i, b in enumerate(sorted(set(labels.tolist()))):
        idx = np.flatnonzero(labels == b)
        order = np.random.default_rng([seed, i]).permutation(idx)
        mask[order[:max(1, math.ceil(share * idx.size))]] = True
    return mask


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


def search_weights(prep, cfg, settings, *, train_one, reuse: dict | None = None, continue_training: bool = False):
    """Search the weight function on validation; returns the chosen model with ``info["weight_search"]``.

    ``settings``: the fit's :class:`gbltr.train.backends.TrainSettings` (scores use its
    ``eval_at``); ``train_one(cfg, rounds=None, init=None, sample=None)`` trains one FAMOL model
    for a fixed-weight ``cfg`` (``rounds``: a rung's budget, None = a full fit with early
    stopping; ``init``: a model to continue boosting from, only passed when
    ``continue_training``; ``sample``: a [n_training_queries] bool mask, the queries a rung
    trains on, None = all of them).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    valid = prep.valid
    k = int(settings.eval_at)
    n_candidates = len(grid()) + 1  # + the learnt one
    r1, r2 = rung_rounds(cfg.train, n_candidates, continue_training=continue_training)
    train = prep.train
    masks = [sample_queries(train.bucket if train.bucket is not None else np.zeros(train.n_queries), share, cfg.seed)
             for share in RUNG_SAMPLE]
    n_valid = valid_query_counts(valid)
    empty = [b for b in BUCKETS if valid.bucket is not None and not n_valid.get(b)]
    if empty:
        log.warning("weight search: no validation queries that can rank in bucket(s) %s; the learnt per-bucket "
                    "weights use the best constant on all validation queries there", empty)

    def config_of(fn, params):
        return replace(cfg, fusion=replace(cfg.fusion, weight_fn=fn, weight_params=dict(params)))

    fast = replace(cfg.train, learning_rate=min(1.0, RUNG_SPEEDUP * cfg.train.learning_rate))

    def rung_config(fn, params):  # a cheap rung: fewer, larger steps
        return replace(config_of(fn, params), train=fast)

    def record(c, model, **extra):
        return {"name": label(c.fusion.weight_fn, c.fusion.resolved_params()), "weight_fn": c.fusion.weight_fn,
                "params": c.fusion.resolved_params(), "valid": validation_scores(model, valid, k),
                "best_iteration": model.best_iteration, **extra}

    rounds_trained = 0
    spent = 0.0  # full-data rounds: a round on a share s of the queries counts s
    # rung 1: every candidate, r1 rounds from scratch on RUNG_SAMPLE[0] of the training queries
    rung1, models1 = [], []
    for fn, params in grid():
        c = rung_config(fn, params)
        model = train_one(c, rounds=r1, sample=masks[0])
        rounds_trained += r1
        spent += r1 * RUNG_SAMPLE[0]
        rung1.append(record(c, model))
        models1.append(model)
        log.info("weight search, %d rounds: %s valid ndcg@%d %.4f", r1, rung1[-1]["name"], k, rung1[-1]["valid"]["overall"])
    consts = {rec["params"]["value"]: rec["valid"] for rec in rung1 if rec["weight_fn"] == "constant"}
    learnt = learnt_weights(consts, n_valid)
    lp = learnt["params"]
    if len(set(lp.values())) == 1:
        learnt["note"] = "equal in every bucket: the same model as constant value=%s, not trained again" % lp["high"]
    else:
        c = rung_config("piecewise", lp)
        model = train_one(c, rounds=r1, sample=masks[0])
        rounds_trained += r1
        spent += r1 * RUNG_SAMPLE[0]
        rung1.append(record(c, model, learnt=True))
        models1.append(model)
        log.info("weight search, %d rounds: learnt %s valid %.4f", r1, rung1[-1]["name"], rung1[-1]["valid"]["overall"])
    # rung 2: the KEEP best boost on to r2 rounds (continuing their rung-1 models where the backend can)
    ranked = sorted(range(len(rung1)), key=lambda i: (-rung1[i]["valid"]["overall"], i))
    rung2 = []
    for i in ranked[:KEEP]:
        c = rung_config(rung1[i]["weight_fn"], rung1[i]["params"])
        if r2 == r1:
            model, extra = models1[i], {}
        elif continue_training:
            model, extra = train_one(c, rounds=r2 - r1, init=models1[i], sample=masks[1]), {"continued_from": r1}
            rounds_trained += r2 - r1
            spent += (r2 - r1) * RUNG_SAMPLE[1]
        else:
            model, extra = train_one(c, rounds=r2, sample=masks[1]), {}
            rounds_trained += r2
            spent += r2 * RUNG_SAMPLE[1]
        rung2.append(record(c, model, **extra, **({"learnt": True} if rung1[i].get("learnt") else {})))
        log.info("weight search, %d rounds: %s valid %.4f", r2, rung2[-1]["name"], rung2[-1]["valid"]["overall"])
    # rung 3: the best of rung 2 as a normal fit (from scratch: the fixed-weight model it stands for)
    best = max(range(len(rung2)), key=lambda i: (rung2[i]["valid"]["overall"], -i))
    c = config_of(rung2[best]["weight_fn"], rung2[best]["params"])
    key = candidate_key(c.fusion)
    reused = reuse is not None and key in reuse
    model = reuse[key] if reused else train_one(c)
    if not reused:
        rounds_trained += len(model.history) if model.history else model.best_iteration
    choice = record(c, model, **({"reused": True} if reused else {}),
                    **({"learnt": True} if rung2[best].get("learnt") else {}))
    log.info("weight search, full: %s valid %.4f (%d rounds kept)", choice["name"], choice["valid"]["overall"],
             model.best_iteration)
    record_ = {
        "metric": f"ndcg@{k} on validation queries (human labels)",
        "n_valid_queries": n_valid,
        "rungs": [{"rounds": r1, "learning_rate": fast.learning_rate, "query_share": RUNG_SAMPLE[0], "candidates": rung1},
                  {"rounds": r2, "learning_rate": fast.learning_rate, "query_share": RUNG_SAMPLE[1], "candidates": rung2},
                  {"rounds": f"full ({cfg.train.rounds}, early stopping {cfg.train.early_stopping})",
                   "candidates": [choice]}],
        "learnt": learnt,
        "choice": {"weight_fn": choice["weight_fn"], "params": choice["params"], "name": choice["name"],
                   "valid": choice["valid"]},
        "rounds_trained": int(rounds_trained),
        "search_full_data_rounds": round(spent, 2),
        "search_budget_full_data_rounds": round(SEARCH_SHARE * fewest_fit_rounds(cfg.train), 2),
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
    }
    log.info("weight search chose %s (validation ndcg@%d %.4f) after %d rounds in %.1f s", choice["name"], k,
             choice["valid"]["overall"], rounds_trained, record_["seconds"])
    return replace(model, info={**model.info, "weight_search": record_})
