"""``gbltr simulate``: write a simulated search world."""

from __future__ import annotations

import dataclasses

import click

from gbltr.data.simulate import WorldParams, control_world, write_world
from gbltr.data.simulate.over import FREQUENCIES, OverParams
from gbltr.errors import ConfigError
from gbltr.ranges import help_range, option_type

_DOC = {
    "queries": "number of queries",
    "sessions": "total sessions in the log (expected)",
    "frequency_exponent": "power-law exponent of query popularity",
    "intent_coupling": "how strongly navigational intent rises with frequency (0 = control world)",
    "test_queries_per_bucket": "human-labelled test queries per frequency bucket",
    "valid_queries_per_bucket": "human-labelled validation queries per frequency bucket",
}


def _options(func):
    defaults = WorldParams()
    for f in reversed(dataclasses.fields(WorldParams)):
        if f.name in ("seed", "human_thresholds"):
            continue
        default = getattr(defaults, f.name)
        kind = option_type(WorldParams, f.name, "world." + f.name)  # the key's own declaration
        func = click.option(
            "--" + f.name.replace("_", "-"), f.name, type=kind, default=None,
            help=help_range(f"{_DOC.get(f.name, f.name.replace('_', ' '))} [default: {default}]", kind),
        )(func)
    return func


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="dataset folder to write")
@click.option("--seed", default=0, show_default=True, type=option_type(WorldParams, "seed", "world.seed"))
@click.option("--control", is_flag=True, help="control world: intent independent of frequency")
@click.option("--over", type=click.Path(file_okay=False, exists=True),
              help="keep this real dataset's queries, documents, features and human labels; simulate query "
                   "frequencies, a click log and LLM labels around them (gbltr.data.simulate.over)")
@click.option("--frequencies", type=click.Choice(FREQUENCIES), help="with --over: power_law (seeded) or log (the dataset's own)")
@click.option("--click-matrix", type=click.Path(dir_okay=False, exists=True),
              help="with --over: JSON click_prob[relevance 0..4][position] replacing the position/trust-bias model")
@click.option("--ranker-noise", type=option_type(OverParams, "ranker_noise"),
              help=help_range("with --over: sd of the first-stage ranker's noise [default: 0.35]",
                              option_type(OverParams, "ranker_noise")))
@click.option("--llm-accuracy", type=option_type(OverParams, "llm_accuracy"),
              help=help_range("with --over: P(LLM label = human label) [default: 0.6]",
                              option_type(OverParams, "llm_accuracy")))
@click.option("--llm-labels", type=click.Path(dir_okay=False, exists=True),
              help="with --over: LLM labels from gbltr annotate (Parquet) or qrels instead of the noisy view")
@click.option("--overwrite", is_flag=True, help="replace an existing dataset folder (whole) instead of refusing")
@_options
def simulate(out, seed, control, overwrite, over, frequencies, click_matrix, ranker_noise, llm_accuracy, llm_labels, **overrides):
    """Write a simulated search world (dataset folder + world.json), or with --over DIR a
    semi-synthetic log over a real dataset's judgements.

    Every mechanism and parameter is documented in gbltr.data.simulate (gbltr.data.simulate.over
    for --over) and recorded in world.json (simulation.json).
    """
    if over:
        from gbltr.data.simulate.over import simulate_over

        world_only = sorted(k for k, v in overrides.items() if v is not None and k not in ("sessions", "frequency_exponent"))
        if world_only or control:
            raise ConfigError(f"simulate --over: {world_only or ['--control']} set the built-in world and do not "
                              "apply to --over; expected --sessions, --frequency-exponent, --frequencies, "
                              "--click-matrix, --ranker-noise, --llm-accuracy, --llm-labels")
        given = {"sessions": overrides.get("sessions"), "exponent": overrides.get("frequency_exponent"),
                 "frequencies": frequencies, "click_matrix": click_matrix, "ranker_noise": ranker_noise,
                 "llm_accuracy": llm_accuracy, "llm_labels": llm_labels}
        params = OverParams(seed=seed, **{k: v for k, v in given.items() if v is not None})
        folder = simulate_over(over, out, params, overwrite=overwrite)
        click.echo(f"wrote a semi-synthetic dataset over {over} to {folder}")
        return
    if any(v is not None for v in (frequencies, click_matrix, ranker_noise, llm_accuracy, llm_labels)):
        raise ConfigError("--frequencies, --click-matrix, --ranker-noise, --llm-accuracy and --llm-labels need --over DIR")
    params = WorldParams(seed=seed, **{k: v for k, v in overrides.items() if v is not None})
    if control:
        params = control_world(params)
    folder = write_world(params, out, overwrite=overwrite)
    click.echo(f"wrote simulated world to {folder}")
