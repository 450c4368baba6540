"""``gbltr import`` on small slices of the real data in ../shared/data (skipped when absent),
and the bad inputs of issue 9, each with its error."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from gbltr.data.importers import import_dataset
from gbltr.data.store import read_dataset
from gbltr.errors import DataError, SchemaError
from realdata_slices import gbltr, head, letor_slice, qbqtc_slice


def trec_slice(root, tmp):
    out = tmp / "trec"
    out.mkdir()
    for f in ("query_qid.dict", "url_uid.dict"):
        shutil.copy(root / f, out / f)
    for f in ("train_per_query_quid.txt", "valid_per_query_quid.txt", "test_per_query_quid.txt"):
        head(root / f, out / f, 40)
    head(root / "human_label_for_GraphCM_per_query_quid.txt", out / "human_label_for_GraphCM_per_query_quid.txt", 60)
    return out


def test_import_trec_session_keeps_displayed_positions_and_adds_judged_docs(shared_data, tmp_path, capsys):
    src = trec_slice(shared_data("trec-session-2014"), tmp_path)
    code, out, err = gbltr("import", "ncm", src, "--out", tmp_path / "ds", capsys=capsys)
    assert code == 0, err
    ds = read_dataset(tmp_path / "ds")
    log = ds.impressions
    assert log.height == 120 * 10  # 3 x 40 SERPs of 10 results
    cand = ds.candidates
    shown = log.group_by("query_id", "doc_id").agg(pl.col("position").min().alias("best"))
    j = shown.join(cand, on=["query_id", "doc_id"])
    assert j.height == shown.height and (j["best"] == j["displayed_position"]).all()
    judged = ds.labels["human"].select("query_id", "doc_id")
    assert judged.join(cand, on=["query_id", "doc_id"], how="anti").height == 0
    # candidates = displayed ∪ judged, nothing else
    union = pl.concat([shown.select("query_id", "doc_id"), judged]).unique()
    assert cand.height == union.height
    assert set(ds.missing) >= {"text", "url", "features"}
    assert ds.documents["title"].null_count() == ds.documents.height  # no made-up text
    assert "no text" in err


def test_trec_session_cannot_rank_and_says_why(shared_data, tmp_path, capsys):
    src = trec_slice(shared_data("trec-session-2014"), tmp_path)
    import_dataset([("ncm", [src])], tmp_path / "ds")
    code, _, err = gbltr("fit", "--labels", "human", "--data", tmp_path / "ds", "--split", "random", "--rounds", "5",
                         "--out", tmp_path / "run", capsys=capsys)
    assert code == 2
    assert "cannot rank" in err and "no document text, so no text features" in err


def sogou_slice(root, tmp, encoding="utf-8"):
    out = tmp / f"sogou-{encoding}"
    out.mkdir()
    head(root / "train_data", out / "train_data", 150)
    head(root / "test_data", out / "test_data", 50)
    for f in ("query_id.tsv", "url_id"):
        (out / f).write_text((root / f).read_text(encoding="utf-8"), encoding=encoding)
    head(root / "relevance_label.tsv", out / "relevance_label.tsv", 200, encoding=encoding)
    return out


def test_import_sogou_utf8_and_gb18030_give_the_same_dataset(shared_data, tmp_path):
    root = shared_data("sogou-pscm")
    _, a = import_dataset([("sogou-pscm", [sogou_slice(root, tmp_path)])], tmp_path / "a")
    _, b = import_dataset([("sogou-pscm", [sogou_slice(root, tmp_path, "gb18030")])], tmp_path / "b")
    assert a.queries.sort("query_id").equals(b.queries.sort("query_id"))
    assert a.labels["human"].sort("query_id", "doc_id").equals(b.labels["human"].sort("query_id", "doc_id"))
    assert a.impressions.height == 200 * 10
    lab = a.labels["human"]
    # relevance_label.tsv queries are matched by text or get new ids; its URLs keep their URL
    assert lab.height > 0 and a.documents.filter(pl.col("url").is_not_null()).height > 0
    assert "text" in a.missing and "url" not in a.missing


def test_import_letor_features_labels_splits_and_file_order(shared_data, tmp_path):
    src = letor_slice(shared_data("letor"), tmp_path)
    _, ds = import_dataset([("svmlight", [src])], tmp_path / "ds")
    assert ds.feature_columns == tuple(f"f{i}" for i in range(1, 47))
    assert set(ds.queries["split"].unique()) == {"valid", "test"}
    first = (src / "mq2008_fold1_vali.txt").read_text().split("\n")[0]
    qid = first.split()[1].split(":")[1]
    doc = first.split("#docid = ")[1].split()[0]
    row = ds.candidates.filter((pl.col("query_id") == qid) & (pl.col("rank") == 1))
    assert row["doc_id"].to_list() == [doc]  # file order inside a query is the candidate order
    assert ds.features.filter(pl.col("doc_id") == doc)["f1"][0] == pytest.approx(float(first.split()[2].split(":")[1]))
    assert {"text", "impressions"} <= set(ds.missing)


@pytest.mark.slow
def test_letor_human_labels_train_and_beat_random(shared_data, tmp_path, capsys):
    """Replaces fit_feature_sets: the feature file through the one pipeline path."""
    import numpy as np

    src = letor_slice(shared_data("letor"), tmp_path, 1200)
    import_dataset([("svmlight", [src])], tmp_path / "ds")
    code, out, err = gbltr("fit", "--labels", "human", "--data", tmp_path / "ds", "--split", "random",
                           "--catalogue", "letor4", "--rounds", "30", "--out", tmp_path / "run", capsys=capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    ours = report["metrics"]["overall"]["ndcg@10"]
    per_query = pl.read_parquet(tmp_path / "run" / "per_query.parquet")
    # random scores on the same test queries, through the same metric
    from gbltr.evaluate.metrics import ndcg_per_query
    from gbltr.pipeline import prepare
    from gbltr.config import load_config

    prep = prepare(load_config(tmp_path / "run" / "config.json"))
    rnd = np.nanmean(ndcg_per_query(np.random.default_rng(1).random(prep.test.n_rows), prep.test.labels["human"],
                                    prep.test.group_ptr, ks=(10,)))
    assert per_query.height == prep.test.n_queries
    assert ours > rnd + 0.05
    # the run folder records the manifest, the catalogue and the label sets it trained on
    run = tmp_path / "run"
    assert "text" in json.loads((run / "dataset.json").read_text())["missing"]
    assert "f46" in (run / "catalogue.toml").read_text()
    lab = pl.read_parquet(run / "train_labels.parquet")
    assert set(lab["source"]) == {"human"}
    train_q = set(prep.train.query_ids)
    assert set(lab["query_id"].unique()) <= train_q  # human labels of training queries only
    assert {"high", "medium", "low"} <= set(report["n_queries"])  # every bucket listed, zero included


def test_import_noveleval_corpus_with_qrels(shared_data, tmp_path, capsys):
    root = shared_data("noveleval")
    code, _, err = gbltr("import", "corpus", root, "--out", tmp_path / "x", capsys=capsys)
    assert code == 2 and "mixed formats" in err and "qrels.txt" in err
    _, ds = import_dataset([("corpus", [root / "corpus.tsv", root / "queries.tsv"]),
                            ("qrels", [root / "qrels.txt"])], tmp_path / "ds")
    assert ds.queries.height == 21 and ds.candidates.height == ds.labels["human"].height == 420
    assert ds.documents["body"].null_count() == 0
    assert "text" not in ds.missing and "impressions" in ds.missing


def test_import_qbqtc_splits_from_file_names(shared_data, tmp_path):
    src = qbqtc_slice(shared_data("qbqtc"), tmp_path)
    _, ds = import_dataset([("corpus", [src])], tmp_path / "ds")
    assert set(ds.queries["split"].unique()) == {"train", "valid", "test"}
    assert ds.documents["title"].null_count() == 0
    assert ds.labels["human"]["label"].is_in([0.0, 1.0, 2.0]).all()


# ------------------------------------------------------------------ bad input (tiny hand-made files)


def write(path, text):
    path.write_text(text)
    return path


def tiny_svmlight(tmp):
    return write(tmp / "train.txt", "2 qid:1 1:0.5 2:1 #docid = a\n0 qid:1 1:0.1 2:0 #docid = b\n"
                                    "1 qid:2 1:0.3 2:1 #docid = c\n0 qid:2 1:0.2 2:0 #docid = d\n")


def test_feature_file_and_log_that_share_no_pair(tmp_path):
    log = write(tmp_path / "log.csv", "sid,qid,url,pos,click\ns1,9,z,1,1\ns1,9,y,2,0\n")
    with pytest.raises(DataError, match="share no \\(query_id, doc_id\\) pair"):
        import_dataset([("svmlight", [tiny_svmlight(tmp_path)]),
                        ("impressions", [log])], tmp_path / "ds",
                       {"map": ["session=sid,query=qid,doc=url,position=pos,clicked=click"]})


def test_feature_file_joined_with_a_log(tmp_path):
    log = write(tmp_path / "log.csv", "sid,qid,url,pos,click\ns1,1,b,1,1\ns1,1,a,2,0\ns2,2,x,1,0\n")
    _, ds = import_dataset([("svmlight", [tiny_svmlight(tmp_path)]), ("impressions", [log])], tmp_path / "ds",
                           {"map": ["session=sid,query=qid,doc=url,position=pos,clicked=click"]})
    c = ds.candidates.filter(pl.col("query_id") == "1").sort("rank")
    assert c["doc_id"].to_list() == ["b", "a"]  # displayed order first
    assert ds.candidates.filter(pl.col("doc_id") == "x").height == 1  # shown, no features: still a candidate


def test_impressions_map_names_missing_columns(tmp_path):
    log = write(tmp_path / "log.csv", "sid,qid,url,pos,click\ns1,1,b,1,1\n")
    with pytest.raises(DataError, match="missing session \\(column 'session'\\)"):
        import_dataset([("impressions", [log])], tmp_path / "ds", {"map": ["query=qid"]})


def test_catalogue_bad_columns_and_column_in_two_groups(tmp_path):
    from gbltr.features.catalogue import load_user_catalogue

    base = ('version = 1\n[groups.document]\ndescription = "d"\nsubgroups = ["s1"]\n'
            '[groups.query_document]\ndescription = "qd"\nsubgroups = ["s2"]\n')
    two = write(tmp_path / "two.toml", base + '[[feature]]\nname = "f1"\ngroup = "document"\nsubgroup = "s1"\n'
                'description = "x"\n[[feature]]\nname = "f1"\ngroup = "query_document"\nsubgroup = "s2"\ndescription = "y"\n')
    with pytest.raises(SchemaError, match="'f1' is in two groups, document/s1 and query_document/s2"):
        load_user_catalogue(two, ["f1"])
    absent = write(tmp_path / "absent.toml", base + '[[feature]]\nname = "f9"\ngroup = "document"\nsubgroup = "s1"\n'
                   'description = "x"\n')
    with pytest.raises(SchemaError, match="names column\\(s\\) \\['f9'\\] absent"):
        load_user_catalogue(absent, ["f1", "f2"])


def test_qrels_on_queries_that_no_source_has(tmp_path):
    corpus = write(tmp_path / "corpus.tsv", "d1\tsome text\nd2\tother text\n")
    queries = write(tmp_path / "queries.tsv", "q1\ta query\n")
    qrels = write(tmp_path / "qrels.txt", "q1 0 d1 1\nq7 0 d2 1\n")
    with pytest.raises(DataError, match="labels on 1 quer\\(ies\\) that no other source has.*'q7'"):
        import_dataset([("corpus", [corpus, queries]), ("qrels", [qrels])], tmp_path / "ds")


def test_duplicate_ids_after_import(tmp_path):
    a = write(tmp_path / "a.tsv", "d1\tone text\n")
    b = write(tmp_path / "b.tsv", "d1\tanother text\n")
    with pytest.raises(SchemaError, match="different 'body' values in two sources.*'d1'"):
        import_dataset([("corpus", [a]), ("corpus", [b])], tmp_path / "ds")
    dup = write(tmp_path / "dup.txt", "1 qid:1 1:0.5 #docid = a\n0 qid:1 1:0.1 #docid = a\n")
    with pytest.raises(DataError, match="duplicate ids"):
        import_dataset([("svmlight", [dup])], tmp_path / "ds2")


def test_mixed_formats_in_one_folder(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    tiny_svmlight(folder)
    write(folder / "docs.jsonl", '{"doc_id": "a", "title": "t"}\n')
    with pytest.raises(DataError, match="mixed formats.*docs.jsonl \\(jsonl\\)"):
        import_dataset([("svmlight", [folder])], tmp_path / "ds")


def test_llm_labels_missing_says_how_to_make_them(tmp_path, capsys):
    lines = [f"{(q + d) % 3} qid:{q} 1:{d / 10} 2:{q % 2} #docid = q{q}d{d}" for q in range(20) for d in range(4)]
    import_dataset([("svmlight", [write(tmp_path / "many.txt", "\n".join(lines) + "\n")])], tmp_path / "ds")
    code, _, err = gbltr("fit", "--labels", "llm", "--data", tmp_path / "ds", "--split", "random", "--out",
                         tmp_path / "run", capsys=capsys)
    assert code == 2 and "gbltr annotate" in err and "simulate --over" in err
