"""Read and write SVMlight / LETOR ranking files.

Format accepted (one document per line, whitespace separated)::

    <label> [qid:<query>] <index>:<value> <index>:<value> ... [# comment]

- ``label`` is a finite number (integer or float); anything else is a :class:`ParseError`.
- ``qid:<query>`` is the second token when present. Either every line has it, or no line has it
  and the query groups come from a *group file*: one positive group size per line, the sizes in
  file order (LightGBM's ``rank.train`` + ``rank.train.query``). The group file is found next to
  the data as ``<path>.query`` or given explicitly; query ids are then the 1-based group numbers
  ``"1"``, ``"2"``, ... A file with ``qid:`` tokens *and* a group file is an error (which one is
  meant is ambiguous), as is a file with neither.
- ``index:value`` pairs: ``index`` is a 1-based integer, ``value`` a number. Lines may be sparse:
  **a feature missing from a line is 0** (the SVMlight convention), never null. An index that
  repeats on one line is an error. The feature columns are ``f1 .. fK`` where ``K`` is the
  largest index in the file (or ``n_features`` when given, for files whose last features are
  never non-zero).
- The comment (after the first ``#``) may hold ``docid = X`` (LETOR: ``#docid = GX029-35-5894638
  inc = 1 prob = 0.0268``); ``X`` becomes ``doc_id``. A line without it gets ``doc_id`` = its
  1-based line number in the file, as a string. Other comment fields are ignored.
- Blank lines and lines that hold only a comment are skipped (line numbers still count them). A
  file with no data line at all is an error.
- Feature indices are at most :data:`MAX_FEATURES` (the matrix is dense: one stray index of
  1,000,000 would allocate rows x 1,000,000 numbers); above it is an error naming the line.
- A query id must form one contiguous block of lines; a query that comes back after another
  query (``qid:1 .. qid:2 .. qid:1``) is an error, because ranking tools read groups as
  contiguous runs. Sort the file by query first if that is what was meant.

The result, :class:`SvmlightData`, holds a Polars frame with columns ``query_id`` (String),
``doc_id`` (String), ``label`` (Float64), ``f1 .. fK`` (Float64) in file order, and the feature
names. :func:`write_svmlight` writes such a frame back (``label qid:Q 1:v ... #docid = D``).

Parsing is vectorised with Polars string expressions (no Python loop over tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.data.trec import number_text
from gbltr.inputs import read_lines, read_text
from gbltr.errors import ParseError, SchemaError
from gbltr.folders import write_file

__all__ = ["SvmlightData", "read_svmlight", "read_group_file", "write_svmlight"]

_ID_COLUMNS = ("query_id", "doc_id", "label")
MAX_FEATURES = 100_000
"""Largest feature index read (LETOR sets have 46-700 features; Yahoo! LTR 700, Istella 220)."""


@dataclass(frozen=True)
class SvmlightData:
    """A parsed SVMlight file.

    ``frame``: one row per line, in file order: query_id (String), doc_id (String),
    label (Float64), then one Float64 column per name in ``feature_names``.
    ``feature_names``: ``("f1", ..., "fK")``. ``path``: the file it came from (or None).
    """

    frame: pl.DataFrame
    feature_names: tuple[str, ...]
    path: Path | None = None

    def group_sizes(self) -> np.ndarray:
        """Rows per query, in file order (queries are contiguous blocks), as int64."""
        q = self.frame["query_id"]
        if q.len() == 0:
            return np.zeros(0, dtype=np.int64)
        return q.rle().struct.field("len").to_numpy().astype(np.int64)

    def features(self) -> np.ndarray:
        """The feature matrix, shape (rows, len(feature_names)), float64."""
        return self.frame.select(self.feature_names).to_numpy().astype(np.float64, copy=False)


def _where(path: Path, line: int) -> str:
    return f"{path}, line {line}"


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def read_group_file(path: str | Path) -> np.ndarray:
    """Read a group (``.query``) file: one positive integer group size per line.

    Blank lines are skipped. Raises :class:`ParseError` naming the line of a size that is not a
    positive integer.
    """
    path = Path(path)
    sizes = []
    lines = read_text(path, "SVMlight group file", "one positive integer group size per line").split("\n")
    for n, raw in enumerate(lines, start=1):
        tok = raw.strip()
        if not tok:
            continue
        try:
            size = int(tok)
        except ValueError:
            size = -1
        if size <= 0:
            raise ParseError(
                f"{_where(path, n)}: expected one positive integer group size per line, "
                f"found {_show(tok)}"
            )
        sizes.append(size)
    return np.asarray(sizes, dtype=np.int64)


def read_svmlight(
    path: str | Path,
    *,
    group_file: str | Path | None = None,
    n_features: int | None = None,
) -> SvmlightData:
    """Read an SVMlight / LETOR ranking file (format in the module docstring).

    ``group_file``: a group-size file for data without ``qid:``; by default ``<path>.query`` is
    used when it exists. ``n_features``: the number of feature columns to produce (an index
    above it is an error); by default the largest index in the file.

    Raises :class:`ParseError` for a line that does not parse (naming file, line and token),
    group sizes that do not sum to the number of lines, ``qid:`` together with a group file,
    neither of them, and a query id that occurs in two non-contiguous blocks.
    """
    path = Path(path)
    if n_features is not None and not 0 <= n_features <= MAX_FEATURES:
        raise ParseError(f"n_features must be in [0, {MAX_FEATURES}], found {n_features}")
    df = read_lines(path, "SVMlight file", "SVMlight lines '<label> qid:<query> <index>:<value> ...'")

    data = pl.col("text").str.splitn("#", 2)
    df = df.with_columns(
        data.struct.field("field_0").str.extract_all(r"\S+").alias("tokens"),
        data.struct.field("field_1").alias("comment"),
    )
    df = df.with_columns(
        pl.col("tokens").list.first().alias("label_text"),
        pl.col("tokens").list.get(1, null_on_oob=True).alias("second"),
        pl.col("comment").str.extract(r"(?:^|\s)docid\s*=\s*(\S+)", 1).alias("docid"),
    )
    df = df.with_columns(pl.col("label_text").cast(pl.Float64, strict=False).alias("label"))
    bad = df.filter(pl.col("label").is_null() | ~pl.col("label").is_finite())
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{_where(path, r['line'])}: expected a finite numeric label as the first token, "
            f"found {_show(r['label_text'])}"
            + (f" ({bad.height - 1} more such line(s))" if bad.height > 1 else "")
        )

    has_qid = df["second"].str.starts_with("qid:").fill_null(False)
    n_qid = int(has_qid.sum())
    if 0 < n_qid < df.height:
        with_q = df.filter(has_qid)["line"][0]
        without = df.filter(~has_qid)["line"][0]
        raise ParseError(
            f"{path}: expected 'qid:' on every line or on none, found it on {n_qid} of "
            f"{df.height} lines (e.g. line {with_q} has it, line {without} does not)"
        )
    uses_qid = df.height > 0 and n_qid == df.height

    # Query ids: from qid: tokens or from the group file.
    default_group = Path(str(path) + ".query")
    if uses_qid:
        if group_file is not None or default_group.exists():
            g = group_file if group_file is not None else default_group
            raise ParseError(
                f"{path}: found 'qid:' tokens on every line and also a group file {g}; expected "
                "one or the other (remove the group file or the qid: tokens)"
            )
        df = df.with_columns(pl.col("second").str.slice(4).alias("query_id"))
        empty_q = df.filter(pl.col("query_id") == "")
        if empty_q.height:
            r = empty_q.row(0, named=True)
            raise ParseError(f"{_where(path, r['line'])}: expected 'qid:<id>', found {_show(r['second'])}")
        first_feature = 2
    else:
        g = Path(group_file) if group_file is not None else default_group
        if df.height and not g.exists():
            raise ParseError(
                f"{path}: expected 'qid:<id>' as the second token or a group file, found neither "
                f"(no {g}); pass group_file= or add qid: tokens"
            )
        sizes = read_group_file(g) if g.exists() else np.zeros(0, dtype=np.int64)
        if int(sizes.sum()) != df.height:
            raise ParseError(
                f"group file {g}: group sizes sum to {int(sizes.sum())} but {path} has "
                f"{df.height} data lines; expected them to be equal (is it the group file of this data?)"
            )
        qids = np.repeat(np.arange(1, len(sizes) + 1), sizes).astype(str)
        df = df.with_columns(pl.Series("query_id", qids, dtype=pl.String))
        first_feature = 1

    _check_contiguous(df, path)

    # Features: explode the index:value tokens, parse them, scatter into a dense matrix.
    df = df.with_row_index("row")
    toks = (
        df.select("row", "line", pl.col("tokens").list.slice(first_feature).alias("tok"))
        .explode("tok")
        .drop_nulls("tok")
    )
    parts = pl.col("tok").str.extract_groups(r"^(\d+):(\S+)$")
    toks = toks.with_columns(
        parts.struct.field("1").cast(pl.Int64, strict=False).alias("index"),
        parts.struct.field("2").cast(pl.Float64, strict=False).alias("value"),
    )
    bad = toks.filter(pl.col("index").is_null() | pl.col("value").is_null() | (pl.col("index") < 1))
    if bad.height:
        r = bad.row(0, named=True)
        why = (
            "feature indices are 1-based"
            if r["index"] == 0 and r["value"] is not None
            else "a positive integer index and a number"
        )
        raise ParseError(
            f"{_where(path, r['line'])}: expected '<index>:<value>' ({why}), found {_show(r['tok'])}"
            + (f" ({bad.height - 1} more bad token(s) in the file)" if bad.height > 1 else "")
        )
    # Repeated index on one line: cheap when indices increase along each line (the usual case).
    same_row = pl.col("row") == pl.col("row").shift(1)
    if toks.select((same_row & (pl.col("index") <= pl.col("index").shift(1))).any()).item():
        ordered = toks.sort("row", "index", maintain_order=True)
        dup = ordered.filter(same_row & (pl.col("index") == pl.col("index").shift(1)))
    else:
        dup = toks.clear()
    if dup.height:
        r = dup.row(0, named=True)
        raise ParseError(
            f"{_where(path, r['line'])}: expected each feature index once per line, "
            f"found index {r['index']} more than once"
        )
    max_index = int(toks["index"].max()) if toks.height else 0
    if max_index > MAX_FEATURES:
        r = toks.filter(pl.col("index") > MAX_FEATURES).row(0, named=True)
        raise ParseError(
            f"{_where(path, r['line'])}: expected feature indices <= {MAX_FEATURES}, found {_show(r['tok'])}; "
            "the feature matrix is dense, so such an index would allocate rows x index numbers "
            "(renumber the features)"
        )
    k = max_index if n_features is None else n_features
    if max_index > k:
        r = toks.filter(pl.col("index") > k).row(0, named=True)
        raise ParseError(
            f"{_where(path, r['line'])}: expected feature indices <= n_features={k}, "
            f"found {_show(r['tok'])}"
        )
    matrix = np.zeros((df.height, k), dtype=np.float64)
    matrix[toks["row"].to_numpy(), toks["index"].to_numpy() - 1] = toks["value"].to_numpy()
    names = tuple(f"f{i}" for i in range(1, k + 1))

    ids = df.select(
        pl.col("query_id"),
        pl.coalesce(pl.col("docid"), pl.col("line").cast(pl.String)).alias("doc_id"),
        pl.col("label"),
    )
    feats = pl.DataFrame(matrix, schema={n: pl.Float64 for n in names}, orient="row") if k else None
    frame = ids.hstack(feats) if feats is not None else ids
    return SvmlightData(frame=frame, feature_names=names, path=path)


def _check_contiguous(df: pl.DataFrame, where: object, error: type[Exception] = ParseError) -> None:
    """Raise if a query id occurs in two separate runs of lines."""
    runs = df.select(
        pl.col("query_id"), pl.col("line"), (pl.col("query_id") != pl.col("query_id").shift(1)).alias("start")
    ).filter(pl.col("start").fill_null(True))
    again = runs.filter(pl.col("query_id").is_duplicated())
    if again.height:
        qid = again["query_id"][0]
        lines = again.filter(pl.col("query_id") == qid)["line"].to_list()
        raise error(
            f"{where}: query {qid!r} occurs in non-contiguous blocks starting at lines "
            f"{lines[0]} and {lines[1]}; expected each query's lines together (sort the file by query)"
        )


def write_svmlight(
    frame: pl.DataFrame,
    feature_names: list[str] | tuple[str, ...],
    path: str | Path,
    *,
    sparse: bool = False,
    doc_ids: bool = True,
) -> Path:
    """Write ``frame`` as ``label qid:Q 1:v1 2:v2 ... #docid = D`` lines, in frame order.

    ``feature_names`` give the columns written as indices 1, 2, ... in that order.
    ``sparse=True`` leaves out zero values (the reader fills them back in as 0; pass
    ``n_features`` when reading if the last features may be all zero). ``doc_ids=False`` leaves
    out the ``#docid`` comment. Floats are written in their shortest round-trip form, so
    :func:`read_svmlight` returns the same values.

    Raises :class:`SchemaError` when columns are missing, an id holds whitespace or ``#``
    (which the format cannot carry), a value is null, or a query's rows are not contiguous.
    """
    path = Path(path)
    names = list(feature_names)
    missing = [c for c in (*_ID_COLUMNS, *names) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"write_svmlight: missing column(s) {missing}; expected {list(_ID_COLUMNS)} plus the "
            f"feature columns, found {frame.columns}"
        )
    df = frame.select(
        pl.col("query_id").cast(pl.String),
        pl.col("doc_id").cast(pl.String),
        pl.col("label").cast(pl.Float64),
        *[pl.col(c).cast(pl.Float64) for c in names],
    )
    for col in ("query_id", "doc_id", "label", *names):
        if df[col].null_count():
            raise SchemaError(
                f"write_svmlight: column {col!r} has {df[col].null_count()} null value(s); "
                "expected none (SVMlight has no missing values: fill them first)"
            )
    for col in ("query_id", "doc_id") if doc_ids else ("query_id",):
        bad = df.filter(pl.col(col).str.contains(r"[\s#]") | (pl.col(col) == ""))
        if bad.height:
            raise SchemaError(
                f"write_svmlight: {col} {bad[col][0]!r} cannot be written to SVMlight; expected "
                "non-empty ids without whitespace or '#'"
            )
    _check_contiguous(
        df.with_row_index("line", offset=1).select("query_id", "line"), f"write_svmlight({path}): frame", SchemaError
    )

    num = number_text  # integral floats as "2" rather than "2.0": shorter and what LETOR files use
    pieces = [num(pl.col("label")), pl.lit("qid:") + pl.col("query_id")]
    for i, c in enumerate(names, start=1):
        tok = pl.lit(f"{i}:") + num(pl.col(c))
        pieces.append(pl.when(pl.col(c) == 0).then(None).otherwise(tok) if sparse else tok)
    line = pl.concat_str(pieces, separator=" ", ignore_nulls=True)
    if doc_ids:
        line = line + pl.lit(" #docid = ") + pl.col("doc_id")
    out = df.select(line.alias("line"))["line"]
    text = "\n".join(out.to_list()) + "\n" if out.len() else ""
    write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"), what="SVMlight file")
    return path
