"""``value-per-dollar``: the nDCG a label would stop the click target from losing, per dollar,
learnt on validation queries.

A pair's LLM label is worth what it corrects in the fused model's training target: the click
target's errors at that pair, weighted by how much they cost in nDCG, since FAMOL moves a labelled
query's target from clicks towards the LLM's grades (Yu, Bi, Guo et al., arXiv:2511.06635). That
cost is measured where the truth is known, on the validation queries (human grades; never test):

1. **Loss mass of each validation pair** (:func:`click_loss_mass`): rank the query by the click
   model's relevance (a pair never shown counts 0, as in click training). For every pair of
   documents that this order puts against the human grades, add the nDCG@``k`` the swap costs,
   ``|g_i - g_j| |D(p_i) - D(p_j)| / IDCG`` with ``g = 2^grade - 1`` and ``D`` the discount at
   the click order's positions (LambdaRank's ``|ΔnDCG|``, Burges 2010), to both documents. A
   click tie counts half. The mass of a document is how much nDCG the click target loses
   through it.
2. **Expected mass per cell** (:func:`cell_values`): the mean mass per (frequency bucket,
   first-stage rank band, :data:`RANK_BANDS`), shrunk towards the band's mean over all buckets
   with :data:`SHRINKAGE` pseudo-pairs (a bucket may have a handful of validation queries).
3. **Value** of a training pair = the expected mass of its rank band (all buckets) x the
   bucket's lean ``(bucket mass / mean mass) ** TILT`` (:data:`TILT`, chosen on validation) / its
   cost (dollars with a price table, else tokens; 1 without estimates). Equal values are ordered
   by the plan's seeded tie break, so a budget spreads over the queries of a band rather than
   filling a few of them: the top of every query's list first, which is where LambdaRank's
   gradient and nDCG@10 weigh most.

Without validation pairs with human grades the cells cannot be learnt: the value falls back to
the prior guess ``posterior spread x rank discount`` (the ``fitted`` part is 0 then). Scoring
costs one pass over the validation pairs and a join: far less than one fit.

The active-learning idea (label where the expected loss reduction is largest, Long et al.,
SIGIR 2010), with the loss measured on validation queries and the label's price in the
denominator.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.labels.budget.base import PlanInput, Planner, Scores, posterior_spread, rank_discount

RANK_BANDS = (1, 2, 3, 4, 6, 11, 21)
"""Lower edges of the first-stage rank bands: 1, 2, 3, 4-5, 6-10, 11-20, 21 and below."""
SHRINKAGE = 20.0
"""Pseudo-pairs of the band's all-bucket mean in each (bucket, band) cell's mean."""
CUTOFF = 10
"""The nDCG cut-off of the loss mass (the early-stopping and report cut-off)."""


def rank_band(rank: np.ndarray) -> np.ndarray:
    """int (n,): the index of each first-stage rank's band in :data:`RANK_BANDS`."""
    return np.searchsorted(np.asarray(RANK_BANDS), np.maximum(np.asarray(rank), 1), side="right") - 1


def click_loss_mass(valid: pl.DataFrame, k: int = CUTOFF) -> np.ndarray:
    """float64 (n_pairs,): each validation pair's share of the nDCG@``k`` that ranking its query
    by the click model's relevance loses against the human grades (see the module docstring).

    ``valid``: query_id, rank, click_score (null = never shown: 0), human (grades; null = 0),
    sorted by query. A query whose grades are all equal loses nothing."""
    q = valid["query_id"].to_numpy()
    click = valid["click_score"].fill_null(0.0).to_numpy().astype(np.float64)
    human = np.maximum(valid["human"].fill_null(0.0).to_numpy().astype(np.float64), 0.0)
    first = valid["rank"].to_numpy().astype(np.float64)
    mass = np.zeros(valid.height)
    bounds = np.flatnonzero(np.r_[True, q[1:] != q[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        h, c = human[s:e], click[s:e]
        g = np.exp2(h) - 1.0
        ideal = np.sort(g)[::-1][:k]
        idcg = float((ideal / np.log2(np.arange(2, ideal.size + 2))).sum())
        if idcg <= 0.0:
            continue
        order = np.lexsort((first[s:e], -c))  # the click order; ties by the first-stage rank
        pos = np.empty(e - s)
        pos[order] = np.arange(1, e - s + 1)
        disc = np.where(pos <= k, 1.0 / np.log2(pos + 1.0), 0.0)
        against = np.where(c[:, None] == c[None, :], 0.5, (c[:, None] < c[None, :]).astype(float))
        wrong = (h[:, None] > h[None, :]) * against  # i should be above j, clicks put it below (or tie)
        delta = np.abs(g[:, None] - g[None, :]) * np.abs(disc[:, None] - disc[None, :]) / idcg * wrong
        mass[s:e] = delta.sum(axis=1) + delta.sum(axis=0)
    return mass


def cell_values(valid: pl.DataFrame, shrinkage: float = SHRINKAGE, k: int = CUTOFF) -> pl.DataFrame:
    """bucket, band, value (the expected loss mass of a pair in that cell), pairs (validation
    pairs behind it); plus one row per band with bucket null: the band's mean over all buckets."""
    frame = valid.select("bucket", pl.Series("band", rank_band(valid["rank"].to_numpy())),
                         pl.Series("mass", click_loss_mass(valid, k)))
    band = frame.group_by("band").agg(pl.col("mass").mean().alias("band_mean"))
    cells = (frame.group_by("bucket", "band").agg(pl.col("mass").sum().alias("total"), pl.len().alias("pairs"))
             .join(band, on="band")
             .with_columns(((pl.col("total") + shrinkage * pl.col("band_mean")) / (pl.col("pairs") + shrinkage))
                           .alias("value")))
    return pl.concat([cells.select("bucket", "band", "value", pl.col("pairs").cast(pl.Int64)),
                      band.select(pl.lit(None, dtype=pl.String).alias("bucket"), "band",
                                  pl.col("band_mean").alias("value"), pl.lit(0, dtype=pl.Int64).alias("pairs"))],
                     how="vertical_relaxed")


def expected_mass(pairs: pl.DataFrame, cells: pl.DataFrame) -> np.ndarray:
    """float64 (n_pairs,): each pair's cell value (its bucket and rank band); a bucket without
    validation pairs takes the band's all-bucket mean, a band without any takes the smallest value."""
    frame = pairs.select(pl.col("bucket").cast(pl.String), pl.Series("band", rank_band(pairs["rank"].to_numpy())))
    per_cell = cells.filter(pl.col("bucket").is_not_null()).select("bucket", "band", pl.col("value").alias("cell"))
    per_band = cells.filter(pl.col("bucket").is_null()).select("band", pl.col("value").alias("band_value"))
    floor = float(cells["value"].min()) if cells.height else 0.0
    out = (frame.join(per_cell, on=["bucket", "band"], how="left", maintain_order="left")
           .join(per_band, on="band", how="left", maintain_order="left")
           .select(pl.coalesce("cell", "band_value", pl.lit(floor))))
    return out.to_series().to_numpy().astype(np.float64)


TILT = 0.0
"""How far the budget leans towards the buckets whose clicks lose most (0: spread over buckets
like the pairs; 1: in proportion to each bucket's loss mass). Chosen on the validation queries of
development worlds (built-in world seeds 11-14, never the benchmark's seeds 0-4): mean
validation nDCG@10 at budgets 0.02/0.05/0.1/0.2 was 0.834/0.841/0.860/0.864 with 0,
0.831/0.841/0.854/0.865 with 0.5 and 0.831/0.841/0.849/0.854 with 1 (random pairs:
0.830/0.839/0.850/0.864). Leaning towards the tail buys labels where the clicks are worst, but
the fused model learns one function for every bucket: a bucket left without LLM labels loses
more than the tail gains."""


def bucket_tilt(pairs: pl.DataFrame, valid: pl.DataFrame, masses: np.ndarray, tilt: float = TILT) -> np.ndarray:
    """float64 (n_pairs,): ``(mean loss mass of the pair's bucket / mean over all validation
    pairs) ** tilt``, the bucket's mean shrunk towards the overall one with :data:`SHRINKAGE`
    pseudo-pairs; 1 for a bucket without validation pairs."""
    overall = float(masses.mean()) if masses.size else 0.0
    if overall <= 0.0 or tilt == 0.0:
        return np.ones(pairs.height)
    per = (pl.DataFrame({"bucket": valid["bucket"].cast(pl.String), "m": masses}).group_by("bucket")
           .agg(((pl.col("m").sum() + SHRINKAGE * overall) / (pl.len() + SHRINKAGE) / overall).alias("f")))
    f = (pairs.select(pl.col("bucket").cast(pl.String)).join(per, on="bucket", how="left", maintain_order="left")
         ["f"].fill_null(1.0).to_numpy())
    return np.power(np.maximum(f, 1e-12), tilt)


def band_values(pairs: pl.DataFrame, valid: pl.DataFrame, masses: np.ndarray) -> np.ndarray:
    """float64 (n_pairs,): the mean validation loss mass of the pair's first-stage rank band (all
    buckets); a band without validation pairs takes the smallest band value."""
    vb = rank_band(valid["rank"].to_numpy())
    means = {b: float(masses[vb == b].mean()) for b in np.unique(vb)}
    floor = min(means.values()) if means else 0.0
    return np.array([means.get(b, floor) for b in range(len(RANK_BANDS))])[rank_band(pairs["rank"].to_numpy())]


class ValuePerDollar(Planner):
    name = "value-per-dollar"
    description = "the nDCG the click target loses at a pair (learnt per bucket and rank on validation) per dollar"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        cost = np.ones(len(inp)) if inp.cost is None else np.maximum(np.asarray(inp.cost, float), 1e-12)
        valid = inp.validation
        if valid is not None and valid.height and "human" in valid.columns:
            masses = click_loss_mass(valid)
            band = band_values(inp.pairs, valid, masses)
            tilt = bucket_tilt(inp.pairs, valid, masses)
            value = band * tilt
            fitted = np.ones(len(inp))
        else:  # nothing to learn from: the prior guess
            value = posterior_spread(inp) * rank_discount(inp)
            fitted = np.zeros(len(inp))
        return Scores(value / cost, {"expected_ndcg_loss": value, "cost": cost, "fitted": fitted})
