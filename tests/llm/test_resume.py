"""Kill -9 the annotator mid-run, rerun: nothing answered is asked again, no label is lost
(in one process, and with worker processes sending the requests while the parent owns the cache)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import polars as pl
import pytest

N_QUERIES, N_DOCS, ANSWER_FIRST = 8, 4, 10


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-c", "from gbltr.cli import main; main()", "annotate", *args]


def _rows_in_cache(path) -> int:
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "2-workers"])
def test_sigkill_then_resume_repeats_nothing_loses_nothing(fake_server, tmp_path, workers):
    recs = [{"query_id": f"q{q}", "query": f"query number {q}", "doc_id": f"d{q}-{d}", "text": f"document {d} of query {q}"} for q in range(N_QUERIES) for d in range(N_DOCS)]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out, cache = tmp_path / "labels.parquet", tmp_path / "cache.sqlite"
    args = ["--strategy", "point", "--pairs", str(pairs), "--model", "fake", "--base-url", fake_server.base_url,
            "--out", str(out), "--cache", str(cache), "--concurrency", "3", "--workers", str(workers), "--no-progress"]

    release = threading.Event()

    def script(req):  # answer the first ANSWER_FIRST chat requests, then hold the rest (in flight at the kill);
        # req.n counts every request, the context probes (GET /props, /v1/models) included
        nth_chat = sum(1 for r in fake_server.chat_requests if r.n <= req.n)
        if nth_chat > ANSWER_FIRST:
            release.wait(30)
        return None

    fake_server.script = script
    proc = subprocess.Popen(_cli(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _rows_in_cache(cache) < ANSWER_FIRST:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "annotator did not get its first answers"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    answered_before = set(fake_server.answered)
    assert len(answered_before) == ANSWER_FIRST

    fake_server.script = None
    release.set()
    done = subprocess.run(_cli(args), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    # zero repeated requests for anything answered before the kill
    assert all(fake_server.key_counts[k] == 1 for k in answered_before)
    # the only repeats are the requests held in flight at the kill (at most --concurrency of them)
    repeated = {k for k, c in fake_server.key_counts.items() if c > 1}
    assert repeated.isdisjoint(answered_before) and len(repeated) <= 3
    labels = pl.read_parquet(out)
    assert labels.height == N_QUERIES * N_DOCS and labels["label"].null_count() == 0
    # a third run asks nothing at all
    n = len(fake_server.chat_requests)
    subprocess.run(_cli(args), capture_output=True, timeout=120, check=True)
    assert len(fake_server.chat_requests) == n
    assert b"SECRET" not in cache.read_bytes()
