"""``gbltr rerank``: score new candidates with a trained run; write a TREC run file and a Parquet."""

from __future__ import annotations

import json

import click

from gbltr.words import counted


def _tag(ctx, param, value):
    """The TREC rule (gbltr.data.trec) checked before any scoring."""
    from gbltr.data.trec import check_token
    from gbltr.errors import SchemaError

    try:
        return check_token(value, "--tag")
    except SchemaError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="folder with queries/documents (+ candidates) Parquet files, or a precomputed features.parquet")
@click.option("--run-file", type=click.Path(dir_okay=False), help="first-stage TREC run to rerank (instead of candidates.parquet)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="TREC run file to write (a .parquet is written beside it)")
@click.option("--tag", default="gbltr", show_default=True, callback=_tag,
              help="run tag in the TREC file (no whitespace: TREC readers split on it)")
def rerank(run, data, run_file, out, tag):
    """Rerank the candidates of DATA with the model of RUN: a folder written by 'gbltr fit', or a registered
    model models:/NAME/VERSION (logged by 'gbltr fit --register NAME'; the registry is MLFLOW_TRACKING_URI)."""
    from gbltr.folders import check_outputs
    from gbltr.serve.rerank import rerank as do_rerank, rerank_inputs, rerank_outputs

    check_outputs("rerank", rerank_outputs(out), rerank_inputs(run, data, run_file))  # before any work
    result = do_rerank(run, data, run_file=run_file)
    trec, parquet = result.write(out, tag=tag)
    click.echo(f"wrote {trec} and {parquet}: {counted(result.frame.height, 'candidate')}, "
               f"{counted(result.frame['query_id'].n_unique(), 'query')} (features {result.features_from})")
    click.echo("RESULT " + json.dumps({"trec": str(trec), "parquet": str(parquet), "rows": result.frame.height}))
