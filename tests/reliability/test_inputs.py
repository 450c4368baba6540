"""One door per input kind (issue 17, section 1, and the file cases of section 5).

Part 1 checks each reader of :mod:`gbltr.inputs` against each way a file can be wrong. Part 2
runs the commands of the issue end to end: every file a user names is refused with one line
naming it, never a traceback, and before any expensive work.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import gbltr.pipeline
from gbltr import inputs
from gbltr.config import load_config
from gbltr.errors import InputError
from gbltr.train.fit import fit

from .conftest import FAST, edit_table, fast_config, run_cli

# --- part 1: every reader x every failure ---------------------------------------------------

GOOD = {
    "parquet": None,  # written by the test (binary)
    "toml": "[train]\nrounds = 3\n",
    "json": '{"train": {"rounds": 3}}',
    "text": "q1 0 d1 1\nq1 0 d2 0\n",
    "stream": "q1 0 d1 1\nq1 0 d2 0\n",
    "matrix": '{"click_prob": [[0.1, 0.2], [0.3, 0.4]]}',
}
SUFFIX = {"parquet": ".parquet", "scan": ".parquet", "toml": ".toml", "json": ".json", "text": ".txt",
          "stream": ".txt", "matrix": ".json"}


def _read(kind: str, path: Path):
    if kind == "parquet":
        return inputs.read_parquet(path, "test table")
    if kind == "scan":
        return inputs.scan_parquet(path, "test table")
    if kind in ("toml", "json"):
        return inputs.read_document(path, "test document", "a table of settings")
    if kind == "text":
        return inputs.read_lines(path, "test file", "TREC qrels lines")
    if kind == "stream":
        return list(inputs.iter_lines(path, "test file", "TREC qrels lines"))
    return inputs.read_json_matrix(path, "test matrix", "click_prob", rows=2)


def _zstd(data: bytes) -> bytes:
    # the zstd frame magic and a header: the reader looks at the magic bytes only
    return b"\x28\xb5\x2f\xfd" + b"\x00" * 8 + data


def _zip(data: bytes, tmp_path: Path) -> bytes:
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as fh:
        fh.writestr("inner", data)
    return z.read_bytes()


def _good_bytes(kind: str, tmp_path: Path) -> bytes:
    if kind in ("parquet", "scan"):
        p = tmp_path / "good.parquet"
        pl.DataFrame({"a": [1, 2]}).write_parquet(p)
        return p.read_bytes()
    return GOOD[kind].encode()


def _refuses(kind: str, path: Path, found: str) -> None:
    """Reading ``path`` as ``kind`` raises InputError naming the file and ``found``."""
    with pytest.raises(InputError, match=re.escape(found)) as err:
        _read(kind, path)
    assert str(path) in str(err.value)


def _gzip(data: bytes) -> bytes:
    """gzip bytes with a fixed header time: the bytes are test ids, which must be the same in every
    pytest-xdist worker (``gzip.compress`` stamps the current second otherwise)."""
    return gzip.compress(data, mtime=0)


COMPRESSIONS = {"gzip": _gzip, "bz2": bz2.compress, "xz": lzma.compress, "zstd": _zstd, "zip": None}
KINDS = ("parquet", "scan", "toml", "json", "text", "stream", "matrix")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("failure, found", [
    ("missing", "found no such file"),
    ("folder", "found a folder"),
    ("empty", "found an empty file"),
    *[(c, f"found {c}-compressed bytes") for c in COMPRESSIONS],
])
def test_each_reader_refuses_what_no_kind_can_be(tmp_path, kind, failure, found):
    path = tmp_path / f"input{SUFFIX[kind]}"
    if failure == "folder":
        path.mkdir()
    elif failure == "empty":
        path.write_bytes(b"")
    elif failure in COMPRESSIONS:
        good = _good_bytes(kind, tmp_path)
        path.write_bytes(_zip(good, tmp_path) if failure == "zip" else COMPRESSIONS[failure](good))
    with pytest.raises(InputError) as err:
        _read(kind, path)
    message = str(err.value)
    assert str(path) in message and "expected" in message and found in message, message


@pytest.mark.parametrize("kind", ["toml", "json", "text", "matrix"])
@pytest.mark.parametrize("content, found", [
    (b"[train]\nname = '\xff\xfe'\n", "found bytes that are not UTF-8 at offset 16 (line 2)"),
    (b"   \n\n", "found only blank text"),
    (b"abc\x00def", "found a NUL byte at offset 3"),
])
def test_text_readers_refuse_bytes_that_are_not_text(tmp_path, kind, content, found):
    path = tmp_path / f"input{SUFFIX[kind]}"
    path.write_bytes(content)
    _refuses(kind, path, found)


def test_streamed_lines_name_the_line_that_is_not_utf8(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(b"a\tb\n\xef\xbb\xbfc\td\n\xff\te\n")
    with pytest.raises(InputError, match=r"log.txt': expected lines \(UTF-8 text\), found bytes that are not UTF-8 "
                                         r"on line 3 \(column 1\)"):
        list(inputs.iter_lines(path, "log file", "lines"))


@pytest.mark.parametrize("kind", ["parquet", "scan"])
@pytest.mark.parametrize("content, found", [
    (b"query_id\tdoc_id\nq1\td1\n", "found text (no Parquet header 'PAR1')"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "found bytes that are not Parquet"),
    ("truncated", "found a truncated or corrupt Parquet file"),
    ("bad footer", "found a file that does not read"),
])
def test_parquet_readers_refuse_what_is_not_parquet(tmp_path, kind, content, found):
    path = tmp_path / "t.parquet"
    good = _good_bytes("parquet", tmp_path)
    if content == "truncated":
        content = good[: len(good) // 2]
    elif content == "bad footer":  # header and trailing magic intact, the metadata in between garbled
        content = good[:4] + b"\x00" * (len(good) - 8) + good[-4:]
    path.write_bytes(content)
    _refuses(kind, path, found)


@pytest.mark.parametrize("kind, content, found", [
    ("toml", "[train\nrounds = 3", "found text that does not parse as TOML"),
    ("json", '{"train": ', "found text that does not parse as JSON"),
    ("json", "[1, 2]", "expected a JSON object at the top level: a table of settings, found a list"),
    ("matrix", '{"click_prob": [[0.1, 0.2]', "found text that does not parse as JSON"),
    ("matrix", '{"clicks": [[0.1]]}', "found keys ['clicks']"),
    ("matrix", '{"click_prob": [[0.1, 0.2]]}', "found 1 rows"),
    ("matrix", '{"click_prob": [[0.1, 0.2], [0.3]]}', "found rows of different lengths [1, 2]"),
    ("matrix", '{"click_prob": []}', "found an empty matrix (0 rows, no columns)"),
    ("matrix", '{"click_prob": [[], []]}', "found an empty matrix (2 rows, no columns)"),
    ("matrix", '{"click_prob": "high"}', "found click_prob = a string"),
    ("matrix", '{"click_prob": [[0.1, "a"], [0.3, 0.4]]}', "found click_prob[0][1] = 'a', a string"),
    ("matrix", '{"click_prob": [[0.1, true], [0.3, 0.4]]}', "found click_prob[0][1] = True, a boolean"),
    ("matrix", '{"click_prob": [[0.1, 1.5], [0.3, 0.4]]}', "expected probabilities in [0, 1], found click_prob[0][1] = 1.5"),
    ("matrix", '{"click_prob": [[0.1, -0.1], [0.3, 0.4]]}', "found click_prob[0][1] = -0.1"),
    ("matrix", '{"click_prob": [[0.1, NaN], [NaN, 0.4]]}', "found click_prob[0][1] = nan (2 cell(s) out of range)"),
    ("matrix", '{"click_prob": [[0.1, Infinity], [0.3, 0.4]]}', "found click_prob[0][1] = inf"),
])
def test_parse_shape_and_type_errors(tmp_path, kind, content, found):
    path = tmp_path / f"input{SUFFIX[kind]}"
    path.write_text(content)
    _refuses(kind, path, found)


@pytest.mark.parametrize("kind", KINDS)
def test_each_reader_reads_a_good_file(tmp_path, kind):
    path = tmp_path / f"input{SUFFIX[kind]}"
    path.write_bytes(_good_bytes(kind, tmp_path))
    out = _read(kind, path)
    if kind == "parquet":
        assert out["a"].to_list() == [1, 2]
    elif kind == "scan":
        assert out.collect()["a"].to_list() == [1, 2]
    elif kind in ("toml", "json"):
        assert out == {"train": {"rounds": 3}}
    elif kind == "text":
        assert out["line"].to_list() == [1, 2]
    elif kind == "stream":
        assert out == [(1, "q1 0 d1 1"), (2, "q1 0 d2 0")]
    else:
        assert np.array_equal(out, [[0.1, 0.2], [0.3, 0.4]])


@pytest.mark.parametrize("value, kind, message", [
    ("ten", "integer", "rounds = 'ten'; expected a integer, found a string"),
    (True, "integer", "rounds = True; expected a integer, found a boolean"),
    (1.5, "integer", "rounds = 1.5; expected a integer, found a number"),
    ([1], "string|list", None),
    (None, "integer", "expected key 'rounds' (integer), found keys []"),
])
def test_typed_field(value, kind, message):
    table = {} if value is None else {"rounds": value}
    if message is None:
        assert inputs.field(table, "rounds", kind, "doc") == value
        return
    with pytest.raises(InputError, match=re.escape(message)):
        inputs.field(table, "rounds", kind, "doc")


# --- part 2: the commands of the issue ------------------------------------------------------

def _cfg(world, **over):
    return load_config(overrides={"data": str(world), **FAST, **over})


def _refused(code: int, out: str, err: str, *needles: str) -> str:
    """Exit 2 with one line 'error: ...' last on stderr (after any warnings), no traceback, every
    needle in that line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: "), err
    for n in needles:
        assert n in line, (n, err)
    return line


@pytest.fixture(scope="module")
def a_run(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "click"
    fit(_cfg(world), out)
    return out


def _corrupt(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:4] + b"\x00" * (len(data) - 8) + data[-4:])


@pytest.mark.parametrize("flags", [["--stream"], ["--engine", "dask"]])
@pytest.mark.parametrize("damage", ["pages", "garble", "truncate", "text"])
def test_corrupt_impressions_under_stream_and_dask(world_copy, tmp_path, capsys, flags, damage):
    log = world_copy / "impressions.parquet"
    if damage == "pages":  # header and footer intact, the data pages garbled (a traceback before)
        data = bytearray(log.read_bytes())
        data[100:len(data) // 2] = bytes((b * 7 + 13) % 256 for b in data[100:len(data) // 2])
        log.write_bytes(bytes(data))
    elif damage == "garble":
        _corrupt(log)
    elif damage == "truncate":
        log.write_bytes(log.read_bytes()[:1000])
    else:
        log.write_text("session_id,query_id\n1,q\n")
    code, out, err = run_cli(["fit", "--data", str(world_copy), "--config", str(fast_config(tmp_path)),
                              "--out", str(tmp_path / "run"), *flags], capsys)
    _refused(code, out, err, f"impressions table '{log}': expected a Parquet table")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, found", [
    (b"session_id\tquery_id\n", "found text (no Parquet header 'PAR1')"),
    ("garble", "found a file that does not read"),
    (_gzip(b"x" * 100), "found gzip-compressed bytes"),
])
def test_clicks_fit_log_that_is_not_parquet(world, tmp_path, capsys, content, found):
    log = tmp_path / "log.parquet"
    if content == "garble":
        shutil.copy(world / "impressions.parquet", log)
        _corrupt(log)
    else:
        log.write_bytes(content)
    code, out, err = run_cli(["clicks", "fit", "--log", str(log), "--out", str(tmp_path / "out")], capsys)
    _refused(code, out, err, f"--log '{log}'", found)


SCHEDULES = [
    (b"[[stage]\nsource = 'click'\n", "does not parse as TOML"),
    (b"description = 'no stages'\n", "expected [[stage]] tables"),
    (b"[[stage]]\nrounds = 10\n", "expected key 'source' (string), found keys ['rounds']"),
    (b"[[stage]]\nsource = 'click'\n", "expected key 'rounds' (integer)"),
    (b"[[stage]]\nsource = 'click'\nrounds = 'ten'\n", "rounds = 'ten'; expected a integer, found a string"),
    (b"[[stage]]\nsource = 'click'\nrounds = 10\nqueries = 3\n", "queries = 3; expected a string or list"),
    (b"[[stage]]\nsource = 'click'\nrounds = 10\nqueries = [1]\n", "queries = [1]; expected 'all' or a list of bucket"),
    (b"[[stage]]\nsource = 'click'\nrounds = 10\nearly_stopping = 'x'\n", "early_stopping = 'x'"),
    (b"stage = [1, 2]\n", "expected a [[stage]] table, found 1"),
    (b"stage = []\n", "expected at least one [[stage]] table"),
    (b"[[stage]]\nsource = '\xff'\nrounds = 10\n", "bytes that are not UTF-8 at offset 20 (line 2)"),
    (b"", "found an empty file"),
    (_gzip(b"[[stage]]\n"), "found gzip-compressed bytes"),
]


@pytest.mark.parametrize("content, found", SCHEDULES)
def test_bad_schedule_file(world, tmp_path, capsys, content, found):
    schedule = tmp_path / "s.toml"
    schedule.write_bytes(content)
    code, out, err = run_cli(["fit", "--data", str(world), "--labels", "fused", "--fusion", "schedule",
                              "--schedule", str(schedule), "--out", str(tmp_path / "run"),
                              "--config", str(fast_config(tmp_path))], capsys)
    _refused(code, out, err, str(schedule), found)


def test_schedule_given_as_a_folder_or_missing_file(world, tmp_path, capsys):
    for arg, found in ((str(tmp_path), "found a folder"), (str(tmp_path / "nope.toml"), "found no such file")):
        code, out, err = run_cli(["fit", "--data", str(world), "--labels", "fused", "--fusion", "schedule",
                                  "--schedule", arg, "--config", str(fast_config(tmp_path))], capsys)
        _refused(code, out, err, arg, found)


def _unprepared(monkeypatch):
    """Make every dataset read fail loudly: an error about a named file must come first."""
    def boom(*a, **k):
        raise AssertionError("the dataset was read before the named files were checked")
    monkeypatch.setattr(gbltr.pipeline, "open_dataset", boom)  # the one door to --data (gbltr.data.log)
    monkeypatch.setattr(gbltr.pipeline, "builtin_world", boom)


@pytest.mark.parametrize("cmd", ["fit", "experiment", "ablation"])
def test_named_files_are_checked_before_the_data_are_prepared(world, tmp_path, capsys, monkeypatch, cmd):
    _unprepared(monkeypatch)
    schedule = tmp_path / "s.toml"
    schedule.write_bytes(b"[[stage]]\nsource = 'click'\nrounds = 'ten'\n")
    cfg = tmp_path / "ablation.toml"
    cfg.write_text(f"labels = 'fused'\n[fusion]\nmethod = 'schedule'\nschedule = '{schedule}'\n")
    args = {"fit": ["fit", "--labels", "fused", "--fusion", "schedule", "--schedule", str(schedule)],
            "experiment": ["experiment", "--setups", f"click,fused:schedule:{schedule}", "--seeds", "1"],
            "ablation": ["ablation", "--labels", "fused", "--config", str(cfg)]}[cmd]
    code, out, err = run_cli([*args, "--data", str(world), "--out", str(tmp_path / "out")], capsys)
    _refused(code, out, err, str(schedule), "rounds = 'ten'")


@pytest.mark.parametrize("option, content, found", [
    ("--catalogue", b"[[feature]]\nname = '\xe9'\n", "bytes that are not UTF-8"),
    ("--catalogue", b"[[feature\n", "does not parse as TOML"),
    ("--llm-labels", b"PAR1garbagePAR1", "found a file that does not read"),
    ("--llm-labels", b"q1 0 d1\n", "expected 4 fields"),
])
def test_fit_named_files_before_preparation(world, tmp_path, capsys, monkeypatch, option, content, found):
    _unprepared(monkeypatch)
    path = tmp_path / ("x.parquet" if content.startswith(b"PAR1") else "x.toml" if option == "--catalogue" else "x.qrels")
    path.write_bytes(content)
    code, out, err = run_cli(["fit", "--data", str(world), "--labels", "llm", option, str(path),
                              "--out", str(tmp_path / "run")], capsys)
    _refused(code, out, err, str(path), found)


def test_non_utf8_config_through_the_cli(world, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"[train]\nbackend = '\xff'\n")
    code, out, err = run_cli(["fit", "--data", str(world), "--config", str(cfg)], capsys)
    _refused(code, out, err, str(cfg), "bytes that are not UTF-8 at offset 19 (line 2)")


@pytest.mark.parametrize("content, found", [
    (b'{"f": "\xff"}', "bytes that are not UTF-8"),
    (b"{not json", "does not parse as JSON"),
    (b"[1]", "found a list"),
    (bz2.compress(b"{}"), "found bz2-compressed bytes"),
])
def test_export_definitions(a_run, tmp_path, capsys, content, found):
    defs = tmp_path / "defs.json"
    defs.write_bytes(content)
    code, out, err = run_cli(["export", str(a_run), "--format", "opensearch", "--out", str(tmp_path / "exp"),
                              "--definitions", str(defs)], capsys)
    _refused(code, out, err, str(defs), found)


@pytest.mark.parametrize("content, found", [
    (b"q1 Q0 d\xe91 1 2.0 t\n", "bytes that are not UTF-8 at offset 7 (line 1)"),
    (b"", "found an empty file"),
    (_gzip(b"q1 Q0 d1 1 2.0 t\n"), "found gzip-compressed bytes"),
])
def test_rerank_run_file(a_run, world, tmp_path, capsys, content, found):
    run_file = tmp_path / "first.run"
    run_file.write_bytes(content)
    code, out, err = run_cli(["rerank", str(a_run), "--data", str(world), "--run-file", str(run_file),
                              "--out", str(tmp_path / "out.run")], capsys)
    _refused(code, out, err, str(run_file), found)


def test_rerank_data_folder_table_is_read_through_the_door(a_run, world_copy, tmp_path, capsys):
    _corrupt(world_copy / "candidates.parquet")
    code, out, err = run_cli(["rerank", str(a_run), "--data", str(world_copy), "--out", str(tmp_path / "o.run")],
                             capsys)
    _refused(code, out, err, "candidates.parquet", "found a file that does not read")


def test_compare_run_report_that_is_not_utf8(a_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(a_run, other)
    (other / "report.json").write_bytes(b'{"name": "\xff"}')
    code, out, err = run_cli(["compare", str(a_run), str(other)], capsys)
    _refused(code, out, err, "report.json", "bytes that are not UTF-8")


@pytest.fixture
def pairs_file(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("query_id\tquery\tdoc_id\ttext\nq1\tcats\td1\tabout cats\n")
    return p


@pytest.mark.parametrize("content, found", [
    (b"[models.m]\ninput = 'cheap'\noutput = 1.0\n", "input = 'cheap'; expected a number, found a string"),
    (b"models = 3\n", "models = 3; expected a table"),
    (b"[models]\nm = 1\n", "expected a table with input and output prices"),
    (b"[models.m]\ninput = -1.0\noutput = 1.0\n", "input = -1.0; expected a finite price >= 0"),
    (b"[models.m]\ninput = nan\noutput = 1.0\n", "input = nan; expected a finite price >= 0"),
    (b"batch_discount = 'half'\n", "batch_discount = 'half'; expected a number"),
    (b"[models.m\n", "does not parse as TOML"),
    (b"[models.m]\ninput = '\xff'\n", "bytes that are not UTF-8"),
])
def test_annotate_prices(pairs_file, tmp_path, capsys, content, found):
    prices = tmp_path / "prices.toml"
    prices.write_bytes(content)
    code, out, err = run_cli(["annotate", "--pairs", str(pairs_file), "--model", "m", "--prices", str(prices),
                              "--dry-run", "--out", str(tmp_path / "l.parquet")], capsys)
    _refused(code, out, err, str(prices), found)


@pytest.mark.parametrize("suffix, content, found", [
    (".tsv", b"query_id\tquery\tdoc_id\ttext\nq1\t\xff\td1\tx\n", "bytes that are not UTF-8"),
    (".jsonl", b'{"query_id": "q1", \n', "does not parse"),
    (".parquet", b"query_id,query\n", "found text (no Parquet header 'PAR1')"),
    (".csv", _gzip(b"a,b\n"), "found gzip-compressed bytes"),
])
def test_annotate_pairs(tmp_path, capsys, suffix, content, found):
    pairs = tmp_path / f"pairs{suffix}"
    pairs.write_bytes(content)
    code, out, err = run_cli(["annotate", "--pairs", str(pairs), "--model", "m", "--dry-run",
                              "--out", str(tmp_path / "l.parquet")], capsys)
    _refused(code, out, err, str(pairs), found)


def test_annotate_compare_to_is_read_before_any_call(pairs_file, tmp_path, capsys, monkeypatch):
    import gbltr.labels.llm.run as run

    def no_call(*a, **k):
        raise AssertionError("annotated before the --compare-to file was checked")
    monkeypatch.setattr(run, "annotate", no_call)
    qrels = tmp_path / "human.qrels"
    qrels.write_bytes(b"q1 0 d1\n")
    code, out, err = run_cli(["annotate", "--pairs", str(pairs_file), "--model", "m", "--compare-to", str(qrels),
                              "--out", str(tmp_path / "l.parquet")], capsys)
    _refused(code, out, err, str(qrels), "expected 4 fields")


@pytest.mark.parametrize("matrix, found", [
    ({"click_prob": []}, "found an empty matrix"),
    ({"click_prob": [[0.5, 1.5]] * 5}, "expected click probabilities per position in [0, 1], found click_prob[0][1] = 1.5"),
    ({"click_prob": [[0.5, float("nan")]] * 5}, "found click_prob[0][1] = nan (5 cell(s) out of range)"),
    ({"click_prob": [[0.5, 0.2]] * 4}, "found 4 rows"),
])
def test_simulate_click_matrix(world, tmp_path, capsys, monkeypatch, matrix, found):
    import gbltr.data.simulate.over as over

    def no_read(*a, **k):
        raise AssertionError("the dataset was read before the click matrix was checked")
    monkeypatch.setattr(over, "read_dataset", no_read)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(matrix))
    code, out, err = run_cli(["simulate", "--over", str(world), "--out", str(tmp_path / "w"),
                              "--click-matrix", str(path)], capsys)
    _refused(code, out, err, str(path), found)


def test_simulate_llm_labels(world, tmp_path, capsys):
    bad = tmp_path / "llm.parquet"
    bad.write_bytes(b"\x1f\x8b\x08\x00")
    code, out, err = run_cli(["simulate", "--over", str(world), "--out", str(tmp_path / "w"),
                              "--llm-labels", str(bad)], capsys)
    _refused(code, out, err, str(bad), "found gzip-compressed bytes")


# --- svmlight ids, features.parquet rows ------------------------------------------------------

def _rank_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files = []
    for name in ("rank.train", "rank.test"):
        f = folder / name
        f.write_text("".join(f"{d % 3} 1:{rng.random():.3f} 2:{rng.random():.3f}\n" for q in range(4) for d in range(3)))
        (folder / f"{name}.query").write_text("3\n" * 4)
        files.append(f)
    return files


def test_svmlight_group_files_with_one_stem_get_distinct_ids(tmp_path, capsys):
    """LightGBM's example names: rank.train and rank.test with .query group files. Ids are
    ``<file name>:<n>`` (module docstring of gbltr.data.importers.svmlight)."""
    files = _rank_files(tmp_path / "src")
    code, out, err = run_cli(["import", "svmlight", *map(str, files), "--out", str(tmp_path / "ds")], capsys)
    assert code == 0, err
    queries = pl.read_parquet(tmp_path / "ds" / "queries.parquet").sort("query_id")
    assert queries["query_id"].to_list() == [f"rank.test:{i}" for i in range(1, 5)] + [f"rank.train:{i}" for i in range(1, 5)]
    assert dict(zip(queries["query_id"], queries["split"]))["rank.test:1"] == "test"
    docs = pl.read_parquet(tmp_path / "ds" / "documents.parquet")["doc_id"]
    assert docs.n_unique() == 24 and "rank.train:1" in docs.to_list() and "rank.test:1" in docs.to_list()


def test_lightgbm_example_rank_train_and_test(shared_data, tmp_path, capsys):
    """The issue's case on the real files: LightGBM's examples/lambdarank rank.train, rank.test."""
    letor = shared_data("letor")
    code, out, err = run_cli(["import", "svmlight", str(letor / "rank.train"), str(letor / "rank.test"),
                              "--out", str(tmp_path / "ds")], capsys)
    assert code == 0, err
    queries = pl.read_parquet(tmp_path / "ds" / "queries.parquet")
    n_train, n_test = (len((letor / f"{n}.query").read_text().split()) for n in ("rank.train", "rank.test"))
    assert queries.group_by("split").len().sort("split").rows() == [("test", n_test), ("train", n_train)]
    assert {"rank.train:1", "rank.test:1"} <= set(queries["query_id"])


def test_svmlight_same_file_name_in_two_folders(tmp_path, capsys):
    a = _rank_files(tmp_path / "src" / "fold1")
    b = _rank_files(tmp_path / "src" / "fold2")
    code, out, err = run_cli(["import", "svmlight", str(a[0]), str(b[0]), "--out", str(tmp_path / "ds")], capsys)
    assert code == 0, err
    qids = set(pl.read_parquet(tmp_path / "ds" / "queries.parquet")["query_id"])
    assert {"fold1/rank.train:1", "fold2/rank.train:4"} <= qids and len(qids) == 8


def test_features_missing_rows_named_not_an_overflow(tmp_path, capsys):
    files = _rank_files(tmp_path / "src")
    ds = tmp_path / "ds"
    assert run_cli(["import", "svmlight", *map(str, files), "--out", str(ds)], capsys)[0] == 0
    one = (pl.col("query_id") == "rank.train:2") & (pl.col("doc_id") == "rank.train:5")
    edit_table(ds, "features", lambda f: f.filter(~one))
    code, out, err = run_cli(["fit", "--data", str(ds), "--labels", "human", "--split", "random",
                              "--config", str(fast_config(tmp_path))], capsys)
    _refused(code, out, err, "features.parquet has no row for 1 of 24 candidate(s) (1 query(ies))",
             "('rank.train:2', 'rank.train:5')")
    assert "overflow" not in err


def test_feature_cells_that_are_null_are_named_missing_not_overflow(tmp_path, capsys):
    files = _rank_files(tmp_path / "src")
    ds = tmp_path / "ds"
    assert run_cli(["import", "svmlight", *map(str, files), "--out", str(ds)], capsys)[0] == 0
    edit_table(ds, "features", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("f1")).alias("f1")))
    code, out, err = run_cli(["fit", "--data", str(ds), "--labels", "human", "--split", "random",
                              "--config", str(fast_config(tmp_path))], capsys)
    _refused(code, out, err, "found missing values (null or NaN) in {'f1': 1}")
    assert "overflow" not in err


# --- import sources -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, name, content, found", [
    ("svmlight", "train.txt", _gzip(b"1 qid:1 1:0.5\n"), "found gzip-compressed bytes"),
    ("svmlight", "train.txt", b"1 qid:1 1:0.5 #docid = d\xe9\n", "bytes that are not UTF-8 at offset 24 (line 1)"),
    ("qrels", "q.txt", b"q1 0 d\xff 1\n", "bytes that are not UTF-8 at offset 6 (line 1)"),
    ("qrels", "q.txt", lzma.compress(b"q1 0 d1 1\n"), "found xz-compressed bytes"),
    ("corpus", "docs.tsv", b"d1\tcaf\xe9\n", "bytes that are not UTF-8"),
    ("impressions", "log.csv", _gzip(b"session_id,query_id\n"), "found gzip-compressed bytes"),
    ("impressions", "log.parquet", b"session_id,query_id\n", "found text (no Parquet header 'PAR1')"),
])
def test_import_sources(tmp_path, capsys, fmt, name, content, found):
    src = tmp_path / name
    src.write_bytes(content)
    code, out, err = run_cli(["import", fmt, str(src), "--out", str(tmp_path / "ds")], capsys)
    _refused(code, out, err, str(src), found)
    assert not (tmp_path / "ds").exists()


def test_a_dataset_without_document_text_cannot_be_annotated_or_planned(world_copy, capsys):
    """An imported log carries ids only: an LLM would judge empty documents and exit 0. Refused
    where annotation pairs are built (annotate and plan share it), before any call."""
    edit_table(world_copy, "documents", lambda d: d.with_columns(pl.lit("").alias("title"), pl.lit(None, pl.String).alias("body")))
    for args in (["annotate", "--data", str(world_copy), "--model", "m", "--dry-run"],
                 ["plan", "--data", str(world_copy), "--budget", "10", "--out", str(world_copy.parent / "p.parquet")]):
        code, out, err = run_cli(args, capsys)
        assert code == 2 and "no candidate document has a title or body" in err and "Traceback" not in err, err
        assert not (world_copy.parent / "p.parquet").exists()
