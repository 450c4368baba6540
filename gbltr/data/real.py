"""Readers for two real public click logs, into gbltr's ``impressions``, ``queries`` and
``labels`` tables (contracts in :mod:`gbltr.schema`).

TREC Session Track 2014, in the NCM/GraphCM per-query format (:func:`read_trec_session`)
-----------------------------------------------------------------------------------------
Folder with ``{train,valid,test}_per_query_quid.txt``, ``human_label_for_GraphCM_per_query_quid.txt``,
``query_qid.dict`` and ``url_uid.dict`` (GraphCM repository demo data; Chen et al., "A Graph-Enhanced
Click Model for Web Search", SIGIR 2021). Each log line is one SERP, tab separated::

    <session> <query uid> [10 doc uids] [10 vertical types] [10 clicks 0/1]

and the human-label file has the same five columns plus ``[10 relevance labels]`` (-2 = spam,
0..4). The two ``.dict`` files are Python dict literals (query text -> query uid, ClueWeb12 doc
id -> doc uid), parsed with :func:`ast.literal_eval`.

- ``impressions``: one row per (SERP, position). ``session_id`` is ``"<split>:<line>"`` (one SERP;
  a TREC session holds several SERPs, and repeats queries, so it cannot be the key), with the
  TREC session id kept in ``search_session`` and the file in ``split``. ``query_id`` is the query
  uid; ``doc_id`` is the **ClueWeb12 document id** (via ``url_uid.dict``), so labels from other
  ClueWeb12 qrels join. ``vertical_type`` (Int32) is kept. Some SERPs show the same document at
  two positions; both rows are kept.
- ``queries``: every entry of ``query_qid.dict`` but the empty string (uid 0, used by no SERP).
- ``labels`` (source "human"): one row per (query, doc) judged in the human-label file. Spam is
  kept as **-2 in the raw label column** (metrics treat negative grades as 0). A pair judged
  more than once with different grades (17 pairs in the 2014 file) gets the **maximum** grade;
  ``n_judgements`` (Int32) and ``label_min`` (Float64) record it, so conflicts stay visible.

Sogou PSCM sample (:func:`read_sogou_pscm`)
-------------------------------------------
Folder with ``train_data``, ``test_data``, ``query_id.tsv`` and ``url_id`` (THUIR PSCM repository;
Wang et al., "Incorporating Non-sequential Behavior into Click Models", SIGIR 2015). Each log
line is one SERP, tab separated, 10 fields::

    <query id> <10 url ids> <10 clicks 0/1> <10 click timestamps, -1 = none> <6 blocks of 10 mouse features>

(the 10 values inside a field are space separated). Files may be UTF-8 or GB18030 (:func:`decode_text`). ``query_id.tsv`` is ``text, query id, a, b``
without header and without quoting (one query text starts with a literal ``"``). The data README
calls ``a, b`` sessions and sessions-with-click; in the files ``a`` equals the number of
``train_data`` lines of the query and ``b`` the number of ``test_data`` lines, for every query,
so they are read as ``train_sessions`` and ``test_sessions`` (query frequency). ``url_id`` is
``url, url id``.

- ``impressions``: ``session_id`` = ``"<split>:<line>"``, ``doc_id`` = url id, ``clicked``, and
  ``click_time`` (Float64 Unix seconds, null when not clicked) and ``split``. The mouse-feature
  blocks are not read (their meaning is not documented with the data).
- ``queries``: query_id, text, train_sessions, test_sessions (Int64).
- ``urls``: doc_id, url.
- ``labels`` is None: the sample's ``relevance_label.tsv`` covers different queries.

Every table is validated with :func:`gbltr.schema.validate` before it is returned. Malformed lines
raise :class:`~gbltr.errors.ParseError` naming file, line and the offending text.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gbltr.errors import ParseError, unknown_choice
from gbltr.inputs import check_file, iter_lines, read_text
from gbltr.schema import IMPRESSIONS, LABELS, QUERIES, validate

__all__ = ["ClickLog", "read_trec_session", "read_sogou_pscm", "TREC_SPLITS", "SOGOU_SPLITS"]

TREC_SPLITS = ("train", "valid", "test")
SOGOU_SPLITS = ("train", "test")
SERP_LENGTH = 10


@dataclass(frozen=True)
class ClickLog:
    """A real click log as gbltr tables.

    ``impressions`` (IMPRESSIONS contract + extras), ``queries`` (QUERIES + extras),
    ``labels`` (LABELS, source "human") or None, ``urls`` (doc_id, url) or None, ``name``.
    """

    name: str
    impressions: pl.DataFrame
    queries: pl.DataFrame
    labels: pl.DataFrame | None = None
    urls: pl.DataFrame | None = None


def decode_text(path: Path) -> str:
    """A text file's content: UTF-8, else GB18030 (the Sogou releases' original encoding)."""
    data = _need(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise ParseError(f"{path}: expected UTF-8 or GB18030 text, found undecodable bytes at offset {e.start}") from None


def _need(path: Path) -> Path:
    return check_file(path, "log file", "a file of the click log (is the folder the right dataset?)")


def _check_splits(splits, allowed) -> tuple[str, ...]:
    for s in splits:
        if s not in allowed:
            raise unknown_choice("split", s, allowed)
    return tuple(splits)


def _read_dict(path: Path) -> dict:
    try:
        d = ast.literal_eval(read_text(path, "log file", "a Python dict literal"))
    except (ValueError, SyntaxError) as e:
        raise ParseError(f"{path}: expected a Python dict literal, could not parse it ({e})") from e
    if not isinstance(d, dict):
        raise ParseError(f"{path}: expected a dict literal, found {type(d).__name__}")
    return d


def _int_list(text: str, path: Path, line: int, what: str, n: int = SERP_LENGTH) -> list[int]:
    try:
        vals = json.loads(text)
    except json.JSONDecodeError:
        vals = None
    if not isinstance(vals, list) or len(vals) != n or not all(isinstance(v, int) for v in vals):
        raise ParseError(f"{path}, line {line}: expected {what} as a list of {n} integers, found {text[:80]!r}")
    return vals


# --------------------------------------------------------------------------- TREC Session 2014


def _trec_rows(path: Path, n_fields: int):
    """Yield (line, fields) of a per-query file, checking the field count."""
    for n, raw in iter_lines(path, "log file", f"lines of {n_fields} tab-separated fields", empty_ok=True):
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) != n_fields:
            raise ParseError(
                f"{path}, line {n}: expected {n_fields} tab-separated fields, found {len(fields)}: {raw[:80]!r}"
            )
        yield n, fields


def read_trec_session(root: str | Path, *, splits=TREC_SPLITS) -> ClickLog:
    """Read the TREC Session 2014 GraphCM files in ``root`` (format in the module docstring)."""
    root = Path(root)
    splits = _check_splits(splits, TREC_SPLITS)
    query_uid = _read_dict(root / "query_qid.dict")
    doc_uid = _read_dict(root / "url_uid.dict")
    uid_to_doc = {int(v): str(k) for k, v in doc_uid.items()}

    def doc(uid: int, path: Path, line: int) -> str:
        try:
            return uid_to_doc[uid]
        except KeyError:
            raise ParseError(
                f"{path}, line {line}: doc uid {uid} is not in url_uid.dict; expected every uid there"
            ) from None

    cols: dict[str, list] = {k: [] for k in ("session_id", "search_session", "query_id", "position",
                                             "doc_id", "clicked", "vertical_type", "split")}
    for split in splits:
        path = root / f"{split}_per_query_quid.txt"
        for n, f in _trec_rows(path, 5):
            docs = _int_list(f[2], path, n, "doc uids")
            verts = _int_list(f[3], path, n, "vertical types")
            clicks = _int_list(f[4], path, n, "clicks")
            if any(c not in (0, 1) for c in clicks):
                raise ParseError(f"{path}, line {n}: expected clicks 0 or 1, found {f[4]!r}")
            sid = f"{split}:{n}"
            for pos in range(SERP_LENGTH):
                cols["session_id"].append(sid)
                cols["search_session"].append(f[0])
                cols["query_id"].append(f[1])
                cols["position"].append(pos + 1)
                cols["doc_id"].append(doc(docs[pos], path, n))
                cols["clicked"].append(bool(clicks[pos]))
                cols["vertical_type"].append(verts[pos])
                cols["split"].append(split)
    impressions = pl.DataFrame(
        cols,
        schema={"session_id": pl.String, "search_session": pl.String, "query_id": pl.String,
                "position": pl.Int32, "doc_id": pl.String, "clicked": pl.Boolean,
                "vertical_type": pl.Int32, "split": pl.String},
    )
    impressions = validate(impressions, IMPRESSIONS, where=str(root))

    queries = pl.DataFrame(
        {"query_id": [str(v) for k, v in query_uid.items() if k != ""],
         "text": [str(k) for k in query_uid if k != ""]},
        schema={"query_id": pl.String, "text": pl.String},
    )
    queries = validate(queries, QUERIES, where=str(root / "query_qid.dict"))
    unknown = impressions.filter(~pl.col("query_id").is_in(queries["query_id"].implode()))
    if unknown.height:
        raise ParseError(
            f"{root}: query uid {unknown['query_id'][0]!r} ({unknown['split'][0]} split) is not in "
            "query_qid.dict; expected every query uid there"
        )

    path = root / "human_label_for_GraphCM_per_query_quid.txt"
    lab: dict[str, list] = {"query_id": [], "doc_id": [], "label": []}
    for n, f in _trec_rows(path, 6):
        docs = _int_list(f[2], path, n, "doc uids")
        grades = _int_list(f[5], path, n, "relevance labels")
        for d, g in zip(docs, grades):
            lab["query_id"].append(f[1])
            lab["doc_id"].append(doc(d, path, n))
            lab["label"].append(float(g))
    labels = (
        pl.DataFrame(lab, schema={"query_id": pl.String, "doc_id": pl.String, "label": pl.Float64})
        .group_by("query_id", "doc_id", maintain_order=True)
        .agg(
            pl.col("label").max(),
            pl.len().cast(pl.Int32).alias("n_judgements"),
            pl.col("label").min().alias("label_min"),
        )
        .select("query_id", "doc_id", "label", pl.lit("human").alias("source"), "n_judgements", "label_min")
    )
    labels = validate(labels, LABELS, where=str(path))
    return ClickLog(name="trec-session-2014", impressions=impressions, queries=queries, labels=labels)


# --------------------------------------------------------------------------- Sogou PSCM

_SOGOU_FIELDS = 10


def _sogou_split(path: Path, split: str) -> pl.DataFrame:
    """One ``*_data`` file as impressions rows (vectorised; errors name the first bad line)."""
    lines = decode_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    df = (
        pl.DataFrame({"text": lines}, schema={"text": pl.String})
        .with_row_index("line", offset=1)
        .with_columns(pl.col("text").str.strip_chars_end("\r"))
        .filter(pl.col("text").str.strip_chars() != "")
        .with_columns(pl.col("text").str.split("\t").alias("f"))
    )
    bad = df.filter(pl.col("f").list.len() != _SOGOU_FIELDS)
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{path}, line {r['line']}: expected {_SOGOU_FIELDS} tab-separated fields, found "
            f"{len(r['f'])}: {r['text'][:80]!r}"
        )
    df = df.select(
        "line",
        pl.col("f").list.get(0).alias("query_id"),
        pl.col("f").list.get(1).str.extract_all(r"\S+").alias("doc_id"),
        pl.col("f").list.get(2).str.extract_all(r"\S+").alias("click"),
        pl.col("f").list.get(3).str.extract_all(r"\S+").alias("time"),
    )
    for col, what in (("doc_id", "url ids"), ("click", "clicks"), ("time", "click timestamps")):
        bad = df.filter(pl.col(col).list.len() != SERP_LENGTH)
        if bad.height:
            r = bad.row(0, named=True)
            raise ParseError(
                f"{path}, line {r['line']}: expected {SERP_LENGTH} space-separated {what}, "
                f"found {len(r[col])}: {' '.join(r[col])[:80]!r}"
            )
    rows = (
        df.with_columns(pl.lit(list(range(1, SERP_LENGTH + 1)), dtype=pl.List(pl.Int32)).alias("position"))
        .explode("doc_id", "click", "time", "position")
        .with_columns(pl.col("time").cast(pl.Float64, strict=False).alias("t"))
    )
    bad = rows.filter(~pl.col("click").is_in(["0", "1"]) | pl.col("t").is_null() | (pl.col("query_id") == ""))
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{path}, line {r['line']}, position {r['position']}: expected a query id, click 0/1 and a "
            f"numeric timestamp, found click {r['click']!r}, timestamp {r['time']!r}"
        )
    bad = rows.filter((pl.col("click") == "1") != (pl.col("t") != -1))
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{path}, line {r['line']}, position {r['position']}: expected a timestamp exactly for "
            f"clicked results (-1 otherwise), found click {r['click']!r} with timestamp {r['time']!r}"
        )
    return rows.select(
        (pl.lit(f"{split}:") + pl.col("line").cast(pl.String)).alias("session_id"),
        "query_id",
        "position",
        "doc_id",
        (pl.col("click") == "1").alias("clicked"),
        pl.when(pl.col("t") == -1).then(None).otherwise(pl.col("t")).alias("click_time"),
        pl.lit(split).alias("split"),
    )


def _read_tsv(path: Path, names: list[str], dtypes: list[pl.DataType]) -> pl.DataFrame:
    """A header-less, unquoted TSV; a wrong field count or a non-integer is a ParseError."""
    lines = decode_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cols: list[list] = [[] for _ in names]
    for n, raw in enumerate(lines, start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        f = raw.split("\t")
        if len(f) != len(names):
            raise ParseError(
                f"{path}, line {n}: expected {len(names)} tab-separated fields ({', '.join(names)}), "
                f"found {len(f)}: {raw[:80]!r}"
            )
        for c, v, name, dt in zip(cols, f, names, dtypes):
            if dt == pl.Int64:
                try:
                    v = int(v)
                except ValueError:
                    raise ParseError(f"{path}, line {n}: expected {name} to be an integer, found {v!r}") from None
            c.append(v)
    return pl.DataFrame(dict(zip(names, cols)), schema=dict(zip(names, dtypes)))


def read_sogou_pscm(root: str | Path, *, splits=SOGOU_SPLITS) -> ClickLog:
    """Read the Sogou PSCM sample in ``root`` (format in the module docstring)."""
    root = Path(root)
    splits = _check_splits(splits, SOGOU_SPLITS)
    parts = [_sogou_split(root / f"{s}_data", s) for s in splits]
    impressions = validate(pl.concat(parts) if parts else _sogou_split_empty(), IMPRESSIONS, where=str(root))

    queries = _read_tsv(
        root / "query_id.tsv",
        ["text", "query_id", "train_sessions", "test_sessions"],
        [pl.String, pl.String, pl.Int64, pl.Int64],
    ).select("query_id", "text", "train_sessions", "test_sessions")
    queries = validate(queries, QUERIES, where=str(root / "query_id.tsv"))
    unknown = impressions.filter(~pl.col("query_id").is_in(queries["query_id"].implode()))
    if unknown.height:
        raise ParseError(
            f"{root}: query id {unknown['query_id'][0]!r} ({unknown['split'][0]}_data) is not in "
            "query_id.tsv; expected every query id there"
        )
    urls = _read_tsv(root / "url_id", ["url", "doc_id"], [pl.String, pl.String]).select("doc_id", "url")
    dup = urls.filter(pl.col("doc_id").is_duplicated())
    if dup.height:
        raise ParseError(f"{root / 'url_id'}: url id {dup['doc_id'][0]!r} appears more than once; expected unique ids")
    return ClickLog(name="sogou-pscm", impressions=impressions, queries=queries, labels=None, urls=urls)


def _sogou_split_empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"session_id": pl.String, "query_id": pl.String, "position": pl.Int32, "doc_id": pl.String,
                "clicked": pl.Boolean, "click_time": pl.Float64, "split": pl.String}
    )
