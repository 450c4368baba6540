"""``gbltr compare RUN... [--out DIR] [--baseline RUN] [--metric ndcg@10] [--permutations N] [--seed N]``."""

from __future__ import annotations

import click

from gbltr.evaluate.significance import DEFAULT_PERMUTATIONS
from gbltr.cli.tracking import mlflow_options, tracking
from gbltr.ranges import Number, count, seed_range


def _metric_column(ctx, param, value):
    """Refuse a non-metric column (query_id, bucket, frequency) before any run folder is read."""
    from gbltr.evaluate.metrics import METRIC_FORM, is_metric_column

    if not is_metric_column(value):
        raise click.BadParameter(f"{value!r} is not a metric column; expected {METRIC_FORM}")
    return value


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for comparison.md, comparison.json and comparison.png.")
@click.option("--baseline", default=None, help="Run name or folder to compare against (default: the first run).")
@click.option("--metric", default="ndcg@10", show_default=True, callback=_metric_column,
              help="Per-query metric column to compare: ndcg@K for a cut-off K the runs evaluated.")
@click.option("--permutations", "n_permutations", type=Number(count(1)),
              default=DEFAULT_PERMUTATIONS, show_default=True, help="Randomisation-test permutations.")
@click.option("--seed", type=Number(seed_range()), default=0, show_default=True, help="Seed of the randomisation test.")
@mlflow_options()
def compare(runs, out_dir, baseline, metric, n_permutations, seed, mlflow_uri, mlflow_optional):
    """Compare run folders (or registered models models:/NAME/VERSION) per bucket with paired significance tests."""
    from gbltr.evaluate.compare import compare_runs

    result = compare_runs(
        runs, out_dir, baseline=baseline, metric=metric, n_permutations=n_permutations, seed=seed,
        tracking=tracking(None, mlflow_uri, mlflow_optional),
    )
    click.echo(result.to_markdown(), nl=False)
    if out_dir is not None:
        click.echo(f"wrote comparison.md, comparison.json and comparison.png to {out_dir}")
