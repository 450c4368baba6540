"""``gbltr import``: one module per source format, and the registry that drives the CLI.

Each format module has ``read(paths, options) -> Part`` (:class:`~gbltr.data.importers.base.Part`);
:func:`import_dataset` reads one or more sources, combines them
(:func:`~gbltr.data.importers.base.combine`: candidates = displayed ∪ judged ∪ feature-file
pairs) and writes a dataset folder with a manifest of what the sources lack. Nothing is made up:
no text, log, labels or features that a source does not have.

========================  =====================================================================
format                    module
========================  =====================================================================
``ncm``                   :mod:`.ncm` (TREC Session 2014 / TianGong-ST per-query SERP logs)
``sogou-pscm``            :mod:`.sogou` (Sogou PSCM log, query_id.tsv, relevance_label.tsv)
``svmlight``              :mod:`.svmlight` (LETOR/MSLR/Yahoo feature files -> features.parquet)
``impressions``           :mod:`.impressions` (Parquet/CSV log with ``--map``)
``qrels``                 :mod:`.qrels` (TREC qrels as human labels)
``corpus``                :mod:`.corpus` (TSV/JSONL text: NovelEval, QBQTC)
========================  =====================================================================
"""

from __future__ import annotations

import logging
from pathlib import Path

from gbltr.checkpoint import checkpoint
from gbltr.data.importers import corpus, impressions, ncm, qrels, sogou, svmlight
from gbltr.data.importers.base import Part, combine
from gbltr.data.store import SearchDataset, check_dataset_out, write_dataset
from gbltr.folders import Input
from gbltr.errors import ConfigError, unknown_choice

log = logging.getLogger("gbltr")

IMPORTERS = {
    "ncm": ncm.read,
    "sogou-pscm": sogou.read,
    "svmlight": svmlight.read,
    "impressions": impressions.read,
    "qrels": qrels.read,
    "corpus": corpus.read,
}
"""Format name -> reader: the choices of ``gbltr import``."""

HELP = {
    "ncm": "TREC Session 2014 / TianGong-ST per-query SERP logs with human labels (a folder)",
    "sogou-pscm": "Sogou PSCM log, query_id.tsv frequencies, relevance_label.tsv labels (a folder)",
    "svmlight": "LETOR/MSLR/Yahoo SVMlight files: precomputed features + labels",
    "impressions": "a Parquet/CSV impression log; --map NAME=COLUMN,...",
    "qrels": "TREC qrels, merged as human labels",
    "corpus": "TSV/JSONL queries and documents with text (NovelEval, QBQTC)",
}


def read_part(fmt: str, paths, options: dict | None = None) -> Part:
    if fmt not in IMPORTERS:
        raise unknown_choice("import format", fmt, IMPORTERS)
    return IMPORTERS[fmt]([Path(p) for p in paths], options or {})


def parse_also(items) -> list[tuple[str, list[str]]]:
    """``["qrels=a.txt", "svmlight=x,y"]`` -> ``[("qrels", ["a.txt"]), ("svmlight", ["x", "y"])]``."""
    out = []
    for item in items or ():
        fmt, sep, paths = str(item).partition("=")
        if not sep or not paths:
            raise ConfigError(f"--also {item!r}; expected FORMAT=PATH[,PATH...], e.g. qrels=qrels.txt")
        if fmt not in IMPORTERS:
            raise unknown_choice("import format", fmt, IMPORTERS)
        out.append((fmt, [p for p in paths.split(",") if p]))
    return out


def import_dataset(sources: list[tuple[str, list[str]]], out: str | Path, options: dict | None = None, *,
                   overwrite: bool = False) -> tuple[Path, SearchDataset]:
    """Read each (format, paths), combine them and write the dataset folder ``out`` (atomically;
    an existing one only with ``overwrite``). ``out`` is checked before any source is read: it
    must not be, contain or lie inside a source (:func:`gbltr.folders.check_outputs`)."""
    inputs = [Input(p, f"{fmt} source") for fmt, paths in sources for p in paths]
    check_dataset_out(out, command="import", inputs=inputs, overwrite=overwrite)
    parts = [read_part(fmt, paths, options) for fmt, paths in sources]
    ds = combine(parts)
    checkpoint("import")  # every source read, parsed and combined; nothing written yet
    folder = write_dataset(ds, out, overwrite=overwrite, command="import", inputs=inputs)
    for k, v in ds.missing.items():
        log.warning("import: no %s: %s", k, v)
    return folder, ds


__all__ = ["IMPORTERS", "HELP", "Part", "combine", "import_dataset", "parse_also", "read_part"]
