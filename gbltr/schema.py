"""Frame contracts: the column names and Polars dtypes of every table gbltr passes around.

One place checks them (:func:`validate`), at every boundary: when a dataset folder is read or
written, when labels are loaded, when a feature table enters training. Ids are always the
columns ``query_id`` and ``doc_id`` and always ``pl.String``: integer ids from a reader are cast
there, so ``7`` and ``"7"`` are the same query everywhere.

Tables of a dataset folder (see :mod:`gbltr.data.store`):

``queries``      query_id, text [, split, + free columns such as the simulator's intent]
``documents``    doc_id, title, body, url [, inlinks, pagerank, domain, url_depth, ...]
``candidates``   query_id, doc_id, rank (1-based first-stage rank), retrieval_score
``impressions``  session_id, query_id, position (1-based), doc_id, clicked [, dwell_time]
``labels``       query_id, doc_id, label (Float64, null = missing), source [, free metadata]
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import polars as pl

from gbltr.errors import SchemaError

LABEL_SOURCES = ("human", "llm", "click")
SPLITS = ("train", "valid", "test")

_INTEGER = {pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64}
_FLOAT = {pl.Float32, pl.Float64}


@dataclass(frozen=True)
class Contract:
    """Required and optional columns of one table, and the columns that must be unique together."""

    name: str
    required: dict[str, pl.DataType]
    optional: dict[str, pl.DataType] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()

    @property
    def columns(self) -> dict[str, pl.DataType]:
        return {**self.required, **self.optional}


QUERIES = Contract(
    "queries",
    required={"query_id": pl.String, "text": pl.String},
    optional={"split": pl.String},
    key=("query_id",),
    not_null=("query_id",),
)
DOCUMENTS = Contract(
    "documents",
    required={"doc_id": pl.String, "title": pl.String, "body": pl.String, "url": pl.String},
    optional={
        "inlinks": pl.Int64,
        "pagerank": pl.Float64,
        "domain": pl.String,
    },
    key=("doc_id",),
    not_null=("doc_id",),
)
CANDIDATES = Contract(
    "candidates",
    required={
        "query_id": pl.String,
        "doc_id": pl.String,
        "rank": pl.Int32,
        "retrieval_score": pl.Float64,
    },
    key=("query_id", "doc_id"),
    not_null=("query_id", "doc_id", "rank"),
)
IMPRESSIONS = Contract(
    "impressions",
    required={
        "session_id": pl.String,
        "query_id": pl.String,
        "position": pl.Int32,
        "doc_id": pl.String,
        "clicked": pl.Boolean,
    },
    optional={"dwell_time": pl.Float64},
    key=("session_id", "position"),
    not_null=("session_id", "query_id", "position", "doc_id", "clicked"),
)
LABELS = Contract(
    "labels",
    required={
        "query_id": pl.String,
        "doc_id": pl.String,
        "label": pl.Float64,
        "source": pl.String,
    },
    key=("query_id", "doc_id"),
    not_null=("query_id", "doc_id", "source"),
)

CONTRACTS = {c.name: c for c in (QUERIES, DOCUMENTS, CANDIDATES, IMPRESSIONS, LABELS)}


def _castable(found: pl.DataType, expected: pl.DataType) -> bool:
    """Casts gbltr makes on its own: widening numbers, integer ids to strings, 0/1 to bool."""
    if found == expected:
        return True
    f, e = found.base_type(), expected.base_type()
    if e in _INTEGER:
        return f in _INTEGER
    if e in _FLOAT:
        return f in _INTEGER or f in _FLOAT
    if e == pl.String:
        return f in _INTEGER or f in (pl.Categorical, pl.Enum)
    if e == pl.Boolean:
        return f in _INTEGER
    return False


def _may_have_duplicates(df: pl.DataFrame, key: tuple[str, ...]) -> bool:
    """False when every ``key`` is certainly unique: as many distinct row hashes as rows.

    Equal keys hash equally, so a duplicate key always lowers the count of distinct hashes; a
    lower count can also be a hash collision, which the caller's exact ``group_by`` then rules
    out. One hash per row and one distinct count is ~10x cheaper than grouping by string keys
    (``benchmarks/bench_schema.py``).
    """
    return df.select(list(key)).hash_rows().n_unique() < df.height


def validate(frame: pl.DataFrame | pl.LazyFrame, contract: Contract, *, where: str = "") -> pl.DataFrame:
    """Check ``frame`` against ``contract`` and return it with the contract's dtypes.

    Raises :class:`SchemaError` naming the missing columns (with the closest found name as a
    likely misspelling), the columns whose dtype cannot be cast, duplicate keys and nulls in
    columns that must have values. Extra columns are kept. Integer ids become strings and
    narrower numbers are widened; nothing else is converted.
    """
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    origin = f" in {where}" if where else ""
    found = dict(df.schema)
    missing = [c for c in contract.required if c not in found]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, list(found), n=1, cutoff=0.6)
            hints.append(f"{c!r}" + (f" (found {close[0]!r}: misspelled?)" if close else ""))
        raise SchemaError(
            f"{contract.name} table{origin}: missing column(s) {', '.join(hints)}; "
            f"expected {list(contract.required)}, found {list(found)}"
        )
    casts = []
    for name, expected in contract.columns.items():
        if name not in found:
            continue
        if found[name] == expected:
            continue
        if found[name] == pl.Null:  # an all-null column read from an empty or sparse file
            casts.append(pl.col(name).cast(expected))
            continue
        if not _castable(found[name], expected):
            raise SchemaError(
                f"{contract.name} table{origin}: column {name!r} has dtype {found[name]}, "
                f"expected {expected}"
            )
        casts.append(pl.col(name).cast(expected))
    if casts:
        df = df.with_columns(casts)
    for name in contract.not_null:
        n_null = df[name].null_count()
        if n_null:
            raise SchemaError(
                f"{contract.name} table{origin}: column {name!r} has {n_null} null value(s); "
                "expected none"
            )
    if contract.key and df.height and _may_have_duplicates(df, contract.key):
        dup = df.group_by(list(contract.key)).len().filter(pl.col("len") > 1)
        if dup.height:
            example = dup.row(0, named=True)
            example.pop("len")
            raise SchemaError(
                f"{contract.name} table{origin}: {dup.height} duplicate key(s) on "
                f"{list(contract.key)}, e.g. {example}; expected each key once "
                "(deduplicate or aggregate before loading)"
            )
    if contract is LABELS and df.height:
        bad = df.filter(~pl.col("source").is_in(LABEL_SOURCES))["source"].unique().to_list()
        if bad:
            raise SchemaError(
                f"labels table{origin}: unknown source(s) {bad}; expected one of {list(LABEL_SOURCES)}"
            )
    if "split" in df.columns and contract is QUERIES:
        bad = df.filter(pl.col("split").is_not_null() & ~pl.col("split").is_in(SPLITS))
        if bad.height:
            raise SchemaError(
                f"queries table{origin}: unknown split value(s) {bad['split'].unique().to_list()}; "
                f"expected one of {list(SPLITS)}"
            )
    return df


def check_finite(frame: pl.DataFrame, columns: list[str], *, where: str = "") -> None:
    """Raise if any of ``columns`` holds NaN or +-inf, naming the columns and a count."""
    origin = f" in {where}" if where else ""
    bad = {}
    for c in columns:
        s = frame[c]
        if s.dtype in _FLOAT:
            n = int((~s.is_finite()).sum()) if s.len() else 0
            if n:
                bad[c] = n
    if bad:
        raise SchemaError(
            f"feature values{origin}: expected finite numbers, found NaN/inf in {bad} "
            "(column: rows); impute them in the feature definition or drop those features"
        )
