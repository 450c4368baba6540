"""``gbltr export``: write a run's model and feature definitions for a search engine's LTR."""

from __future__ import annotations

import json

import click

from gbltr.serve.export import FORMATS


@click.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(sorted(FORMATS)), help="target engine")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder to write (atomically)")
@click.option("--overwrite", is_flag=True, help="replace an existing export folder (one holding manifest.json)")
@click.option("--name", help="model / feature-set name in the engine [default: the run folder's name]")
@click.option("--definitions", type=click.Path(dir_okay=False),
              help="JSON object: feature -> engine definition, for features without a built-in one")
@click.option("--allow-missing-definitions", is_flag=True,
              help="export features without a definition as placeholders that score 0 (listed in manifest.json)")
def export(run, fmt, out, overwrite, name, definitions, allow_missing_definitions):
    """Export the model of RUN (a run folder, or a registered model models:/NAME/VERSION from the registry at
    MLFLOW_TRACKING_URI) with its feature definitions for OpenSearch, Solr or Elasticsearch."""
    from gbltr.serve.export import export_run

    result = export_run(run, fmt, out, definitions=definitions, allow_missing_definitions=allow_missing_definitions,
                        name=name, overwrite=overwrite)
    m = result.manifest
    click.echo(f"wrote {', '.join(result.files)} to {result.folder} ({m['trees']} {m['backend']} trees)")
    for f in m["features"]:
        click.echo(f"  {f['name']:<28} {f['kind']:<8} {f['fidelity']}")
    if m["placeholder_features"]:
        click.echo(f"WARNING: placeholders scoring 0 for {m['placeholder_features']}", err=True)
    click.echo("RESULT " + json.dumps({"folder": str(result.folder), "format": fmt,
                                       "placeholders": m["placeholder_features"]}))
