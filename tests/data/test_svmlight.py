"""SVMlight / LETOR reader and writer: hand-checkable strings, every error, and the real files."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gbltr.data.svmlight import SvmlightData, read_group_file, read_svmlight, write_svmlight
from gbltr.errors import InputError, ParseError, SchemaError

QID_DOCID = """\
2 qid:10 1:0.5 2:1 3:-0.25 #docid = GX-A inc = 1 prob = 0.02
0 qid:10 1:0 2:0.125 3:4 #docid = GX-B
1 qid:7 1:1e-3 2:2 3:0 #docid = GX-C
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_qid_and_docid_form_is_parsed_by_hand(tmp_path):
    d = read_svmlight(write(tmp_path, "a.txt", QID_DOCID))
    assert isinstance(d, SvmlightData)
    assert d.feature_names == ("f1", "f2", "f3")
    assert d.frame.schema == pl.Schema(
        {"query_id": pl.String, "doc_id": pl.String, "label": pl.Float64,
         "f1": pl.Float64, "f2": pl.Float64, "f3": pl.Float64}
    )
    assert d.frame["query_id"].to_list() == ["10", "10", "7"]
    assert d.frame["doc_id"].to_list() == ["GX-A", "GX-B", "GX-C"]
    assert d.frame["label"].to_list() == [2.0, 0.0, 1.0]
    np.testing.assert_array_equal(d.features(), [[0.5, 1, -0.25], [0, 0.125, 4], [0.001, 2, 0]])
    assert d.group_sizes().tolist() == [2, 1]


def test_sparse_lines_fill_zero_and_docid_falls_back_to_line_number(tmp_path):
    # line 2 is blank and line 3 a comment: they are skipped but still counted.
    text = "1 qid:1 3:0.5\n\n  # a comment line\n0 qid:1 1:2 5:7\n3 qid:2\n"
    d = read_svmlight(write(tmp_path, "s.txt", text))
    assert d.feature_names == ("f1", "f2", "f3", "f4", "f5")
    assert d.frame["doc_id"].to_list() == ["1", "4", "5"]
    np.testing.assert_array_equal(d.features(), [[0, 0, 0.5, 0, 0], [2, 0, 0, 0, 7], [0, 0, 0, 0, 0]])
    wide = read_svmlight(tmp_path / "s.txt", n_features=7)
    assert wide.feature_names[-1] == "f7" and wide.frame["f7"].to_list() == [0.0, 0.0, 0.0]


def test_group_file_form_found_next_to_the_data_and_given_explicitly(tmp_path):
    data = write(tmp_path, "rank.train", "0 1:1 2:2\n1 2:3\n2 1:4\n0 1:5\n1 2:6\n")
    write(tmp_path, "rank.train.query", "2\n3\n")
    d = read_svmlight(data)
    assert d.frame["query_id"].to_list() == ["1", "1", "2", "2", "2"]
    assert d.frame["doc_id"].to_list() == ["1", "2", "3", "4", "5"]
    assert d.group_sizes().tolist() == [2, 3]
    other = write(tmp_path, "groups.txt", "1\n4\n")
    e = read_svmlight(data, group_file=other)
    assert e.group_sizes().tolist() == [1, 4]
    assert e.frame.drop("query_id").equals(d.frame.drop("query_id"))


@pytest.mark.parametrize("sparse", [False, True])
def test_write_then_read_round_trips(tmp_path, sparse):
    d = read_svmlight(write(tmp_path, "a.txt", QID_DOCID + "3 qid:8 2:0.1 #docid = GX-D\n"))
    out = write_svmlight(d.frame, d.feature_names, tmp_path / "out.txt", sparse=sparse)
    back = read_svmlight(out, n_features=len(d.feature_names))
    assert back.frame.equals(d.frame)
    assert back.feature_names == d.feature_names
    first = out.read_text().splitlines()[0]
    assert first == ("2 qid:10 1:0.5 2:1 3:-0.25 #docid = GX-A")


def test_write_without_doc_ids_and_a_frame_with_extra_columns(tmp_path):
    frame = pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "label": [1.0, 0.0],
                          "x": [0.1, 0.2], "y": [3.0, 0.0], "ignored": ["u", "v"]})
    out = write_svmlight(frame, ["x", "y"], tmp_path / "o.txt", doc_ids=False)
    assert out.read_text() == "1 qid:q1 1:0.1 2:3\n0 qid:q1 1:0.2 2:0\n"


# ----------------------------------------------------------------------------- errors


def raises(tmp_path, text, *parts, name="bad.txt", **kw):
    p = write(tmp_path, name, text)
    with pytest.raises(ParseError) as info:
        read_svmlight(p, **kw)
    msg = str(info.value)
    for part in parts:
        assert part in msg, msg
    return msg


def test_bad_feature_token_names_file_line_and_token(tmp_path):
    msg = raises(tmp_path, "1 qid:1 1:0.5\n0 qid:1 1:0.1 2:abc\n", "bad.txt", "line 2", "'2:abc'", "<index>:<value>")
    assert str(tmp_path) in msg
    raises(tmp_path, "1 qid:1 1:0.5 oops\n", "line 1", "'oops'")
    raises(tmp_path, "1 qid:1 0:0.5\n", "line 1", "1-based")
    raises(tmp_path, "1 qid:1 -3:0.5\n", "line 1", "'-3:0.5'")
    raises(tmp_path, "1 qid:1 1:0.5 qid:2\n", "line 1", "'qid:2'")


def test_label_that_is_not_a_number(tmp_path):
    raises(tmp_path, "1 qid:1 1:1\nhigh qid:1 1:2\n", "line 2", "numeric label", "'high'")
    raises(tmp_path, "nan qid:1 1:1\n", "line 1", "finite numeric label", "'nan'")
    raises(tmp_path, "1 qid:1 1:1\nqid:1 1:2\n", "line 2", "'qid:1'")


def test_group_sizes_that_do_not_sum_to_the_line_count(tmp_path):
    write(tmp_path, "bad.txt.query", "2\n2\n")
    raises(tmp_path, "0 1:1\n1 1:2\n2 1:3\n", "sum to 4", "has 3 data lines")


def test_group_file_with_a_bad_line(tmp_path):
    g = write(tmp_path, "g.query", "2\nx\n")
    with pytest.raises(ParseError, match=r"g.query, line 2: .*positive integer.*'x'"):
        read_group_file(g)
    write(tmp_path, "z.query", "0\n")
    with pytest.raises(ParseError, match="line 1"):
        read_group_file(tmp_path / "z.query")


def test_qid_together_with_a_group_file(tmp_path):
    g = write(tmp_path, "groups", "1\n")
    raises(tmp_path, "1 qid:1 1:1\n", "qid:", "group file", "one or the other", group_file=g)
    write(tmp_path, "bad.txt.query", "1\n")
    raises(tmp_path, "1 qid:1 1:1\n", "group file", str(tmp_path / "bad.txt.query"))


def test_qid_on_some_lines_only_and_on_none_without_group_file(tmp_path):
    raises(tmp_path, "1 qid:1 1:1\n0 1:2\n", "on 1 of 2 lines", "line 1 has it, line 2 does not")
    raises(tmp_path, "1 1:1\n0 1:2\n", "found neither", "group_file=", name="nogroups.txt")


def test_query_in_two_non_contiguous_blocks(tmp_path):
    raises(tmp_path, "1 qid:1 1:1\n0 qid:2 1:1\n\n2 qid:1 1:1\n", "query '1'", "lines 1 and 4", "sort")


def test_repeated_index_and_index_above_n_features(tmp_path):
    raises(tmp_path, "1 qid:1 1:1 2:2 1:3\n", "line 1", "index 1 more than once")
    raises(tmp_path, "1 qid:1 1:1 4:2\n", "line 1", "n_features=3", "'4:2'", n_features=3)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.txt': expected SVMlight lines .*found no such file"):
        read_svmlight(tmp_path / "nope.txt")


def test_writer_refuses_what_the_format_cannot_carry(tmp_path):
    base = {"query_id": ["1", "2", "1"], "doc_id": ["a", "b", "c"], "label": [1.0, 0.0, 1.0], "f1": [1.0, 2.0, 3.0]}
    with pytest.raises(SchemaError, match="non-contiguous blocks starting at lines 1 and 3"):
        write_svmlight(pl.DataFrame(base), ["f1"], tmp_path / "o.txt")
    spaced = pl.DataFrame({**base, "query_id": ["1", "1", "1"], "doc_id": ["a b", "b", "c"]})
    with pytest.raises(SchemaError, match="'a b'"):
        write_svmlight(spaced, ["f1"], tmp_path / "o.txt")
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['f2'\]"):
        write_svmlight(pl.DataFrame(base), ["f2"], tmp_path / "o.txt")
    nulls = pl.DataFrame({**base, "query_id": ["1", "1", "1"], "f1": [1.0, None, 3.0]})
    with pytest.raises(SchemaError, match="null"):
        write_svmlight(nulls, ["f1"], tmp_path / "o.txt")


# ----------------------------------------------------------------------------- real files


def count_plain(path):
    """Lines and distinct qids, counted with plain Python (independent of the reader)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    qids = {ln.split()[1] for ln in lines}
    max_index = max(int(tok.split(":")[0]) for ln in lines for tok in ln.split("#")[0].split()[2:])
    return lines, qids, max_index


@pytest.mark.parametrize("name", ["mq2008_fold1_test.txt", "mq2008_fold1_vali.txt"])
def test_mq2008_fold1_parses_with_46_features(shared_data, name):
    path = shared_data("letor") / name
    lines, qids, max_index = count_plain(path)
    d = read_svmlight(path)
    assert max_index == 46 and len(d.feature_names) == 46
    assert d.frame.height == len(lines)
    assert d.frame["query_id"].n_unique() == len(qids) == len(d.group_sizes())
    assert int(d.group_sizes().sum()) == len(lines)
    # the first line, parsed by hand
    toks = lines[0].split("#")[0].split()
    row = d.frame.row(0, named=True)
    assert row["label"] == float(toks[0]) and row["query_id"] == toks[1][4:]
    assert row["doc_id"] == lines[0].split("#docid = ")[1].split()[0]
    assert [row[f"f{i}"] for i in range(1, 47)] == [float(t.split(":")[1]) for t in toks[2:]]
    assert set(d.frame["label"].unique().to_list()) <= {0.0, 1.0, 2.0}
    # LETOR doc ids are unique within a query
    assert not d.frame.select("query_id", "doc_id").is_duplicated().any()


def test_mq2008_write_read_round_trip_is_exact(shared_data, tmp_path):
    d = read_svmlight(shared_data("letor") / "mq2008_fold1_vali.txt")
    back = read_svmlight(write_svmlight(d.frame, d.feature_names, tmp_path / "v.txt"), n_features=46)
    assert back.frame.equals(d.frame)


@pytest.mark.parametrize("name", ["rank.train", "rank.test"])
def test_lightgbm_example_with_group_file(shared_data, name):
    path = shared_data("letor") / name
    sizes = [int(x) for x in (path.parent / f"{name}.query").read_text().split()]
    n_lines = sum(1 for ln in path.read_text().splitlines() if ln.strip())
    d = read_svmlight(path)
    assert d.group_sizes().tolist() == sizes
    assert d.frame.height == n_lines == sum(sizes)
    assert d.frame["query_id"].n_unique() == len(sizes)
    first = path.read_text().splitlines()[0].split()
    row = d.frame.row(0, named=True)
    assert row["label"] == float(first[0])
    for tok in first[1:]:
        i, v = tok.split(":")
        assert row[f"f{i}"] == float(v)
