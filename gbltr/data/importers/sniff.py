"""Guess a text file's format from its first non-blank line, to refuse folders of mixed formats."""

from __future__ import annotations

import re
from pathlib import Path

from gbltr.errors import DataError

_PATTERNS = (
    ("svmlight", re.compile(r"^-?[\d.]+\s+(qid:\S+\s+)?\d+:\S")),
    ("qrels", re.compile(r"^\S+\s+\S+\s+\S+\s+-?[\d.]+\s*$")),
    ("ncm", re.compile(r"^\S+\t\S+\t\[")),
    ("jsonl", re.compile(r"^\{")),
    ("tsv", re.compile(r"^[^\t]+\t[^\t]+$")),
)


def sniff(path: Path) -> str | None:
    """``svmlight``, ``qrels``, ``ncm``, ``jsonl``, ``tsv`` or None (unrecognised or not text)."""
    try:
        with path.open("rb") as fh:
            for raw in fh:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.strip() and not line.lstrip().startswith("#"):
                    break
            else:
                return None
    except OSError:
        return None
    for name, pat in _PATTERNS:
        if pat.search(line):
            return name
    return None


def files_of(paths: list[Path], fmt: str, accepted: tuple[str, ...], suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Expand folders into their files; refuse a folder whose files are of several formats."""
    out: list[Path] = []
    for p in paths:
        if not p.exists():
            raise DataError(f"{fmt}: {p} does not exist; expected a file or folder")
        if not p.is_dir():
            out.append(p)
            continue
        kinds = {}
        for f in sorted(p.iterdir()):
            if f.is_file() and not f.name.startswith(".") and not f.name.endswith(suffixes or (".__none__",)):
                kinds[f] = sniff(f)
        ours = [f for f, k in kinds.items() if k in accepted]
        other = {f.name: k for f, k in kinds.items() if k is not None and k not in accepted}
        if other:
            raise DataError(
                f"{fmt}: folder {p} holds mixed formats: {[f.name for f in ours]} look like {fmt} but "
                f"{', '.join(f'{n} ({k})' for n, k in other.items())} do not; expected one format per folder "
                "(name the files, and add the others with --also FORMAT=FILE)"
            )
        out.extend(ours)
    return out
