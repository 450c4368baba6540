"""``gbltr fit``: train on click, LLM or fused labels and evaluate per frequency bucket."""

from __future__ import annotations

import json

import click

from gbltr.config import (BACKENDS, DEVICES, ENGINES, LABEL_KINDS, PROTOCOLS, SPLITS, FitConfig, TrainConfig, dotted,
                          load_config)
from gbltr.data.world import WorldParams
from gbltr.errors import ConfigError
from gbltr.labels.clicks import CLICK_MODELS, GRADINGS
from gbltr.labels.fusion import FUSION_METHODS, FAMOL_FORMS, WEIGHT_CHOICES
from gbltr.ranges import option_type
from gbltr.train.backends import DEFAULT as DEFAULT_BACKEND


def _choice(values):
    return click.Choice(sorted(values))


@click.command()
@click.option("--labels", type=_choice(LABEL_KINDS), help="training labels [default: click]")
@click.option("--data", type=click.Path(file_okay=False), help="dataset folder (default: the built-in simulated world)")
@click.option("--backend", type=_choice(BACKENDS), help=f"training backend [default: {DEFAULT_BACKEND}]")
@click.option("--device", type=_choice(DEVICES), help="cpu, or cuda for GPU tree building [default: cpu]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML or JSON config file")
@click.option("--out", type=click.Path(file_okay=False), help="run folder [default: runs/LABELS-BACKEND-seedN]")
@click.option("--seed", type=option_type(FitConfig, "seed"), help="training seed [default: 0]")
@click.option("--world-seed", type=option_type(WorldParams, "seed", "world.seed"),
              help="seed of the built-in simulated world [default: 0]")
@click.option("--protocol", type=_choice(PROTOCOLS), help="evaluation protocol [default: held_out]")
@click.option("--llm-labels", type=click.Path(dir_okay=False), help="LLM label set (Parquet or TREC qrels)")
@click.option("--click-model", type=_choice(CLICK_MODELS), help="click label model [default: pbm]")
@click.option("--click-grading", type=_choice(GRADINGS), help="click grades by relevance thresholds or quantiles [default: threshold]")
@click.option("--debias/--no-debias", default=None,
              help="with --labels click: unbiased lambdarank (LightGBM position / XGBoost lambdarank_unbiased), rows in displayed order")
@click.option("--fusion", type=_choice(FUSION_METHODS), help="with --labels fused: famol or schedule [default: famol]")
@click.option("--famol-form", type=_choice(FAMOL_FORMS), help="FAMOL as a custom objective or stacked weights")
@click.option("--weight-fn", type=_choice(WEIGHT_CHOICES),
              help="FAMOL frequency weight function, or auto: chosen with its parameters on validation queries "
                   "[default: auto]")
@click.option("--weight-param", multiple=True, metavar="KEY=VALUE", help="weight function parameter, repeatable")
@click.option("--schedule", help="data-scheduling schedule: a packaged name (click-then-llm, llm-then-click, frequency-staged) or a TOML file")
@click.option("--rounds", type=option_type(TrainConfig, "rounds", "train.rounds"), help="maximum boosting rounds")
@click.option("--engine", type=_choice(ENGINES), help="single machine, or dask (lightgbm.dask / xgboost.dask) [default: single]")
@click.option("--scheduler", help="with --engine dask: 'local' (a LocalCluster) or a scheduler address tcp://HOST:8786")
@click.option("--workers", type=option_type(TrainConfig, "workers", "train.workers"), help="with --engine dask --scheduler local: worker processes [default: 2]")
@click.option("--stream/--no-stream", default=None,
              help="scan the search log lazily (Polars streaming; for logs larger than memory) or load it "
                   "[default: on with --engine dask, else off]")
@click.option("--overwrite", is_flag=True, help="replace an existing run folder (whole) instead of refusing")
@click.option("--split", type=_choice(SPLITS), help="source: the dataset's own query split; random: a seeded one [default: source]")
@click.option("--catalogue", help="TOML file (or packaged name, e.g. letor4) grouping the dataset's precomputed features")
def fit(labels, data, backend, device, config_file, out, seed, world_seed, protocol, llm_labels, click_model,
        click_grading, debias, fusion, famol_form, weight_fn, weight_param, schedule, rounds, engine, scheduler,
        workers, stream, overwrite, split, catalogue):
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
    folder = run_fit(cfg, overwrite=overwrite)
    report = json.loads((folder / "report.json").read_text())
    click.echo((folder / "report.md").read_text())
    click.echo(f"run folder: {folder}")
    click.echo("RESULT " + json.dumps({"run": str(folder), "metrics": report["metrics"]}))
