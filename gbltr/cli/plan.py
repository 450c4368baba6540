"""``gbltr plan``: which pairs to give the LLM under a budget (thin shell over gbltr.labels.budget).

Examples::

    gbltr plan --data runs/world --budget 500 --out plan.parquet
    gbltr plan --data runs/world --budget-usd 2.5 --prices prices.toml --price-model gpt-4o-mini \\
        --strategy listrank --planner auto --out plan.parquet
    gbltr annotate --data runs/world --plan plan.parquet --model gpt-4o-mini --out llm.parquet
"""

from __future__ import annotations

import json

import click

from gbltr.labels.budget.run import PlanRequest
from gbltr.ranges import help_range, option_type

_STRATEGIES = ("point", "list", "listrank", "listsel")


def _planners():
    from gbltr.labels.budget import PLANNERS

    return sorted(PLANNERS)


@click.command("plan")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="dataset folder with a click log (impressions.parquet).")
@click.option("--budget", type=option_type(PlanRequest, "budget", "plan.budget"), help=help_range("how many labels (pairs) to buy.", option_type(PlanRequest, "budget", "plan.budget")))
@click.option("--budget-usd", type=option_type(PlanRequest, "budget_usd", "plan.budget_usd"), help=help_range("how many dollars to spend (needs --prices and --price-model).", option_type(PlanRequest, "budget_usd", "plan.budget_usd")))
@click.option("--prices", type=click.Path(dir_okay=False), help="price table (TOML/JSON, as for gbltr annotate --prices) for the expected dollars.")
@click.option("--price-model", help="the model of the price table the annotation will use.")
@click.option("--strategy", type=click.Choice(_STRATEGIES), default="point", show_default=True,
              help="annotation strategy: point plans pairs; list, listrank and listsel plan whole queries (their windows).")
@click.option("--planner", type=click.Choice(_planners()), default="value-per-dollar", show_default=True,
              help="how to choose (gbltr.labels.budget); auto chooses on validation queries.")
@click.option("--seed", type=option_type(PlanRequest, "seed", "plan.seed"), default=0, show_default=True,
              help=help_range("seed of the split (as gbltr fit --seed) and of the random planners and ties.", option_type(PlanRequest, "seed", "plan.seed")))
@click.option("--config", type=click.Path(dir_okay=False), help="gbltr fit config (TOML/JSON) whose [click] model and priors, [buckets] and split the plan uses (use the one you will fit with).")
@click.option("--out", required=True, help="plan file (Parquet); the spend per bucket goes to OUT with suffix .md.")
def plan(**kw):
    """Choose the pairs (or whole queries) to annotate with an LLM under a budget."""
    from gbltr.labels.budget.run import run_plan

    result = run_plan(PlanRequest(**kw))
    click.echo(result.to_markdown())
    click.echo(f"wrote {kw['out']} and {PlanRequest(**kw).markdown_path()}")
    click.echo("RESULT " + json.dumps({"pairs": result.frame.height, "pairs_left": result.pairs_left,
                                       "all_planned": result.all_planned,
                                       "usd": result.frame["expected_usd"].sum() if kw.get("prices") else None}))
