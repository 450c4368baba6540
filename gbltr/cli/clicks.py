"""``gbltr clicks fit``: fit click models on a log, score held-out sessions, write a report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gbltr.labels.clicks.config import LOG_FORMATS, PSEUDO_COUNT, TEST_SHARE
from gbltr.labels.clicks.priors import PRIOR_CHOICES
from gbltr.labels.clicks.registry import CLICK_MODELS
from gbltr.ranges import Number, help_range, seed_range


@click.group()
def clicks():
    """Click models: fit, compare on held-out sessions, save."""


@clicks.command("fit")
@click.option("--log", "log_path", required=True, type=click.Path(),
              help="dataset folder, impressions Parquet file, or a real log folder (TREC Session / NCM, Sogou)")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(LOG_FORMATS),
              help="log format (auto: told apart by the files)")
@click.option("--models", default="dctr,pbm,ubm,dbn", show_default=True,
              help=f"comma-separated click models, from: {', '.join(CLICK_MODELS)}")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="report folder")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML or JSON config; its [click] table sets priors (choice auto / fixed, pseudo-counts) and EM settings")
@click.option("--test-share", default=0.2, show_default=True, type=Number(TEST_SHARE),
              help=help_range("share of sessions held out when the log has no split of its own", TEST_SHARE))
@click.option("--seed", default=0, show_default=True, type=Number(seed_range()), help="seed of that split")
@click.option("--priors", "prior_choice", type=click.Choice(PRIOR_CHOICES), default=None,
              help="auto (the default): attractiveness and satisfaction priors learnt from the training sessions "
                   "(empirical Bayes); fixed: the pseudo-counts of the config or of the two options below")
@click.option("--attractiveness-prior", type=Number(PSEUDO_COUNT, "click.priors.attractiveness"), nargs=2,
              default=None, metavar="A B",
              help=help_range("fixed Beta pseudo-counts of attractiveness (implies --priors fixed), each", PSEUDO_COUNT))
@click.option("--satisfaction-prior", type=Number(PSEUDO_COUNT, "click.priors.satisfaction"), nargs=2,
              default=None, metavar="A B",
              help=help_range("fixed Beta pseudo-counts of satisfaction, DBN/SDBN (implies --priors fixed), each",
                              PSEUDO_COUNT))
@click.option("--overwrite", is_flag=True, help="replace an existing report folder (whole) instead of refusing")
def fit(log_path, fmt, models, out, config_file, test_share, seed, prior_choice, attractiveness_prior,
        satisfaction_prior, overwrite):
    """Fit click models on LOG and compare them on held-out sessions (Markdown + JSON + PNG)."""
    from gbltr.config import load_config
    from gbltr.labels.clicks.registry import parse_models
    from gbltr.labels.clicks.report import fit_log

    from gbltr.config import dotted

    names = parse_models(models)
    fixed = {"attractiveness": list(attractiveness_prior) if attractiveness_prior else None,
             "satisfaction": list(satisfaction_prior) if satisfaction_prior else None}
    if prior_choice is None and any(v is not None for v in fixed.values()):
        prior_choice = "fixed"  # pseudo-counts on the command line are a fixed prior
    overrides = dotted({"click.priors.choice": prior_choice,
                        **{f"click.priors.{k}": v for k, v in fixed.items()}})
    cfg = load_config(config_file, overrides).click
    report = fit_log(log_path, names, out, fmt=fmt, test_share=test_share, seed=seed, overwrite=overwrite, config=cfg)
    click.echo((Path(out) / "report.md").read_text())
    summary = {m["model"]: {"perplexity": m["perplexity"],
                            "conditional_perplexity": m["conditional_perplexity"], "log_likelihood": m["log_likelihood"],
                            "fit_seconds": m["fit_seconds"], "iterations": m["iterations"]} for m in report["models"]}
    click.echo("RESULT " + json.dumps({"out": str(out), "models": summary}))
