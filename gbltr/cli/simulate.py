"""``gbltr simulate``: write a simulated search world."""

from __future__ import annotations

import dataclasses

import click

from gbltr.data.simulate import WorldParams, control_world, write_world

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
        func = click.option(
            "--" + f.name.replace("_", "-"), f.name, type=type(default), default=None,
            help=f"{_DOC.get(f.name, f.name.replace('_', ' '))} [default: {default}]",
        )(func)
    return func


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="dataset folder to write")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1))
@click.option("--control", is_flag=True, help="control world: intent independent of frequency")
@click.option("--overwrite", is_flag=True, help="replace an existing dataset folder (whole) instead of refusing")
@_options
def simulate(out, seed, control, overwrite, **overrides):
    """Write a simulated search world (dataset folder + world.json).

    Every mechanism and parameter is documented in gbltr.data.simulate and recorded in world.json.
    """
    params = WorldParams(seed=seed, **{k: v for k, v in overrides.items() if v is not None})
    if control:
        params = control_world(params)
    folder = write_world(params, out, overwrite=overwrite)
    click.echo(f"wrote simulated world to {folder}")
