"""``qrels``: TREC qrels (``qid iter docno rel``) merged as human labels
(:func:`gbltr.data.qrels.read_qrels`). Judged documents become candidates. Combined with other
sources, its queries must be among theirs (a label on a query no source has is an error), and a
later qrels label for a pair overrides an earlier one (counted in the manifest)."""

from __future__ import annotations

from pathlib import Path

from gbltr.data.importers.base import Part
from gbltr.data.qrels import read_qrels
from gbltr.errors import DataError


def read(paths: list[Path], options) -> Part:
    if len(paths) != 1 or paths[0].is_dir():
        raise DataError(f"qrels: expected one qrels file, found {[str(p) for p in paths]}")
    lab = read_qrels(paths[0], source="human")
    return Part("qrels", [str(paths[0])], labels={"human": lab},
                missing={"text": "qrels carry no text", "impressions": "qrels carry no click log"})
