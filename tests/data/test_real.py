"""Readers of the TREC Session 2014 and Sogou PSCM click logs: tiny fixtures and the real files."""

from __future__ import annotations

import ast
import collections

import polars as pl
import pytest

from gbltr.data.real import ClickLog, read_sogou_pscm, read_trec_session
from gbltr.errors import ConfigError, ParseError
from gbltr.schema import IMPRESSIONS, LABELS, QUERIES, validate


def serp(*fields):
    return "\t".join(str(f) for f in fields) + "\n"


def tiny_trec(tmp_path, train_extra=""):
    (tmp_path / "query_qid.dict").write_text("{'': 0, 'apple pie': 1, 'pear': 2}")
    docs = {"": 0, **{f"clueweb12-{i:02d}": i for i in range(1, 13)}}
    (tmp_path / "url_uid.dict").write_text(repr(docs))
    ten = list(range(1, 11))
    (tmp_path / "train_per_query_quid.txt").write_text(
        serp(5, 1, ten, [1] * 10, [0, 1] + [0] * 8) + serp(5, 2, [11, 12] + ten[2:], [1] * 10, [0] * 10) + train_extra
    )
    (tmp_path / "valid_per_query_quid.txt").write_text(serp(6, 1, ten, [1] * 10, [1] + [0] * 9))
    (tmp_path / "test_per_query_quid.txt").write_text("")
    # doc 1 of query 1 judged twice (2 then 3); doc 2 is spam
    labels = [2, -2] + [0] * 8
    (tmp_path / "human_label_for_GraphCM_per_query_quid.txt").write_text(
        serp(5, 1, ten, [1] * 10, [0] * 10, labels) + serp(6, 1, ten, [1] * 10, [0] * 10, [3] + labels[1:])
    )
    return tmp_path


def test_trec_session_tiny_by_hand(tmp_path):
    log = read_trec_session(tiny_trec(tmp_path))
    assert isinstance(log, ClickLog)
    imp = log.impressions
    assert imp.height == 30
    assert imp["session_id"].unique(maintain_order=True).to_list() == ["train:1", "train:2", "valid:1"]
    assert imp.filter(pl.col("clicked"))["session_id"].to_list() == ["train:1", "valid:1"]
    assert imp.filter(pl.col("clicked"))["position"].to_list() == [2, 1]
    assert imp.filter(pl.col("session_id") == "train:2")["doc_id"].head(2).to_list() == ["clueweb12-11", "clueweb12-12"]
    assert imp["search_session"].unique(maintain_order=True).to_list() == ["5", "6"]
    assert sorted(log.queries.rows()) == [("1", "apple pie"), ("2", "pear")]
    lab = log.labels.sort("doc_id")
    assert lab.height == 10
    first = lab.row(0, named=True)
    assert (first["doc_id"], first["label"], first["label_min"], first["n_judgements"]) == ("clueweb12-01", 3.0, 2.0, 2)
    assert lab.filter(pl.col("doc_id") == "clueweb12-02")["label"].item() == -2.0
    assert set(lab["source"]) == {"human"}


def test_trec_session_errors(tmp_path):
    tiny_trec(tmp_path, train_extra="7\t1\t[1, 2]\n")
    with pytest.raises(ParseError, match=r"train_per_query_quid.txt, line 3: expected 5 tab-separated fields, found 3"):
        read_trec_session(tmp_path)
    tiny_trec(tmp_path, train_extra=serp(7, 1, [1, 2, 3], [1] * 10, [0] * 10))
    with pytest.raises(ParseError, match=r"line 3: expected doc uids as a list of 10 integers"):
        read_trec_session(tmp_path)
    tiny_trec(tmp_path, train_extra=serp(7, 1, list(range(2, 12)), [1] * 10, [0] * 9 + [2]))
    with pytest.raises(ParseError, match=r"line 3: expected clicks 0 or 1"):
        read_trec_session(tmp_path)
    tiny_trec(tmp_path, train_extra=serp(7, 1, list(range(90, 100)), [1] * 10, [0] * 10))
    with pytest.raises(ParseError, match=r"line 3: doc uid 90 is not in url_uid.dict"):
        read_trec_session(tmp_path)
    tiny_trec(tmp_path, train_extra=serp(7, 9, list(range(1, 11)), [1] * 10, [0] * 10))
    with pytest.raises(ParseError, match=r"query uid '9' \(train split\) is not in query_qid.dict"):
        read_trec_session(tmp_path)
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        read_trec_session(tmp_path, splits=("dev",))


def test_dict_files_are_not_evaluated(tmp_path):
    tiny_trec(tmp_path)
    (tmp_path / "query_qid.dict").write_text("__import__('os').getcwd()")
    with pytest.raises(ParseError, match="expected a Python dict literal"):
        read_trec_session(tmp_path)


def trec_raw(root, name):
    return [line.rstrip("\n").split("\t") for line in (root / name).open() if line.strip()]


def test_trec_session_real(shared_data):
    root = shared_data("trec-session-2014")
    log = read_trec_session(root)
    for frame, contract in ((log.impressions, IMPRESSIONS), (log.queries, QUERIES), (log.labels, LABELS)):
        validate(frame, contract)
    serps = {s: trec_raw(root, f"{s}_per_query_quid.txt") for s in ("train", "valid", "test")}
    n_serps = sum(len(v) for v in serps.values())
    assert log.impressions.height == 10 * n_serps
    assert log.impressions["session_id"].n_unique() == n_serps
    n_clicks = sum(ast.literal_eval(r[4]).count(1) for v in serps.values() for r in v)
    assert log.impressions["clicked"].sum() == n_clicks
    sessions = {r[0] for v in serps.values() for r in v}
    assert log.impressions["search_session"].n_unique() == len(sessions)
    qdict = ast.literal_eval((root / "query_qid.dict").read_text())
    assert log.queries.height == len(qdict) - ("" in qdict)
    # labels: one row per judged (query, doc) pair; -2 kept
    judged = collections.defaultdict(list)
    for r in trec_raw(root, "human_label_for_GraphCM_per_query_quid.txt"):
        for d, g in zip(ast.literal_eval(r[2]), ast.literal_eval(r[5])):
            judged[(r[1], d)].append(g)
    assert log.labels.height == len(judged)
    assert log.labels["label"].sum() == sum(max(g) for g in judged.values())
    assert (log.labels["label"] == -2).sum() == sum(max(g) == -2 for g in judged.values()) > 0
    assert (log.labels["label"] != log.labels["label_min"]).sum() == sum(len(set(g)) > 1 for g in judged.values())
    assert log.labels["label"].is_between(-2, 4).all()


def tiny_sogou(tmp_path, extra=""):
    def line(q, urls, clicks, times):
        return "\t".join([q, " ".join(urls), " ".join(clicks), " ".join(times)] + ["0 " * 9 + "0"] * 6) + "\n"

    urls = [str(i) for i in range(10)]
    (tmp_path / "train_data").write_text(
        line("0", urls, ["0", "1"] + ["0"] * 8, ["-1", "1393568686.5"] + ["-1"] * 8) + extra
    )
    (tmp_path / "test_data").write_text(line("1", urls, ["0"] * 10, ["-1"] * 10))
    (tmp_path / "query_id.tsv").write_text('"quoted"+text\t0\t1\t0\nplain\t1\t0\t1\n')
    (tmp_path / "url_id").write_text("".join(f"http://x/{i}\t{i}\n" for i in range(10)))
    return tmp_path


def test_sogou_tiny_by_hand(tmp_path):
    log = read_sogou_pscm(tiny_sogou(tmp_path))
    imp = log.impressions
    assert imp.height == 20
    assert imp.filter(pl.col("clicked")).select("session_id", "position", "doc_id", "click_time").rows() == [
        ("train:1", 2, "1", 1393568686.5)
    ]
    assert imp.filter(~pl.col("clicked"))["click_time"].null_count() == 19
    assert log.queries.rows() == [("0", '"quoted"+text', 1, 0), ("1", "plain", 0, 1)]
    assert log.urls.height == 10 and log.labels is None


def test_sogou_errors(tmp_path):
    tiny_sogou(tmp_path, extra="0\t1 2 3\n")
    with pytest.raises(ParseError, match=r"train_data, line 2: expected 10 tab-separated fields, found 2"):
        read_sogou_pscm(tmp_path)
    short_urls = "\t".join(["0", "1 2 3", "0 " * 9 + "0", "-1 " * 9 + "-1"] + ["0"] * 6)
    tiny_sogou(tmp_path, extra=short_urls + "\n")
    with pytest.raises(ParseError, match=r"line 2: expected 10 space-separated url ids, found 3"):
        read_sogou_pscm(tmp_path)
    bad_click = "\t".join(["0", " ".join("0123456789"), "2 " * 9 + "0", "-1 " * 9 + "-1"] + ["0"] * 6)
    tiny_sogou(tmp_path, extra=bad_click + "\n")
    with pytest.raises(ParseError, match=r"line 2, position 1: expected .* click 0/1.*found click '2'"):
        read_sogou_pscm(tmp_path)
    no_time = "\t".join(["0", " ".join("0123456789"), "1 " * 9 + "0", "-1 " * 9 + "-1"] + ["0"] * 6)
    tiny_sogou(tmp_path, extra=no_time + "\n")
    with pytest.raises(ParseError, match=r"line 2, position 1: expected a timestamp exactly for clicked"):
        read_sogou_pscm(tmp_path)
    tiny_sogou(tmp_path)
    (tmp_path / "query_id.tsv").write_text("text\t0\tmany\t0\n")
    with pytest.raises(ParseError, match=r"query_id.tsv, line 1: expected train_sessions to be an integer, found 'm"):
        read_sogou_pscm(tmp_path)


def test_sogou_real(shared_data):
    root = shared_data("sogou-pscm")
    log = read_sogou_pscm(root)
    validate(log.impressions, IMPRESSIONS)
    validate(log.queries, QUERIES)
    raw = {s: [ln.split("\t") for ln in (root / f"{s}_data").read_text().splitlines()] for s in ("train", "test")}
    assert log.impressions.height == 10 * (len(raw["train"]) + len(raw["test"]))
    assert log.impressions["clicked"].sum() == sum(r[2].split().count("1") for v in raw.values() for r in v)
    assert (log.impressions["click_time"].is_null() == ~log.impressions["clicked"]).all()
    tsv = (root / "query_id.tsv").read_text(encoding="utf-8").splitlines()
    assert log.queries.height == len(tsv)
    # The 3rd/4th query_id.tsv columns are the query's train_data / test_data line counts.
    per_query = {s: collections.Counter(r[0] for r in raw[s]) for s in raw}
    q = log.queries
    assert q["train_sessions"].to_list() == [per_query["train"][k] for k in q["query_id"]]
    assert q["test_sessions"].to_list() == [per_query["test"][k] for k in q["query_id"]]
    assert log.urls.height == len((root / "url_id").read_text().splitlines())
    assert set(log.impressions["doc_id"]) <= set(log.urls["doc_id"])
