"""``gbltr ablation``: retrain without each feature group and report per bucket."""

from __future__ import annotations

import json

import click

from gbltr.config import BACKENDS, dotted, load_config


@click.command()
@click.option("--labels", default="click,llm,fused", show_default=True, help="comma-separated label setups")
@click.option("--groups", default="document,query_document,query", show_default=True,
              help="feature groups or subgroups of features/catalogue.toml to remove one at a time")
@click.option("--data", type=click.Path(file_okay=False), help="dataset folder (default: the built-in world)")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--metric", default="ndcg@10", show_default=True)
def ablation(labels, groups, data, backend, config_file, out, metric):
    """Feature-group ablation: retrain without each feature group and report."""
    from gbltr.ablation import run_ablation
    from gbltr.errors import ConfigError
    from gbltr.evaluate.report import check_run_folder
    from gbltr.validate import check_metric

    cfg = load_config(config_file, dotted({"data": data, "train.backend": backend}))
    label_list = [x.strip() for x in labels.split(",") if x.strip()]
    group_list = [x.strip() for x in groups.split(",") if x.strip()]
    # Checked before any model is trained:
    for name, given, values in (("--labels", labels, label_list), ("--groups", groups, group_list)):
        if not values:
            raise ConfigError(f"{name} {given!r}: expected one or more comma-separated names, found none")
    check_metric(metric, cfg.eval.ks)
    check_run_folder(out, overwrite=True, marker="ablation.json")
    result = run_ablation(cfg, label_list, group_list, out, metric=metric)
    click.echo(result.to_markdown())
    click.echo(f"wrote {out}/ablation.md, ablation.json, ablation.png, per_query.parquet")
    click.echo("RESULT " + json.dumps({lab: {g: round(v["overall"][g]["delta"], 4) for g in result.summary["groups"]}
                                       for lab, v in result.summary["results"].items()}))
