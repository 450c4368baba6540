"""Masked trials: what a plan would be worth, measured by training on it.

Where every training pair already has an LLM label (the built-in world, a semi-synthetic log, a
team's pilot annotation), a plan costs no LLM call to try: keep the LLM labels of the planned
pairs, mask the rest (:func:`mask_llm`), train the fused model, score it on the validation
queries (human grades; never test). ``auto`` chooses its planner this way
(:mod:`gbltr.labels.budget.auto`), with cheap settings (:func:`trial_config`) since it trains one
model per candidate planner.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

TRIAL_ROUNDS = 100
"""Boosting rounds of a trial fit (at most the config's), at :data:`TRIAL_SPEEDUP` times the learning rate."""
TRIAL_SPEEDUP = 3.0
TRIAL_WEIGHT_FN = "bucket"
"""A trial's FAMOL weight function: fixed (the ``auto`` weight search would cost more than a fit)."""


def mask_llm(prep, keep: pl.DataFrame):
    """``prep`` with the training LLM labels of every pair not in ``keep`` (query_id, doc_id) set missing."""
    train = prep.train
    q = train.query_ids[train.row_query()].astype(str)
    d = train.doc_ids.astype(str)
    rows = pl.DataFrame({"query_id": q, "doc_id": d}).with_row_index("_r")
    kept = rows.join(keep.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="semi")["_r"].to_numpy()
    llm = np.full(train.n_rows, np.nan)
    llm[kept] = train.labels["llm"][kept]
    return replace(prep, train=replace(train, labels={**train.labels, "llm": llm}))


def trial_config(cfg):
    """``cfg`` made cheap for a trial: FAMOL with the fixed :data:`TRIAL_WEIGHT_FN`, at most
    :data:`TRIAL_ROUNDS` rounds at :data:`TRIAL_SPEEDUP` times the learning rate (at most 1)."""
    train = replace(cfg.train, rounds=min(cfg.train.rounds, TRIAL_ROUNDS),
                    learning_rate=min(1.0, cfg.train.learning_rate * TRIAL_SPEEDUP))
    return replace(cfg, labels="fused", train=train,
                   fusion=replace(cfg.fusion, method="famol", weight_fn=TRIAL_WEIGHT_FN, weight_params={}))


def validation_ndcg(prep, model, k: int = 10) -> float:
    """Mean nDCG@``k`` of ``model`` over ``prep``'s validation queries that can rank."""
    from gbltr.evaluate.metrics import ndcg_per_query

    valid = prep.valid
    v = ndcg_per_query(model.predict(valid.X), valid.labels["human"], valid.group_ptr, ks=(k,))[:, 0]
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def masked_trial(prep, cfg, seed: int):
    """A function ``keep -> validation nDCG@10`` of the fused model trained with only ``keep``'s
    (query_id, doc_id) LLM labels, under :func:`trial_config` (``prep``: every training pair's
    LLM label present)."""
    from gbltr.train.fit import train_model

    cheap = trial_config(cfg)

    def trial(keep: pl.DataFrame) -> float:
        return validation_ndcg(prep, train_model(mask_llm(prep, keep), cheap, seed=seed))

    return trial
