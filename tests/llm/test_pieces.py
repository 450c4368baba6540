"""Agreement numbers, price tables, the rate limiter, input readers: small hand-checkable cases."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import polars as pl
import pytest

from gbltr.errors import ConfigError, SchemaError
from gbltr.labels.llm.agreement import agreement, cohen_kappa
from gbltr.labels.llm.client import Usage
from gbltr.labels.llm.cost import PriceTable
from gbltr.labels.llm.limiter import RateLimiter
from gbltr.labels.llm.pairs import pairs_from_dataset, read_pairs


def test_cohen_kappa_golden():
    # Cohen (1960)-style 2x2: po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5 -> kappa = 0.4
    a = np.array([1] * 5 + [0] * 5)
    b = np.array([1, 1, 1, 1, 0, 1, 1, 0, 0, 0])
    po = (a == b).mean()
    assert po == 0.7
    assert cohen_kappa(a, b) == pytest.approx((0.7 - 0.5) / 0.5)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(np.array([]), np.array([])) is None


def test_agreement_rescales_and_binarises():
    human = pl.DataFrame({"query_id": ["q"] * 4, "doc_id": list("abcd"), "label": [0.0, 1.0, 2.0, 2.0]})
    llm = pl.DataFrame({"query_id": ["q"] * 5, "doc_id": list("abcde"), "label": [0.0, 2.0, 4.0, None, 4.0]})
    rep = agreement(llm, human, llm_max=4)
    assert rep.n_pairs == 3 and rep.n_llm_missing == 1
    assert rep.kappa == 1.0 and rep.kappa_binary == 1.0  # 0->0, 2->1, 4->2 on the human scale
    assert rep.confusion["counts"][1] == [0, 0, 1, 0, 0]


def test_price_table_and_batch_discount(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('{"batch_discount": 0.5, "models": {"m": {"input": 2.0, "cached_input": 1.0, "output": 8.0}}}')
    table = PriceTable.load(p)
    u = Usage(prompt_tokens=1_000_000, cached_tokens=500_000, completion_tokens=250_000)
    assert table.cost(u, "m") == pytest.approx(1.0 + 0.5 + 2.0)
    assert table.cost(u, "m", batch=True) == pytest.approx(1.75)
    with pytest.raises(ConfigError, match="no model"):
        table.cost(u, "other")
    p.write_text('{"models": {}, "oops": 1}')
    with pytest.raises(ConfigError, match="unknown key"):
        PriceTable.load(p)


def test_rate_limiter_spaces_tokens():
    async def go():
        lim = RateLimiter(rpm=None, tpm=600)  # 10 tokens per second, bucket of 600
        await lim.acquire(600)
        t0 = time.monotonic()
        await lim.acquire(3)
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.25


def test_read_pairs_forms(tmp_path):
    df = pl.DataFrame({"query_id": [1, 1, 2], "query": ["a", "a", "b"], "doc_id": ["x", "y", "x"], "text": ["t1", "t2", "t3"]})
    df.write_parquet(tmp_path / "p.parquet")
    df.write_ndjson(tmp_path / "p.jsonl")
    df.write_csv(tmp_path / "p.tsv", separator="\t")
    frames = [read_pairs(tmp_path / f"p.{ext}") for ext in ("parquet", "jsonl", "tsv")]
    for f in frames:
        assert f.equals(frames[0])
    assert frames[0]["query_id"].dtype == pl.String and frames[0]["rank"].to_list() == [1, 2, 1]
    df.drop("text").write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SchemaError, match="text"):
        read_pairs(tmp_path / "bad.parquet")


def test_pairs_from_dataset_folder(tmp_path):
    pl.DataFrame({"query_id": ["q1"], "text": ["cats"]}).write_parquet(tmp_path / "queries.parquet")
    pl.DataFrame({"doc_id": ["d1", "d2"], "title": ["T1", "T2"], "body": ["B1", "B2"], "url": ["u1", "u2"]}).write_parquet(tmp_path / "documents.parquet")
    pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d2", "d1"], "rank": [2, 1], "retrieval_score": [0.1, 0.9]}).write_parquet(tmp_path / "candidates.parquet")
    p = pairs_from_dataset(tmp_path)
    assert p["doc_id"].to_list() == ["d1", "d2"] and p["text"][0] == "T1\n\nB1" and p["query"][0] == "cats"
