"""Budget curves: fused nDCG per bucket against the share of LLM labels bought, per planner.

``gbltr experiment --budgets 0.02,0.05,0.1 --planners random-pairs,tail-first`` runs this instead
of the label setups. For each seed the data are prepared once (click and LLM labels); a FAMOL
model with every LLM label (``full``) is the reference. Then, for each planner and budget (a
share of the training pairs that have an LLM label), the planner plans that many pairs
(:func:`gbltr.labels.budget.plan.make_plan`; ``auto`` chooses by training on each candidate's
plan and scoring validation queries: :mod:`gbltr.labels.budget.trial`) and the
LLM labels of every other pair are masked: a budget costs no LLM call. Queries left without any
LLM label train on clicks alone (:func:`gbltr.train.fused.click_only`).

Output: per (view, planner, budget) the mean and std over seeds of the per-seed mean metric,
paired tests (by (seed, query)) against ``random-pairs`` at the same budget and against
``full``, a table and a plot (log budget axis, a panel per view), and how many pairs each
budget bought per planner (mean over seeds).

A budget is a **share** of the training pairs (``--budgets``, in (0, 1]) or a **dollar amount**
(``--budgets-usd``, > 0, with a price table: :class:`DollarBudgets`). The two are separate
options, so a number is never read as the other kind. A dollar budget goes through the
annotator's own cost model (:func:`gbltr.labels.budget.run.usage_of`, pointwise strategy: the
estimate ``gbltr plan --budget-usd`` and ``gbltr annotate --dry-run`` make), so the pairs a
planner buys for $X here are the pairs ``gbltr plan --budget-usd X`` plans for the same data,
split, planner and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from gbltr.errors import ConfigError
from gbltr.evaluate.significance import paired_by_view
from gbltr.evaluate.views import long_views, view_order
from gbltr.labels.budget import RANDOM, get_planner
from gbltr.labels.budget.trial import mask_llm, masked_trial
from gbltr.ranges import positive, probability
from gbltr.words import counted

FULL = "full"
BUDGET_SHARE = probability(low_open=True)
"""Each ``--budgets`` value: a share of the training pairs' LLM labels, in (0, 1]."""
BUDGET_USD = positive()
"""Each ``--budgets-usd`` value: dollars at the price table, a finite number > 0."""
SHARE, USD = "share", "usd"
_KINDS = {SHARE: ("--budgets", BUDGET_SHARE, "shares of the training pairs in (0, 1], e.g. 0.02,0.05,0.1"),
          USD: ("--budgets-usd", BUDGET_USD, "dollar amounts > 0 at the price table, e.g. 0.5,1,2")}


def parse_budgets(text: str, unit: str = SHARE) -> list[float]:
    """``"0.02,0.05,0.1"`` -> budgets, sorted, without repeats: shares in (0, 1] (``unit`` SHARE,
    ``--budgets``) or dollars > 0 (USD, ``--budgets-usd``). NaN, inf, 0, negatives and (for
    shares) values above 1 are refused, naming the option and the value."""
    option, declared, expected = _KINDS[unit]
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            hint = " (no $ sign: --budgets-usd takes plain numbers of dollars)" if part.startswith("$") else ""
            raise ConfigError(f"{option} {text!r}: {part!r} is not a number{hint}; expected {expected}") from None
        declared.check(f"{option} {'share' if unit == SHARE else 'dollar amount'}", value)
        out.append(value)
    if not out:
        raise ConfigError(f"{option} {text!r}; expected at least one value: {expected}")
    return sorted(set(out))


def budget_label(budget: float, unit: str = SHARE) -> str:
    """How a budget is written in setup names, tables and plot ticks: ``0.1`` or ``$0.5``."""
    return f"${budget:g}" if unit == USD else f"{budget:g}"


def setup_name(planner: str, budget: float, unit: str = SHARE) -> str:
    return f"{planner}@{budget_label(budget, unit)}"


@dataclass(frozen=True)
class DollarBudgets:
    """What turns dollars into pairs: the price table and the model priced in it (as
    ``gbltr plan --prices FILE --price-model NAME``). Pairs are estimated for the pointwise
    strategy, the one the budget curves mask labels for."""

    prices: object  # gbltr.labels.llm.cost.PriceTable
    model: str


@dataclass
class BudgetCurves:
    per_query: pl.DataFrame  # setup, planner, budget, seed, query_id, bucket, frequency, metrics
    summary: dict
    metric: str

    @property
    def unit(self) -> str:
        return self.summary.get("unit", SHARE)

    def setup(self, planner: str, budget: float) -> str:
        return setup_name(planner, budget, self.unit)

    def label(self, budget: float) -> str:
        return budget_label(budget, self.unit)

    def to_markdown(self) -> str:
        s = self.summary
        against = "dollars spent on LLM labels" if self.unit == USD else "the share of LLM labels"
        lines = [f"# Budget curves: {self.metric} per bucket against {against}", "",
                 f"{counted(len(s['seeds']), 'seed')} (mean ± std over seeds); paired by (seed, query); "
                 f"'vs random': against {RANDOM} at the same budget; 'vs full': against every LLM label "
                 f"({s['full_mean_note']}).", ""]
        for view in s["views"]:
            lines += [f"## {view}", "", "| planner | " + " | ".join(self.label(b) for b in s["budgets"]) + " |",
                      "|---|" + "---:|" * len(s["budgets"])]
            full = s["results"][view][FULL]
            lines.append(f"| {FULL} | " + " | ".join(f"{full['mean']:.4f}" for _ in s["budgets"]) + " |")
            for p in s["planners"]:
                cells = []
                for b in s["budgets"]:
                    r = s["results"][view][self.setup(p, b)]
                    marks = "".join(m for key, m in (("vs_random", "ʳ"), ("vs_full", "ᶠ"))
                                    if (r.get(key) or {}).get("t_p") is not None and r[key]["t_p"] < 0.05)
                    cells.append(f"{r['mean']:.4f} ± {r['std']:.4f}{marks}")
                lines.append(f"| {p} | " + " | ".join(cells) + " |")
            lines.append("")
        lines.append("ʳ: differs from random-pairs at the same budget, ᶠ: differs from full (paired t-test, p < 0.05).")
        bought = s.get("bought")
        if bought:
            usd = self.unit == USD
            lines += ["", "## Pairs bought", "",
                      f"Training pairs whose LLM label each budget bought (mean over seeds{'; expected dollars spent in brackets' if usd else ''}), "
                      f"of {s['pairs_left']} (mean over seeds) with an LLM label.", "",
                      "| planner | " + " | ".join(self.label(b) for b in s["budgets"]) + " |",
                      "|---|" + "---:|" * len(s["budgets"])]
            for p in s["planners"]:
                cells = []
                for b in s["budgets"]:
                    r = bought[self.setup(p, b)]
                    cell = f"{np.mean(r['pairs']):.0f}"
                    if usd:
                        cell += f" (${np.mean(r['usd']):.4f})"
                    cells.append(cell)
                lines.append(f"| {p} | " + " | ".join(cells) + " |")
        if s.get("trial_choices"):
            lines += ["", "## What auto chose (validation nDCG@10 of each candidate's masked trial)", "",
                      "| planner | seed | budget | chose | trials |", "|---|---:|---:|---|---|"]
            for c in s["trial_choices"]:
                trials = ", ".join(f"{k} {v:.4f}" for k, v in c["trials"].items())
                lines.append(f"| {c['planner']} | {c['seed']} | {c['budget']:g} | {c['chosen']} | {trials} |")
        return "\n".join(lines) + "\n"


def _memo(usage):
    """``usage`` computed once per units: every planner and budget of one seed plans the same
    pairs (make one per seed)."""
    seen: dict = {}

    def once(train, unit, n_units):
        key = (train.height, n_units, unit.tobytes())
        if key not in seen:
            seen[key] = usage(train, unit, n_units)
        return seen[key]

    return once


def run_budget_curves(cfg, budgets, planners, seeds, out=None, *, metric: str = "ndcg@10",
                      n_permutations: int = 10_000, dollars: DollarBudgets | None = None) -> BudgetCurves:
    """Budget curves on ``cfg``'s dataset (the built-in world by default, a fresh one per seed).

    ``budgets``: shares of the training pairs, or dollars when ``dollars`` gives the price table."""
    from gbltr.checkpoint import checkpoint
    from gbltr.data.log import open_dataset
    from gbltr.labels.budget.plan import Budget, candidates, make_plan
    from gbltr.labels.budget.run import usage_of
    from gbltr.pipeline import prepare, read_named_files
    from gbltr.progress import progress
    from gbltr.train.fit import evaluate, train_model

    planners = list(dict.fromkeys([RANDOM, *planners]))
    for p in planners:
        get_planner(p)
    sources = ("click", "llm")

    def seed_config(seed: int):
        return replace(cfg, seed=seed, world=replace(cfg.world, seed=seed) if cfg.data is None else cfg.world,
                       labels="fused", fusion=replace(cfg.fusion, method="famol"))

    named = read_named_files(seed_config(seeds[0]), sources)
    checkpoint("experiment")
    unit = USD if dollars is not None else SHARE
    frames, bought, left = [], {}, []
    choices = []  # what auto chose per seed and budget, and its candidates' trial scores
    with progress(total=len(seeds) * (1 + len(planners) * len(budgets)), desc="budget curves", unit="model") as bar:
        for seed in seeds:
            base = seed_config(seed)
            prep = prepare(base, sources=sources, named=named)
            ds, search = open_dataset(prep.dataset_path, False)
            found = candidates(ds, search, prep.stats, prep.split.ids("train"), prep.split.ids("valid"),
                               base.click, exclude_labelled=False,
                               second_click_model=any(get_planner(p).needs_second_click_model for p in planners))
            valid = found.valid
            train = found.train.join(prep.train_labels["llm"].filter(pl.col("label").is_not_null()).select("query_id", "doc_id"),
                               on=["query_id", "doc_id"], how="semi")
            left.append(train.height)
            usage = None
            if dollars is not None:
                from gbltr.labels.llm.client import ClientConfig
                from gbltr.labels.llm.pairs import pairs_from_dataset
                from gbltr.labels.llm.strategies import StrategyConfig

                usage = _memo(usage_of(pairs_from_dataset(prep.dataset_path), StrategyConfig(strategy="point"),
                                       ClientConfig(model=dollars.model)))

            def run(p, setup, planner, budget):
                model = train_model(p, base, seed=seed)
                frames.append(evaluate(p, model).with_columns(
                    setup=pl.lit(setup), planner=pl.lit(planner), budget=pl.lit(budget, dtype=pl.Float64),
                    budget_unit=pl.lit(unit), seed=pl.lit(seed)))
                bar.update(1)

            run(prep, FULL, FULL, 1.0 if unit == SHARE else None)  # full: every label (no dollar amount)
            trial = masked_trial(prep, base, seed)  # auto's masked trials: validation queries only
            for planner in planners:
                uses_trials = get_planner(planner).uses_trials
                for b in budgets:
                    budget = Budget(usd=b) if unit == USD else Budget(share=b)
                    plan = make_plan(train, valid, planner=planner, budget=budget, strategy="point", seed=seed,
                                     dataset="", prior=found.prior, usage=usage,
                                     prices=None if dollars is None else dollars.prices,
                                     model="" if dollars is None else dollars.model,
                                     trial_fit=trial if uses_trials else None)
                    if uses_trials and plan.frame.height:
                        f = plan.frame
                        choices.append({"planner": planner, "seed": seed, "budget": b, "chosen": f["chosen"][0],
                                        "trials": {c.removeprefix("part_trial_"): float(f[c][0])
                                                   for c in f.columns if c.startswith("part_trial_")}})
                    name = setup_name(planner, b, unit)
                    got = bought.setdefault(name, {"pairs": [], "usd": []})
                    got["pairs"].append(plan.frame.height)
                    got["usd"].append(float(plan.frame["expected_usd"].sum()) if dollars is not None else None)
                    run(mask_llm(prep, plan.frame), name, planner, b)
    per_query = pl.concat(frames, how="vertical_relaxed")
    summary = summarise_budget_curves(per_query, planners, list(budgets), list(seeds), metric=metric,
                                      n_permutations=n_permutations, unit=unit)
    summary["bought"] = bought
    summary["pairs_left"] = float(np.mean(left))
    summary["trial_choices"] = choices
    if dollars is not None:
        summary["price_model"] = dollars.model
    result = BudgetCurves(per_query, summary, metric)
    if out is not None:
        from gbltr.evaluate.report import write_outputs
        from gbltr.plots import plot_budget_curves

        write_outputs(out, "experiment", per_query, summary, result.to_markdown(), plot_budget_curves(result))
    return result


def summarise_budget_curves(per_query: pl.DataFrame, planners, budgets, seeds, *, metric: str,
                            n_permutations: int = 10_000, unit: str = SHARE) -> dict:
    """Per view, setup: mean and std over seeds; tests vs random at the same budget and vs full."""
    long = long_views(per_query).filter(pl.col(metric).is_not_nan())
    views = view_order(long["view"].unique().to_list())
    per_seed = long.group_by("view", "setup", "seed").agg(pl.col(metric).mean())
    setups = [FULL] + [setup_name(p, b, unit) for p in planners for b in budgets]
    results: dict = {}
    for v in views:
        res = {}
        for s in setups:
            vals = per_seed.filter((pl.col("view") == v) & (pl.col("setup") == s)).sort("seed")[metric].to_numpy()
            res[s] = {"mean": float(vals.mean()) if vals.size else float("nan"),
                      "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0, "per_seed": [float(x) for x in vals]}
        results[v] = res
    keys = ("seed", "query_id")
    tested = [setup_name(p, b, unit) for p in planners for b in budgets]
    for t in paired_by_view(per_query, system="setup", baseline=FULL, metric=metric, keys=keys, systems=tested,
                            n_permutations=n_permutations):
        if t.view in results:
            results[t.view][t.system]["vs_full"] = t.to_dict()
    for b in budgets:
        others = [setup_name(p, b, unit) for p in planners if p != RANDOM]
        if not others:
            continue
        for t in paired_by_view(per_query, system="setup", baseline=setup_name(RANDOM, b, unit), metric=metric, keys=keys,
                                systems=others, n_permutations=n_permutations):
            if t.view in results:
                results[t.view][t.system]["vs_random"] = t.to_dict()
    return {"kind": "budget_curves", "unit": unit, "planners": list(planners), "budgets": list(budgets), "seeds": list(seeds),
            "metric": metric, "views": views, "setups": setups, "results": results, "pair_by": "seed_query",
            "full_mean_note": "the same FAMOL model with every training pair's LLM label"}
