"""``gbltr import FORMAT SRC... --out DIR``: write a dataset folder from real data."""

from __future__ import annotations

import json

import click

from gbltr.data.importers import HELP, IMPORTERS


_DOC = ("Import real data (a log, a feature file, a corpus, judgements) as a dataset folder.\n\n"
        "It writes what the sources have and a manifest entry for what they lack.\n\n\b\nFormats:\n"
        + "\n".join(f"  {k:12s} {v}" for k, v in HELP.items()))


@click.command(name="import", help=_DOC)
@click.argument("format", type=click.Choice(sorted(IMPORTERS)))
@click.argument("src", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="dataset folder to write")
@click.option("--also", multiple=True, metavar="FORMAT=PATH[,PATH]",
              help="another source to combine, joined on (query, doc); repeatable, e.g. --also qrels=qrels.txt")
@click.option("--map", "mapping", multiple=True, metavar="NAME=COLUMN,...",
              help="impressions: column names, e.g. session=sid,query=qid,doc=url,position=pos,clicked=click")
@click.option("--overwrite", is_flag=True, help="replace an existing dataset folder (whole) instead of refusing")
def importer(format, src, out, also, mapping, overwrite):
    from gbltr.data.importers import import_dataset, parse_also

    sources = [(format, list(src)), *parse_also(also)]
    folder, ds = import_dataset(sources, out, {"map": mapping}, overwrite=overwrite)
    summary = {"queries": ds.queries.height, "documents": ds.documents.height, "candidates": ds.candidates.height,
               "impressions": 0 if ds.impressions is None else ds.impressions.height,
               "labels": {k: v.height for k, v in ds.labels.items()}, "features": list(ds.feature_columns)[:3] +
               (["..."] if len(ds.feature_columns) > 3 else []), "missing": sorted(ds.missing)}
    click.echo(f"wrote dataset to {folder}")
    click.echo("RESULT " + json.dumps(summary, ensure_ascii=False))
