"""`gbltr annotate` end to end against the scripted server: outputs, qrels, agreement, dry run, batch."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from gbltr.cli import main
from gbltr.errors import DataError
from gbltr.labels.llm import load_llm_labels


@pytest.fixture
def pairs_file(tmp_path):
    recs = [{"query_id": f"q{q}", "query": f"query {q}", "doc_id": f"d{q}{d}", "text": f"doc {d} for {q}"} for q in range(3) for d in range(4)]
    p = tmp_path / "pairs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def _run(args):
    try:
        main(["annotate", *args])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def test_cli_writes_labels_qrels_record_and_agreement(fake_server, pairs_file, tmp_path):
    qrels = tmp_path / "human.txt"
    qrels.write_text("".join(f"q{q} 0 d{q}{d} {d % 3}\n" for q in range(3) for d in range(4)))
    out = tmp_path / "llm.parquet"
    _run(["--strategy", "list", "--pairs", str(pairs_file), "--model", "fake", "--base-url", fake_server.base_url,
          "--out", str(out), "--qrels-out", str(tmp_path / "llm.qrels"), "--compare-to", str(qrels),
          "--limit-queries", "2", "--no-progress"])
    lab = pl.read_parquet(out)
    assert lab.height == 8 and set(lab["query_id"]) == {"q0", "q1"}
    for col in ("model", "strategy", "prompt_version", "permutation_seed", "parse_status", "expected_relevance", "confidence"):
        assert col in lab.columns
    assert (tmp_path / "llm.qrels").read_text().splitlines()[0] == "q0 0 d00 1"
    record = json.loads((tmp_path / "llm.parquet.run.json").read_text())
    assert record["counts"]["done"] == 8 and "SECRET" not in json.dumps(record)
    ag = record["agreement"]
    assert ag["n_pairs"] == 8 and ag["kappa"] is not None
    assert (tmp_path / "llm.parquet.agreement" / "label_hist.png").stat().st_size > 1000
    assert (tmp_path / "llm.parquet.agreement" / "confusion.csv").exists()


def test_cli_dry_run_sends_nothing_and_estimates_cost(fake_server, pairs_file, tmp_path, capsys):
    prices = tmp_path / "prices.toml"
    prices.write_text('batch_discount = 0.5\n[models.fake]\ninput = 1.0\noutput = 2.0\n')
    _run(["--strategy", "listrank", "--pairs", str(pairs_file), "--model", "fake", "--base-url", fake_server.base_url,
          "--window", "3", "--stride", "1", "--prices", str(prices), "--dry-run", "--no-progress"])
    assert fake_server.requests == []
    text = capsys.readouterr().out
    assert "dry run: 6 calls" in text  # 4 docs, window 3, stride 1 -> 2 windows x 3 queries
    record = json.loads(text.strip().splitlines()[-1])
    assert record["dry_run"]["cost_usd"] > 0


def test_cli_errors_are_one_line(fake_server, pairs_file, tmp_path):
    r = subprocess.run([sys.executable, "-c", "from gbltr.cli import main; main()", "annotate", "--strategy", "listrank",
                        "--pairs", str(pairs_file), "--model", "m", "--base-url", fake_server.base_url, "--out", str(tmp_path / "x.parquet"),
                        "--window", "4", "--stride", "9"], capture_output=True, text=True)
    assert r.returncode == 2 and "stride" in r.stderr and "Traceback" not in r.stderr


def test_batch_api_round_trip_feeds_the_cache(fake_server, pairs_file, tmp_path):
    out = tmp_path / "b.parquet"
    common = ["--pairs", str(pairs_file), "--model", "fake", "--base-url", fake_server.base_url, "--out", str(out),
              "--cache", str(tmp_path / "c.sqlite"), "--no-progress"]
    _run(["--strategy", "listrank", "--window", "3", "--stride", "1", "--batch", "--poll-s", "0.01", *common])
    paths = [r.path for r in fake_server.requests]
    assert "/v1/files" in paths and "/v1/batches" in paths
    # ListRank windows depend on earlier answers: two rounds (bottom windows, then top windows)
    record = json.loads((tmp_path / "b.parquet.run.json").read_text())
    assert record["batch_rounds"] == 2
    lab = pl.read_parquet(out)
    assert lab["label"].null_count() == 0
    jsonl = (tmp_path / "b.parquet.batch" / "round00.jsonl").read_text().splitlines()
    assert len(jsonl) == 3 and json.loads(jsonl[0])["url"] == "/v1/chat/completions" and "SECRET" not in "".join(jsonl)
    # the answers are in the shared cache: a direct (non-batch) rerun asks nothing
    n = len(fake_server.chat_requests)
    _run(["--strategy", "listrank", "--window", "3", "--stride", "1", *common])
    assert len(fake_server.chat_requests) == n


def test_load_llm_labels_drops_missing(tmp_path):
    df = pl.DataFrame({"query_id": ["1", "1", "2"], "doc_id": ["a", "b", "c"], "label": [2.0, None, 0.0], "source": ["llm"] * 3, "parse_status": ["ok", "failed", "ok"]})
    df.write_parquet(tmp_path / "l.parquet")
    lab, dropped = load_llm_labels(tmp_path / "l.parquet", return_dropped=True)
    assert dropped == 1 and lab["doc_id"].to_list() == ["a", "c"]
    df.with_columns(pl.lit("human").alias("source")).write_parquet(tmp_path / "h.parquet")
    with pytest.raises(DataError, match="only 'llm'"):
        load_llm_labels(tmp_path / "h.parquet")


def test_load_llm_labels_reads_qrels_as_an_llm_label_set(tmp_path):
    """One reader for ``fit --llm-labels`` and ``simulate --over --llm-labels`` (it lived in the
    pipeline, which the simulator then imported): a file that is not Parquet is TREC qrels."""
    (tmp_path / "llm.qrels").write_text("1 0 a 2\n1 0 b 0\n2 0 c 1\n")
    lab, dropped = load_llm_labels(tmp_path / "llm.qrels", return_dropped=True)
    assert dropped == 0 and lab["source"].unique().to_list() == ["llm"]
    assert lab.select("query_id", "doc_id", "label").rows() == [("1", "a", 2.0), ("1", "b", 0.0), ("2", "c", 1.0)]
    assert load_llm_labels(tmp_path / "llm.qrels").equals(lab)
