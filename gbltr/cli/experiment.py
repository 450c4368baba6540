"""``gbltr experiment``: label setups x seeds, per-bucket means, std and paired significance."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gbltr.config import BACKENDS, DEFAULT_SETUPS, SPLIT_MODES, TrainConfig, dotted, load_config
from gbltr.errors import ConfigError
from gbltr.cli.tracking import mlflow_options, tracking
from gbltr.ranges import count, option_type, seed_range

SEED_COUNT = count(1, 10_000)
"""``--seeds N``: how many seeds (0..N-1) to run."""


def parse_seeds(text: str) -> list[int]:
    """``"5"`` -> seeds 0..4; ``"3,4"`` -> seeds 3 and 4 (each a seed: :func:`gbltr.ranges.seed_range`)."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}; expected a number of seeds (5) or a list of seeds (0,2,4)") from None
    if not values:
        raise ConfigError(f"--seeds {text!r}; expected a number of seeds >= 1, or a list of seeds")
    from gbltr.experiment import check_seeds

    if "," not in text:
        return check_seeds(range(SEED_COUNT.check("--seeds", values[0])))
    for v in values:
        seed_range().check("--seeds seed", v)
    return check_seeds(values)


@click.command()
@click.option("--setups", default=",".join(DEFAULT_SETUPS), show_default=True,
              help="comma-separated setups (see gbltr.experiment); fused:constant and "
                   "fused:famol-no-query-features are always added")
@click.option("--seeds", default="5", show_default=True,
              help="number of seeds N (seeds 0..N-1), or a comma-separated list of seeds")
@click.option("--data", type=click.Path(file_okay=False), help="dataset folder (default: the built-in world, one per seed)")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option("--metric", default="ndcg@10", show_default=True)
@click.option("--split", type=click.Choice(sorted(SPLIT_MODES)), help="source (the dataset's query split) or random (seeded)")
@click.option("--catalogue", help="TOML file (or packaged name, e.g. letor4) grouping the dataset's precomputed features")
@click.option("--rounds", type=option_type(TrainConfig, "rounds", "train.rounds"), help="maximum boosting rounds")
@click.option("--control", is_flag=True, help="built-in control world (intent independent of frequency)")
@click.option("--budgets", help="budget curves instead of setups: comma-separated shares of the training pairs' "
                                "LLM labels in (0, 1], e.g. 0.02,0.05,0.1,0.2,0.5,1 (the others are masked; no LLM call)")
@click.option("--budgets-usd", help="budget curves in dollars: comma-separated dollar amounts > 0, e.g. 0.5,1,2 "
                                    "(needs --prices and --price-model; each amount buys the pairs gbltr plan "
                                    "--budget-usd would plan)")
@click.option("--prices", type=click.Path(dir_okay=False),
              help="with --budgets-usd: price table file (TOML/JSON, as for gbltr plan --prices)")
@click.option("--price-model", help="with --budgets-usd: the model of the price table the annotation would use")
@click.option("--planners", default="random-pairs,tail-first,click-uncertainty,auto", show_default=True,
              help="with --budgets: comma-separated planners (gbltr plan --planner); random-pairs is always added")
@mlflow_options()
def experiment(setups, seeds, data, backend, config_file, out, metric, control, split, catalogue, rounds,
               budgets, budgets_usd, prices, price_model, planners, mlflow_uri, mlflow_optional):
    """Run several label setups over several seeds and report per bucket (or, with --budgets,
    budget curves per planner)."""
    from gbltr.experiment import experiment_outputs, run_experiment
    from gbltr.folders import check_outputs
    from gbltr.validate import check_metric

    seed_list = parse_seeds(seeds)
    dollars = None
    if budgets_usd is not None or prices is not None or price_model is not None:
        from gbltr.analysis.budget_curves import USD, parse_budgets

        if budgets is not None and budgets_usd is not None:
            raise ConfigError("gbltr experiment: --budgets (shares of the pairs) and --budgets-usd (dollars) "
                              "are two kinds of budget; expected one of them, found both")
        if budgets_usd is None:
            raise ConfigError("gbltr experiment: --prices and --price-model price dollar budgets; expected "
                              "--budgets-usd X,Y with them, found " + ("--budgets (shares)" if budgets else "no budgets"))
        usd_list = parse_budgets(budgets_usd, USD)
        if prices is None or price_model is None:
            raise ConfigError("gbltr experiment --budgets-usd needs dollars per token: pass --prices FILE and "
                              f"--price-model NAME; found {'only --prices' if prices else 'only --price-model' if price_model else 'neither'}")
        from gbltr.analysis.budget_curves import DollarBudgets
        from gbltr.labels.llm.cost import PriceTable

        table = PriceTable.load(prices)
        table.price(price_model)
        dollars = DollarBudgets(table, price_model)
    curves_asked = budgets is not None or dollars is not None
    overrides = dotted({"data": data, "train.backend": backend, "world.intent_coupling": 0.0 if control else None,
                        "split": split, "features.catalogue": catalogue, "train.rounds": rounds,
                        "labels": "fused" if curves_asked else None})
    cfg = load_config(config_file, overrides)
    track = tracking(config_file, mlflow_uri, mlflow_optional)
    check_metric(metric, cfg.eval.ks)  # before any model is trained
    from gbltr.folders import Input

    inputs = cfg.inputs() + ([Input(prices, "price table (--prices)")] if prices else [])
    check_outputs("experiment", experiment_outputs(out), inputs, overwrite=True)
    if curves_asked:
        from gbltr.analysis.budget_curves import parse_budgets, run_budget_curves
        from gbltr.labels.budget import get_planner

        values = usd_list if dollars is not None else parse_budgets(budgets)
        names = [p.strip() for p in planners.split(",") if p.strip()]
        for name in names:
            get_planner(name)
        from gbltr.track.runs import tracked

        with tracked(track, name=Path(out).name, command="experiment") as run:  # the report, once written
            curves = run_budget_curves(cfg, values, names, seed_list, out, metric=metric, dollars=dollars)
            run.log_params({**cfg.to_json(), "experiment": {
                "budgets": values, "budget_unit": "usd" if dollars is not None else "share",
                "planners": names, "seeds": seed_list, "metric": metric}})
            run.log_files(Path(out), ("experiment.md", "experiment.json", "experiment.png", "per_query.parquet"))
        click.echo(curves.to_markdown())
        click.echo(f"wrote {out}/experiment.md, experiment.json, experiment.png, per_query.parquet")
        return
    result = run_experiment(cfg, [s.strip() for s in setups.split(",") if s.strip()], seed_list, out,
                            metric=metric, tracking=track)
    click.echo(result.to_markdown())
    click.echo(f"wrote {out}/experiment.md, experiment.json, experiment.png, per_query.parquet")
    click.echo("RESULT " + json.dumps({b: {s: round(r["mean"], 4) for s, r in v.items()}
                                       for b, v in result.summary["results"].items()}))
