"""``gbltr ablation``: retrain without each feature group; attribution, true negatives and label
distributions beside it, in one report folder."""

from __future__ import annotations

import json

import click

from gbltr.config import BACKENDS, SPLIT_MODES, TrainConfig, dotted, load_config
from gbltr.analysis import PERMUTATION_REPEATS, TRUE_NEGATIVES
from gbltr.cli.tracking import mlflow_options, tracking
from gbltr.ranges import Number, help_range, option_type


@click.command()
@click.option("--labels", default="click,llm,fused", show_default=True, help="comma-separated label setups")
@click.option("--groups", default="document,query_document,query", show_default=True,
              help="feature groups or subgroups (features/catalogue.toml, or --catalogue's) to remove one at a time")
@click.option("--data", type=click.Path(file_okay=False), help="dataset folder (default: the built-in world)")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--metric", default="ndcg@10", show_default=True)
@click.option("--split", type=click.Choice(sorted(SPLIT_MODES)), help="source (the dataset's query split) or random (seeded)")
@click.option("--catalogue", help="TOML file (or packaged name, e.g. letor4) grouping the dataset's precomputed features")
@click.option("--rounds", type=option_type(TrainConfig, "rounds", "train.rounds"), help="maximum boosting rounds")
@click.option("--attribution/--no-attribution", default=True, show_default=True,
              help="TreeSHAP shares and permutation importance of the full models")
@click.option("--permutation-repeats", default=3, show_default=True, type=Number(PERMUTATION_REPEATS),
              help=help_range("seeded permutations per group", PERMUTATION_REPEATS))
@click.option("--true-negatives", "true_negatives", default=0, show_default=True, type=Number(TRUE_NEGATIVES),
              help=help_range("add K documents from other queries (label 0) to each test list and report how high "
                              "they rank", TRUE_NEGATIVES))
@click.option("--label-stats/--no-label-stats", default=True, show_default=True,
              help="grade histograms and pairwise kappa of human, click and LLM labels per bucket")
@mlflow_options()
def ablation(labels, groups, data, backend, config_file, out, metric, split, catalogue, rounds, attribution,
             permutation_repeats, true_negatives, label_stats, mlflow_uri, mlflow_optional):
    """Feature-group ablation with attribution, true negatives and label distributions."""
    from gbltr.analysis.ablation import run_ablation
    from gbltr.errors import ConfigError
    from gbltr.evaluate.report import check_run_folder
    from gbltr.validate import check_metric

    cfg = load_config(config_file, dotted({"data": data, "train.backend": backend, "split": split,
                                           "features.catalogue": catalogue, "train.rounds": rounds}))
    track = tracking(config_file, mlflow_uri, mlflow_optional)
    label_list = [x.strip() for x in labels.split(",") if x.strip()]
    group_list = [x.strip() for x in groups.split(",") if x.strip()]
    # Checked before any model is trained:
    for name, given, values in (("--labels", labels, label_list), ("--groups", groups, group_list)):
        if not values:
            raise ConfigError(f"{name} {given!r}: expected one or more comma-separated names, found none")
    check_metric(metric, cfg.eval.ks)
    check_run_folder(out, overwrite=True, marker="ablation.json", kind="ablation folder", command="ablation",
                     inputs=cfg.inputs())
    result = run_ablation(cfg, label_list, group_list, out, metric=metric,
                          attribution=attribution, permutation_repeats=permutation_repeats,
                          true_negatives_k=true_negatives, label_stats=label_stats, tracking=track)
    click.echo(result.to_markdown())
    click.echo(f"wrote {out}/ablation.md, ablation.json, ablation.png, per_query.parquet and the analysis figures")
    click.echo("RESULT " + json.dumps({lab: {g: None if result.delta(lab, g, "overall").delta is None
                                             else round(result.delta(lab, g, "overall").delta, 4)
                                             for g in result.groups} for lab in result.labels}))
