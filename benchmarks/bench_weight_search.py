"""Cost and quality of ``--weight-fn auto`` (issue 19, section 5) against its anchor.

Cost, side by side in one process on the same prepared data (``--world``: the built-in world's
parameters, ``default`` or ``mid``), LightGBM, ``train.threads`` = ``--threads`` (1 by default,
so CPU seconds are comparable on a shared box), ``--repeats`` alternated runs, medians:

  * **anchor**: one fixed-weight FAMOL fit of the weight function that ``auto`` chose (what a
    user who knew the answer would pay: the same model ``auto`` returns);
  * **auto**: gbltr's ``weight_fn = "auto"`` search (:mod:`gbltr.train.weight_search`);
  * **old auto** (``--old COMMIT``): the search as it was at ``COMMIT`` (its
    ``gbltr/train/weight_search.py`` read with ``git show``), on the same data.

It prints CPU seconds and boosting rounds of each and ``auto / anchor`` (goal: <= 2).

Quality (``--quality-seeds 0,1,2,3,4``): for each seed a new world (world seed = run seed), the
new and the old search (needs ``--old``) are trained and scored on the test queries; the
per-query test nDCG@10 are paired by (seed, query) and tested (:func:`gbltr.evaluate.significance.
paired_test`: paired t-test and randomisation test). Goal: the new search not significantly lower.

The last line is ``RESULT {json}``.

    python benchmarks/bench_weight_search.py --old ea8d431                       # cost, default world
    python benchmarks/bench_weight_search.py --old ea8d431 --skip-cost --quality-seeds 0,1,2,3,4

(``ea8d431``: the search before its rungs were sized by the fit, 51 rounds on every query;
``9d09635``: the search before issue 19, 11 x 30 rounds + 3 full fits.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORLDS = {
    "default": {},  # WorldParams' defaults: 3000 queries, 150k sessions
    "mid": {"queries": 1500, "sessions": 60_000, "test_queries_per_bucket": 50, "valid_queries_per_bucket": 30},
    "tiny": {"queries": 600, "sessions": 20_000, "test_queries_per_bucket": 25, "valid_queries_per_bucket": 15,
             "min_train_queries_per_bucket": 10},  # a smoke test (configs/tiny-world.toml's world)
}


def old_search(commit: str):
    """``search_weights`` as it was at ``commit`` (the module's source from git)."""
    src = subprocess.run(["git", "show", f"{commit}:gbltr/train/weight_search.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("old_weight_search")
    exec(compile(src, f"{commit}:gbltr/train/weight_search.py", "exec"), mod.__dict__)

    import inspect

    takes = "continue_training" in inspect.signature(mod.search_weights).parameters  # 9d09635's search has none

    def search(*args, continue_training=False, **kw):
        return mod.search_weights(*args, **({"continue_training": continue_training} if takes else {}), **kw)

    return search


def config(world: str, seed: int, threads: int, weight_fn: str = "auto", params: dict | None = None):
    from gbltr.config import load_config

    fusion = {"weight_fn": weight_fn, **({"weight_params": params} if params else {})}
    return load_config(None, {"seed": seed, "labels": "fused", "world": {"seed": seed, **WORLDS[world]},
                              "train": {"threads": threads}, "fusion": fusion})


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def train(prep, cfg, search=None):
    import gbltr.train.fused as fused
    from gbltr.train.fit import train_model

    new = fused.search_weights
    if search is not None:
        fused.search_weights = search
    try:
        return timed(lambda: train_model(prep, cfg))
    finally:
        fused.search_weights = new


def cost(args) -> dict:
    from gbltr.pipeline import prepare

    prep = prepare(config(args.world, args.seed, args.threads))
    warm = config(args.world, args.seed, args.threads, "constant", {"value": 0.5})
    train(prep, replace(warm, train=replace(warm.train, rounds=2)))  # untimed: numba compiles the FAMOL kernel
    res = {}
    anchor_cfg = None
    runs = {"auto": [], "anchor": [], "old_auto": []}
    for rep in range(args.repeats):  # alternated, so a change in the box's load hits both
        model, cpu, wall = train(prep, prep.config)
        runs["auto"].append((cpu, wall))
        rec = model.info["weight_search"]
        ch = rec["choice"]
        if anchor_cfg is None:
            anchor_cfg = config(args.world, args.seed, args.threads, ch["weight_fn"], ch["params"])
        fixed, cpu, wall = train(prep, anchor_cfg)
        runs["anchor"].append((cpu, wall))
        same = bool(np.array_equal(fixed.predict(prep.test.X), model.predict(prep.test.X)))
        if args.old:
            old, cpu, wall = train(prep, prep.config, old_search(args.old))
            runs["old_auto"].append((cpu, wall))
            orec = old.info["weight_search"]
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in runs.items() if v), flush=True)

    def med(name):
        cpu = [c for c, _ in runs[name]]
        return {"cpu_s": round(float(np.median(cpu)), 2), "wall_s": round(float(np.median([w for _, w in runs[name]])), 2),
                "cpu_s_all": [round(c, 2) for c in cpu]}

    res["auto"] = {**med("auto"), "rounds": rec["rounds_trained"], "choice": ch["name"], "valid": ch["valid"]["overall"]}
    res["anchor"] = {**med("anchor"), "rounds": len(fixed.history) or fixed.best_iteration, "weight_fn": ch["name"],
                     "same_model_as_auto": same}
    if args.old:
        res["old_auto"] = {**med("old_auto"), "rounds": orec["rounds_trained"], "choice": orec["choice"]["name"],
                           "valid": orec["choice"]["valid"]["overall"]}
    res["auto_over_anchor_cpu"] = round(res["auto"]["cpu_s"] / res["anchor"]["cpu_s"], 3)
    if args.old:
        res["old_over_anchor_cpu"] = round(res["old_auto"]["cpu_s"] / res["anchor"]["cpu_s"], 3)
    for name in ("anchor", "auto", "old_auto"):
        if name in res:
            r = res[name]
            print(f"{name:9s} cpu {r['cpu_s']:8.2f} s  wall {r['wall_s']:8.2f} s  rounds {r['rounds']:5d}  "
                  f"{r.get('choice', r.get('weight_fn'))}", flush=True)
    print(f"auto / anchor (CPU): {res['auto_over_anchor_cpu']:.2f}  (goal <= 2)"
          + (f"; old auto / anchor: {res['old_over_anchor_cpu']:.2f}" if args.old else ""))
    return res


def quality(args) -> dict:
    from gbltr.evaluate.significance import paired_test
    from gbltr.pipeline import prepare
    from gbltr.train.fit import evaluate

    search = old_search(args.old)
    new_all, old_all, rows = [], [], []
    for seed in args.quality_seeds:
        prep = prepare(config(args.world, seed, args.threads))
        new, cpu_new, _ = train(prep, prep.config)
        old, cpu_old, _ = train(prep, prep.config, search)
        a, b = evaluate(prep, old)["ndcg@10"].to_numpy(), evaluate(prep, new)["ndcg@10"].to_numpy()
        old_all.append(a), new_all.append(b)
        row = {"seed": seed, "old": float(np.nanmean(a)), "new": float(np.nanmean(b)),
               "old_choice": old.info["weight_search"]["choice"]["name"],
               "new_choice": new.info["weight_search"]["choice"]["name"],
               "old_cpu_s": round(cpu_old, 1), "new_cpu_s": round(cpu_new, 1)}
        rows.append(row)
        print(f"seed {seed}: test ndcg@10 old {row['old']:.4f} ({row['old_choice']}, {row['old_cpu_s']} s) "
              f"new {row['new']:.4f} ({row['new_choice']}, {row['new_cpu_s']} s)", flush=True)
    t = paired_test(np.concatenate(old_all), np.concatenate(new_all))
    out = {"world": args.world, "seeds": args.quality_seeds, "per_seed": rows, "mean_old": t.mean_a,
           "mean_new": t.mean_b, "delta": t.delta, "t_p": t.t_p, "rand_p": t.rand_p, "n_pairs": t.n,
           "not_significantly_lower": not (t.delta < 0 and min(t.t_p, t.rand_p) < 0.05)}
    print(f"paired over (seed, query), n={t.n}: old {t.mean_a:.4f} new {t.mean_b:.4f} delta {t.delta:+.4f} "
          f"t p {t.t_p:.3g} rand p {t.rand_p:.3g}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", choices=sorted(WORLDS), default="default")
    ap.add_argument("--seed", type=int, default=0, help="world and run seed of the cost comparison")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="alternated runs of each contender (medians reported)")
    ap.add_argument("--old", help="a commit whose weight search to compare with (e.g. 9d09635)")
    ap.add_argument("--skip-cost", action="store_true")
    ap.add_argument("--quality-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[])
    args = ap.parse_args()
    if args.quality_seeds and not args.old:
        ap.error("--quality-seeds compares with the old search: give --old COMMIT")
    load0 = os.getloadavg()
    result = {"world": args.world, "threads": args.threads, "repeats": args.repeats, "cpus": os.cpu_count(), "old": args.old}
    if not args.skip_cost:
        result["cost"] = cost(args)
        result["goal_met"] = result["cost"]["auto_over_anchor_cpu"] <= 2.0
    if args.quality_seeds:
        result["quality"] = quality(args)
    result["load_before"], result["load_after"] = round(load0[0], 2), round(os.getloadavg()[0], 2)
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
