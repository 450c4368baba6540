"""One door per input kind: every file a user names is read here.

Four kinds, one reader each (plus a lazy form of the first):

- :func:`read_parquet` / :func:`scan_parquet`: a Parquet table (dataset tables, label sets,
  ``--log``, ``features.parquet``); the lazy form is the streaming path's (:mod:`gbltr.data.stream`);
- :func:`read_document`: a TOML or JSON document whose top level is a table (``--config``,
  ``--schedule``, ``--catalogue``, ``--prices``, ``--definitions``, manifests);
- :func:`read_text` / :func:`read_lines`: a line-oriented text table (TSV, TREC run and qrels,
  SVMlight, JSON lines), UTF-8; :func:`iter_lines` streams one too large to hold twice;
- :func:`read_json_matrix`: a JSON document holding a matrix of numbers under one key, each in a
  declared range (``--click-matrix``).

Each reader turns every way a file can be wrong into one :class:`gbltr.errors.InputError` whose
message names the file, what was expected and what was found: a missing path, a folder, empty
content, compressed bytes (gzip, bz2, xz, zstd, zip: found by their magic bytes, and named),
non-UTF-8 bytes, a parse error, a wrong shape or type. The checks cost one small read (the first
bytes), so callers can check every named file before any expensive work.

:func:`field` reads one typed key of a document, so that a wrong type or a missing key in a
user's TOML is the same error as a parse error, never a ``KeyError`` or ``str()`` of the value.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.errors import GbltrError, InputError

COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
"""Magic bytes of the compressed formats a user may hand over by mistake."""

PARQUET_MAGIC = b"PAR1"


def _error(what: str, path: Path, expected: str, found: str, fix: str = "") -> InputError:
    return InputError(f"{what} {str(path)!r}: expected {expected}, found {found}" + (f"; {fix}" if fix else ""))


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bz2``, ``xz``, ``zstd``, ``zip`` when ``head`` starts with its magic bytes, else None."""
    for magic, name in COMPRESSED:
        if head.startswith(magic):
            return name
    return None


def check_file(path: str | Path, what: str, expected: str, *, empty_ok: bool = False) -> Path:
    """``path`` if it is a readable, non-empty, uncompressed file; else :class:`InputError`.

    Reads only the first bytes. ``what`` names the input (``"--schedule"``, ``"label set"``);
    ``expected`` says what it should hold (``"a TOML file with [[stage]] tables"``). ``empty_ok``:
    an empty file is valid (a split file of a format that may have no rows in it)."""
    p = Path(path)
    if not p.exists():
        raise _error(what, p, expected, "no such file")
    if p.is_dir():
        raise _error(what, p, expected, "a folder")
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _error(what, p, expected, f"a file that cannot be read ({exc.strerror or exc})") from exc
    if not head:
        if empty_ok:
            return p
        raise _error(what, p, expected, "an empty file")
    kind = compression_of(head)
    if kind is not None:
        raise _error(what, p, expected, f"{kind}-compressed bytes", f"decompress it first (e.g. with {_TOOLS[kind]})")
    return p


_TOOLS = {"gzip": "gunzip", "bz2": "bunzip2", "xz": "unxz", "zstd": "unzstd", "zip": "unzip"}


# --- Parquet --------------------------------------------------------------------------------

def _parquet_file(path: str | Path, what: str, expected: str) -> Path:
    p = check_file(path, what, expected)
    size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if head != PARQUET_MAGIC:
        found = "text" if _looks_like_text(p) else "bytes that are not Parquet"
        raise _error(what, p, expected, f"{found} (no Parquet header 'PAR1')")
    if size < 12 or tail != PARQUET_MAGIC:
        raise _error(what, p, expected, f"a truncated or corrupt Parquet file ({size} bytes, no Parquet footer 'PAR1')",
                     "rewrite the file")
    return p


def _looks_like_text(p: Path) -> bool:
    with p.open("rb") as fh:
        head = fh.read(4096)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut by the 4096 bytes
    return b"\x00" not in head


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_parquet(path: str | Path, what: str = "Parquet table", *, expected: str = "a Parquet table") -> pl.DataFrame:
    """The Parquet table at ``path``, or :class:`InputError`.

    Frame contracts (column names, dtypes) are the caller's: :func:`gbltr.schema.validate`."""
    p = _parquet_file(path, what, expected)
    try:
        return pl.read_parquet(p)
    except Exception as exc:  # polars raises several types for a broken file
        raise _error(what, p, expected, f"a file that does not read: {_first_line(exc)}", "rewrite the file") from exc


def scan_parquet(path: str | Path, what: str = "Parquet table", *, expected: str = "a Parquet table") -> pl.LazyFrame:
    """The Parquet table at ``path``, lazily (streaming): header, footer and schema are checked
    now (a few bytes), so a file that is not Parquet fails here, not inside a later collect.
    A glob is scanned as is (its files are Polars' to list)."""
    if any(c in str(path) for c in "*?["):
        lf = pl.scan_parquet(str(path))
        try:
            lf.collect_schema()
        except Exception as exc:
            raise InputError(f"{what} {str(path)!r}: expected {expected}, found files that do not read: "
                             f"{_first_line(exc)}") from exc
        return lf
    p = _parquet_file(path, what, expected)
    lf = pl.scan_parquet(p)
    try:
        lf.collect_schema()
    except Exception as exc:
        raise _error(what, p, expected, f"a file that does not read: {_first_line(exc)}", "rewrite the file") from exc
    return lf


@contextlib.contextmanager
def collecting(what: str, path: str | Path):
    """Turn a Polars error raised while collecting a scanned Parquet file (a corrupt page behind a
    good footer, found only when the data are decoded) into :class:`InputError` naming the file."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as exc:
        if isinstance(exc, GbltrError):
            raise
        raise InputError(f"{what} {str(path)!r}: expected a Parquet table, found a file that does not read: "
                         f"{_first_line(exc)}; rewrite the file") from exc


# --- text -----------------------------------------------------------------------------------

def read_text(path: str | Path, what: str, expected: str, *, empty_ok: bool = False) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped), or :class:`InputError`
    (``empty_ok``: empty or blank text is returned, not refused)."""
    p = check_file(path, what, expected, empty_ok=empty_ok)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _error(what, p, f"{expected} (UTF-8 text)",
                     f"bytes that are not UTF-8 at offset {exc.start} (line {line})",
                     "convert the file to UTF-8 (e.g. iconv -t UTF-8)") from exc
    if "\x00" in text:
        raise _error(what, p, f"{expected} (UTF-8 text)", f"a NUL byte at offset {text.index(chr(0))} (binary data)")
    text = text.removeprefix("\ufeff")
    if not text.strip() and not empty_ok:
        raise _error(what, p, expected, "only blank text")
    return text


def iter_lines(path: str | Path, what: str, expected: str, *, empty_ok: bool = False):
    """``(line number, text)`` of each line of a UTF-8 text file, read as a stream (for files too
    large to hold twice), without the line end; a line that is not UTF-8 is :class:`InputError`
    naming it."""
    p = check_file(path, what, expected, empty_ok=empty_ok)
    with p.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _error(what, p, f"{expected} (UTF-8 text)",
                             f"bytes that are not UTF-8 on line {n} (column {exc.start + 1})",
                             "convert the file to UTF-8 (e.g. iconv -t UTF-8)") from exc
            if n == 1:
                text = text.removeprefix("\ufeff")
            yield n, text.rstrip("\r\n")


def read_lines(path: str | Path, what: str = "text file", expected: str = "a text table",
               *, comments: bool = True) -> pl.DataFrame:
    """``line`` (1-based), ``text``: the non-blank lines of a UTF-8 text table (and, with
    ``comments``, not starting with ``#``), with trailing ``\\r`` removed."""
    lines = read_text(path, what, expected).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    df = pl.DataFrame({"text": lines}, schema={"text": pl.String}).with_row_index("line", offset=1)
    df = df.with_columns(pl.col("text").str.strip_chars_end("\r"))
    stripped = pl.col("text").str.strip_chars()
    keep = stripped != ""
    if comments:
        keep = keep & ~stripped.str.starts_with("#")
    out = df.filter(keep)
    if out.height == 0:
        raise _error(what, Path(path), expected, "no line that is not blank or a comment")
    return out


# --- documents ------------------------------------------------------------------------------

def read_document(path: str | Path, what: str, expected: str = "a table of settings",
                  *, fmt: str | None = None) -> dict:
    """A TOML or JSON document whose top level is a table (JSON when the suffix is ``.json`` or
    ``fmt="json"``, else TOML), or :class:`InputError`."""
    p = Path(path)
    fmt = fmt or ("json" if p.suffix.lower() == ".json" else "toml")
    kind = "JSON" if fmt == "json" else "TOML"
    text = read_text(p, what, f"a {kind} file: {expected}")
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _error(what, p, f"a {kind} file: {expected}", f"text that does not parse as {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise _error(what, p, f"a {kind} object at the top level: {expected}", f"a {_type(data)}")
    return data


def _type(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table",
            type(None): "null"}.get(type(value), type(value).__name__)


MISSING = object()

_KINDS = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "table": (dict,), "list": (list,),
}


def field(table: dict, key: str, kind: str, where: str, default=MISSING):
    """``table[key]`` if it is of ``kind`` (``string``, ``integer``, ``number``, ``boolean``,
    ``table``, ``list``; ``a|b`` for either), else :class:`InputError` naming ``where`` (the file
    and the table in it). A missing key returns ``default``, or is an error without one.
    Booleans are not numbers here."""
    if key not in table:
        if default is MISSING:
            raise InputError(f"{where}: expected key {key!r} ({kind}), found keys {sorted(table)}")
        return default
    value = table[key]
    ok = any(isinstance(value, t) and not (isinstance(value, bool) and k in ("integer", "number"))
             for k in kind.split("|") for t in _KINDS[k])
    if not ok:
        raise InputError(f"{where}: {key} = {value!r}; expected a {kind.replace('|', ' or ')}, found a {_type(value)}")
    return value


# --- matrices -------------------------------------------------------------------------------

def read_json_matrix(path: str | Path, what: str, key: str, *, rows: int | None = None,
                     low: float = 0.0, high: float = 1.0, meaning: str = "probabilities") -> np.ndarray:
    """The 2-D matrix of finite numbers in ``[low, high]`` stored under ``key`` of a JSON object
    (``rows``: the number of rows it must have; at least one column), or :class:`InputError`
    naming the first bad cell."""
    p = Path(path)
    expected = (f"a JSON object {{{key!r}: {rows or 'R'} lists of {meaning} in [{low:g}, {high:g}], "
                "one number per column}")
    data = read_document(p, what, expected, fmt="json")
    if key not in data:
        raise _error(what, p, expected, f"keys {sorted(data)}")
    raw = data[key]
    if not isinstance(raw, list) or not all(isinstance(r, list) for r in raw):
        raise _error(what, p, expected, f"{key} = a {_type(raw)}" + (" of non-lists" if isinstance(raw, list) else ""))
    lengths = sorted({len(r) for r in raw})
    if not raw or lengths == [0]:
        raise _error(what, p, expected, f"an empty matrix ({len(raw)} rows, no columns)")
    if rows is not None and len(raw) != rows:
        raise _error(what, p, expected, f"{len(raw)} rows")
    if len(lengths) > 1:
        raise _error(what, p, expected, f"rows of different lengths {lengths}")
    for i, r in enumerate(raw):
        for j, v in enumerate(r):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _error(what, p, expected, f"{key}[{i}][{j}] = {v!r}, a {_type(v)}")
    m = np.asarray(raw, dtype=float)
    bad = ~np.isfinite(m) | (m < low) | (m > high)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise _error(what, p, f"{meaning} in [{low:g}, {high:g}]",
                     f"{key}[{i}][{j}] = {float(m[i, j])!r} ({int(bad.sum())} cell(s) out of range)")
    return m
