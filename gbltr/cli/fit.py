"""``gbltr fit``: train on click, LLM or fused labels and evaluate per frequency bucket."""

from __future__ import annotations

import functools
import json
import typing

import click

from gbltr.config import (BACKENDS, DEVICES, ENGINES, LABEL_KINDS, PROTOCOLS, SPLIT_MODES, FitConfig, TrainConfig, dotted,
                          load_config)
from gbltr.data.world import WorldParams
from gbltr.errors import ConfigError
from gbltr.labels.clicks import CLICK_MODELS, GRADINGS
from gbltr.labels.fusion import FUSION_METHODS, FAMOL_FORMS, WEIGHT_CHOICES, named_schedules
from gbltr.ranges import option_type
from gbltr.cli.tracking import mlflow_options, tracking


def _choice(values):
    return click.Choice(sorted(values))


def _help(text: str, key: str) -> str:
    """``text`` plus the default of config key ``key`` (``section.name``), read off :class:`FitConfig`'s
    dataclass fields (as ``gbltr annotate`` does), so help and behaviour cannot drift. Nothing is
    built: ``--help`` loads no data library."""
    *sections, name = key.split(".")
    cls = functools.reduce(lambda c, s: typing.get_type_hints(c)[s], sections, FitConfig)
    return f"{text} [default: {cls.__dataclass_fields__[name].default}]"


@click.command()
@click.option("--labels", type=_choice(LABEL_KINDS), help=_help("training labels", "labels"))
@click.option("--data", type=click.Path(file_okay=False), help="dataset folder (default: the built-in simulated world)")
@click.option("--backend", type=_choice(BACKENDS), help=_help("training backend", "train.backend"))
@click.option("--device", type=_choice(DEVICES), help=_help("cpu, or cuda for GPU tree building", "train.device"))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML or JSON config file")
@click.option("--out", type=click.Path(file_okay=False), help="run folder [default: runs/LABELS-BACKEND-seedN]")
@click.option("--seed", type=option_type(FitConfig, "seed"), help=_help("training seed", "seed"))
@click.option("--world-seed", type=option_type(WorldParams, "seed", "world.seed"),
              help=_help("seed of the built-in simulated world", "world.seed"))
@click.option("--protocol", type=_choice(PROTOCOLS), help=_help("evaluation protocol", "protocol"))
@click.option("--llm-labels", type=click.Path(dir_okay=False), help="LLM label set (Parquet or TREC qrels)")
@click.option("--click-model", type=_choice(CLICK_MODELS), help=_help("click label model", "click.model"))
@click.option("--click-grading", type=_choice(GRADINGS), help=_help("click grades by relevance thresholds or quantiles", "click.grading"))
@click.option("--debias/--no-debias", default=None,
              help="with --labels click: unbiased lambdarank (LightGBM position / XGBoost lambdarank_unbiased), rows in displayed order")
@click.option("--fusion", type=_choice(FUSION_METHODS), help=_help("with --labels fused: famol or schedule", "fusion.method"))
@click.option("--famol-form", type=_choice(FAMOL_FORMS), help=_help("FAMOL as a custom objective or stacked weights", "fusion.form"))
@click.option("--weight-fn", type=_choice(WEIGHT_CHOICES),
              help=_help("FAMOL frequency weight function, or auto: chosen with its parameters on validation queries",
                         "fusion.weight_fn"))
@click.option("--weight-param", multiple=True, metavar="KEY=VALUE", help="weight function parameter, repeatable")
@click.option("--schedule", help=_help(f"data-scheduling schedule: a packaged name ({', '.join(named_schedules())}) or a TOML file",
                                       "fusion.schedule"))
@click.option("--rounds", type=option_type(TrainConfig, "rounds", "train.rounds"), help=_help("maximum boosting rounds", "train.rounds"))
@click.option("--engine", type=_choice(ENGINES), help=_help("single machine, or dask (lightgbm.dask / xgboost.dask)", "train.engine"))
@click.option("--scheduler", help=_help("with --engine dask: 'local' (a LocalCluster) or a scheduler address tcp://HOST:8786", "train.scheduler"))
@click.option("--workers", type=option_type(TrainConfig, "workers", "train.workers"), help=_help("with --engine dask --scheduler local: worker processes", "train.workers"))
@click.option("--stream/--no-stream", default=None,
              help="scan the search log lazily (Polars streaming; for logs larger than memory) or load it "
                   "[default: on with --engine dask, else off]")
@click.option("--overwrite", is_flag=True, help="replace an existing run folder (whole) instead of refusing")
@click.option("--split", type=_choice(SPLIT_MODES), help=_help("source: the dataset's own query split; random: a seeded one", "split"))
@click.option("--catalogue", help="TOML file (or packaged name, e.g. letor4) grouping the dataset's precomputed features")
@mlflow_options(register=True)
def fit(labels, data, backend, device, config_file, out, seed, world_seed, protocol, llm_labels, click_model,
        click_grading, debias, fusion, famol_form, weight_fn, weight_param, schedule, rounds, engine, scheduler,
        workers, stream, overwrite, split, catalogue, mlflow_uri, mlflow_optional, register):
    """Train a ranker on click, LLM, fused or human labels; evaluate nDCG per frequency bucket."""
    from gbltr.train.fit import fit as run_fit

    fusion_flags = {"fusion.method": fusion, "fusion.form": famol_form, "fusion.weight_fn": weight_fn,
                    "fusion.schedule": schedule}
    params = {}
    for item in weight_param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--weight-param {item!r}; expected KEY=VALUE, e.g. alpha=1.5")
        try:
            params[key] = float(value)
        except ValueError:
            raise ConfigError(f"--weight-param {item!r}: value must be a number") from None
    if params:
        fusion_flags["fusion.weight_params"] = params
    given = {k: v for k, v in fusion_flags.items() if v is not None}
    overrides = dotted({
        "labels": labels, "data": data, "out": out, "seed": seed, "protocol": protocol,
        "llm_labels": llm_labels, "world.seed": world_seed, "click.model": click_model,
        "click.grading": click_grading, "click.debias": debias,
        "train.backend": backend, "train.device": device, "train.rounds": rounds, "train.engine": engine,
        "train.scheduler": scheduler, "train.workers": workers, "split": split,
        "train.stream": None if stream is None else ("on" if stream else "off"),
        "features.catalogue": catalogue, **given,
    })
    cfg = load_config(config_file, overrides)
    track = tracking(config_file, mlflow_uri, mlflow_optional, register)
    folder = run_fit(cfg, overwrite=overwrite, tracking=track)
    report = json.loads((folder / "report.json").read_text())
    click.echo((folder / "report.md").read_text())
    click.echo(f"run folder: {folder}")
    click.echo("RESULT " + json.dumps({"run": str(folder), "metrics": report["metrics"]}))
