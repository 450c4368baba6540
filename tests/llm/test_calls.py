"""The annotator against a real HTTP server on 127.0.0.1 speaking the OpenAI API, scripted per test."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest
from fake_openai import Reply, error

from gbltr.errors import ConfigError
from gbltr.labels.llm.annotate import annotate
from gbltr.labels.llm.client import ClientConfig, FatalAPIError
from gbltr.labels.llm.strategies import StrategyConfig, rank_to_grades


def pairs(n_queries=2, n_docs=3, query="what do cats eat"):
    rows = [(f"q{q}", f"{query} {q}" if q else query, f"q{q}d{d}", f"passage {d} about cats", d + 1) for q in range(n_queries) for d in range(n_docs)]
    return pl.DataFrame(rows, schema={"query_id": pl.String, "query": pl.String, "doc_id": pl.String, "text": pl.String, "rank": pl.Int32}, orient="row")


def client(srv, **kw):
    base = dict(model="fake-model", base_url=srv.base_url, retries=2, timeout=5.0, concurrency=4)
    base.update(kw)
    return ClientConfig(**base)


def run(srv, strategy="point", p=None, cache=None, client_kw=None, **kw):
    return annotate(p if p is not None else pairs(), StrategyConfig(strategy=strategy, **kw), client(srv, **(client_kw or {})), cache_path=cache, progress=False)


WORKERS = pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "2-workers"])


@WORKERS
def test_point_labels_with_logprobs(fake_server, workers):
    res = run(fake_server, "point", client_kw={"workers": workers})
    lab = res.labels
    assert lab.height == 6 and lab["label"].to_list() == [2.0] * 6
    assert set(lab["parse_status"]) == {"ok"} and set(lab["source"]) == {"llm"}
    assert set(lab["prompt_version"]) == {"point-en-2"} and set(lab["model"]) == {"fake-model"}
    # top logprobs 2: e^-0.4, 3: e^-2.0, 1: e^-3.0 (x is not a label token)
    import math

    p2, p3, p1 = math.exp(-0.4), math.exp(-2.0), math.exp(-3.0)
    assert lab["confidence"][0] == pytest.approx(p1 + p2 + p3)
    assert lab["expected_relevance"][0] == pytest.approx((2 * p2 + 3 * p3 + p1) / (p1 + p2 + p3))
    body = fake_server.chat_requests[0].body
    assert body["response_format"]["type"] == "json_schema" and body["logprobs"] is True
    assert res.usage.calls == 6 and res.usage.prompt_tokens > 0


def test_list_strategies_map_ids_back(fake_server):
    lab = run(fake_server, "list", window=2).labels  # chunks [d0,d1], [d2]; fake labels id % 5
    assert lab.filter(pl.col("query_id") == "q0")["label"].to_list() == [1.0, 2.0, 1.0]
    lab = run(fake_server, "listsel").labels  # fake selects odd ids
    assert lab.filter(pl.col("query_id") == "q0")["label"].to_list() == [1.0, 0.0, 1.0]
    lab = run(fake_server, "listrank", p=pairs(1, 5), window=5, stride=5).labels  # fake reverses: d4 best
    assert lab["label"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_listrank_sliding_window_calls(fake_server):
    # 6 docs, window 4, stride 2: windows [2:6], [0:4] -> 2 calls per query (RankGPT back to front)
    lab = run(fake_server, "listrank", p=pairs(1, 6), window=4, stride=2).labels
    assert len(fake_server.chat_requests) == 2
    assert lab["label"].null_count() == 0 and set(lab["parse_status"]) == {"ok"}


def test_rank_to_grades_mapping():
    assert rank_to_grades(5, (0, 4)) == [4, 3, 2, 1, 0]
    assert rank_to_grades(10, (0, 4)) == [4, 4, 3, 3, 2, 2, 1, 1, 0, 0]
    assert rank_to_grades(2, (0, 1)) == [1, 0]


def test_stride_and_scale_validation():
    with pytest.raises(ConfigError, match="stride"):
        StrategyConfig(strategy="listrank", window=4, stride=0)
    with pytest.raises(ConfigError, match="stride"):
        StrategyConfig(strategy="listrank", window=4, stride=5)
    with pytest.raises(ConfigError, match="choose one of"):
        StrategyConfig(strategy="pairwise")


def test_permutations_aggregate_and_report_agreement(fake_server):
    lab = run(fake_server, "list", p=pairs(1, 4), window=4, permutations=3, seed=7).labels
    assert lab["perm_agreement"].null_count() == 0
    assert set(lab["permutation_seed"]) == {7}
    # three different orders were shown
    shown = {r.body["messages"][1]["content"] for r in fake_server.chat_requests}
    assert len(shown) == 3


@WORKERS
def test_429_with_retry_after_is_retried(fake_server, workers):
    def script(req):
        if req.n == 1:
            return error(429, "slow down", code="rate_limit_exceeded", etype="requests", headers={"Retry-After": "0.2"})
    fake_server.script = script
    t0 = time.monotonic()
    lab = run(fake_server, "point", p=pairs(1, 1), client_kw={"workers": workers}).labels
    assert lab["label"].to_list() == [2.0] and len(fake_server.chat_requests) == 2
    assert time.monotonic() - t0 >= 0.2


FAST_RETRY = {"retry-after-ms": "10"}  # the SDK honours it for every retried status: keeps the test fast


@WORKERS
def test_500s_and_timeouts_are_retried_by_the_sdk_then_fail_bounded(fake_server, workers):
    # a timeout, two 500s, then an answer: all within the SDK's 3 retries of one request
    fake_server.script = lambda req: Reply(delay=2.0) if req.n == 1 else (error(500, "boom", etype="server_error", headers=FAST_RETRY) if req.n <= 3 else None)
    lab = run(fake_server, "point", p=pairs(1, 1), client_kw={"timeout": 0.5, "retries": 3, "workers": workers}).labels
    assert lab["label"].to_list() == [2.0] and lab["parse_status"].to_list() == ["ok"]
    assert len(fake_server.chat_requests) == 4
    # always failing: 1 + retries sends, label missing with status 'failed'
    fake_server.requests.clear()
    fake_server.script = lambda req: error(503, "down", etype="server_error", headers=FAST_RETRY)
    res = run(fake_server, "point", p=pairs(1, 1), client_kw={"retries": 1, "workers": workers})
    assert res.labels["label"].to_list() == [None] and res.labels["parse_status"].to_list() == ["failed"]
    assert len(fake_server.chat_requests) == 2  # 1 + 1 SDK retry, nothing on top
    assert res.usage.failures == 1 and res.usage.reasks == 0


@pytest.mark.parametrize("max_reask", [0, 3])
def test_transport_failures_are_not_multiplied_by_reasks(fake_server, max_reask):
    """The old client retried 429/5xx in its own loop on top of the SDK's: with the defaults up
    to 9 sends. Now a failing endpoint sees exactly 1 + retries sends per request, whatever
    max_reask is (re-asks are for unusable content only)."""
    fake_server.script = lambda req: error(503, "down", etype="server_error", headers=FAST_RETRY)
    res = run(fake_server, "point", p=pairs(1, 1), client_kw={"retries": 2}, max_reask=max_reask)
    assert len(fake_server.chat_requests) == 3 and res.labels["parse_status"].to_list() == ["failed"]
    fake_server.requests.clear()
    fake_server.script = lambda req: error(429, "slow down", code="rate_limit_exceeded", etype="requests", headers=FAST_RETRY)
    res = run(fake_server, "point", p=pairs(1, 1, query="other"), client_kw={"retries": 2}, max_reask=max_reask)
    assert len(fake_server.chat_requests) == 3 and res.labels["parse_status"].to_list() == ["failed"]


def test_content_reask_on_top_of_sdk_retries(fake_server):
    """The contract in one script: SDK retries absorb the 500s, the invalid answer between them
    costs one content re-ask (a new conversation turn), and the label comes from the re-ask."""
    def script(req):
        if req.n in (1, 3):
            return error(500, "boom", etype="server_error", headers=FAST_RETRY)
        if req.n == 2:
            return Reply(content="not json at all")
    fake_server.script = script
    res = run(fake_server, "point", p=pairs(1, 1), client_kw={"retries": 1}, max_reask=1)
    assert res.labels["label"].to_list() == [2.0] and res.labels["parse_status"].to_list() == ["reasked"]
    bodies = [r.body for r in fake_server.chat_requests]
    assert len(bodies) == 4 and bodies[0] == bodies[1] and bodies[2] == bodies[3]
    assert bodies[2]["messages"][-2] == {"role": "assistant", "content": "not json at all"}
    assert res.usage.reasks == 1 and res.usage.failures == 0


@WORKERS
def test_malformed_json_is_reasked_never_defaulted(fake_server, workers):
    fake_server.script = lambda req: Reply(content="I think it is relevant!") if req.n == 1 else None
    lab = run(fake_server, "point", p=pairs(1, 1), client_kw={"workers": workers}).labels
    assert lab["label"].to_list() == [2.0] and lab["parse_status"].to_list() == ["reasked"]
    second = fake_server.chat_requests[1].body["messages"]
    assert second[-2] == {"role": "assistant", "content": "I think it is relevant!"}
    fake_server.requests.clear()
    fake_server.script = lambda req: Reply(content="still not json")
    lab = run(fake_server, "point", p=pairs(1, 1, query="other"), client_kw={"workers": workers}).labels
    assert lab["label"].to_list() == [None] and lab["parse_status"].to_list() == ["invalid_json"]
    assert len(fake_server.chat_requests) == 2  # one ask + max_reask=1


def test_finish_reason_length_reasks_with_more_tokens(fake_server):
    fake_server.script = lambda req: Reply(content='{"labels": [{"id": 1, "lab', finish_reason="length") if req.n == 1 else None
    lab = run(fake_server, "list", p=pairs(1, 2), client_kw={"max_tokens": 50}).labels
    assert lab["label"].to_list() == [1.0, 2.0]
    bodies = [r.body for r in fake_server.chat_requests]
    assert bodies[0]["max_tokens"] == 50 and bodies[1]["max_tokens"] == 100
    fake_server.script = lambda req: Reply(content='{"labels": [', finish_reason="length")
    lab = run(fake_server, "list", p=pairs(1, 2, query="q2")).labels
    assert lab["label"].to_list() == [None, None] and set(lab["parse_status"]) == {"length"}


def test_missing_ids_in_list_answer(fake_server):
    partial = json.dumps({"labels": [{"id": 1, "label": 4}, {"id": 3, "label": 0}]})
    fake_server.script = lambda req: Reply(content=partial) if req.n == 1 else None
    lab = run(fake_server, "list", p=pairs(1, 3)).labels
    assert lab["label"].to_list() == [4.0, 2.0, 0.0]  # id 2 filled by the re-ask (fake: 2 % 5)
    assert lab["parse_status"].to_list() == ["ok", "reasked", "ok"]
    fake_server.script = lambda req: Reply(content=partial)
    lab = run(fake_server, "list", p=pairs(1, 3, query="zz")).labels
    assert lab["label"].to_list() == [4.0, None, 0.0] and lab["parse_status"][1] == "missing_id"


def test_empty_answer_is_reasked_never_a_label(fake_server):
    fake_server.script = lambda req: Reply(content="") if req.n <= 2 else None
    lab = run(fake_server, "point", p=pairs(1, 1), max_reask=2).labels
    assert lab["label"].to_list() == [2.0] and len(fake_server.chat_requests) == 3
    bodies = [r.body for r in fake_server.chat_requests]
    assert bodies[0] == bodies[1] == bodies[2]  # an empty answer is not cached: the same request again
    fake_server.requests.clear()
    fake_server.script = lambda req: Reply(content="")
    lab = run(fake_server, "point", p=pairs(1, 1, query="again"), max_reask=1).labels
    assert lab["label"].to_list() == [None] and lab["parse_status"].to_list() == ["failed"]
    assert len(fake_server.chat_requests) == 2


def test_content_filter_marks_missing(fake_server):
    fake_server.script = lambda req: Reply(content="", finish_reason="content_filter")
    lab = run(fake_server, "point", p=pairs(1, 1)).labels
    assert lab["label"].to_list() == [None] and lab["parse_status"].to_list() == ["content_filter"]
    assert len(fake_server.chat_requests) == 1


@pytest.mark.parametrize("status", [401, 403, 404])
@WORKERS
def test_auth_errors_stop_early(fake_server, status, workers):
    fake_server.script = lambda req: error(status, "nope", code="invalid_api_key")
    with pytest.raises(FatalAPIError, match=str(status)):
        run(fake_server, "point", p=pairs(20, 5), client_kw={"concurrency": 2, "workers": workers})
    assert len(fake_server.chat_requests) <= 4  # not 100 requests


@WORKERS
def test_insufficient_quota_stops_early(fake_server, workers):
    fake_server.script = lambda req: error(429, "You exceeded your current quota", code="insufficient_quota", etype="insufficient_quota")
    with pytest.raises(FatalAPIError, match="insufficient_quota"):
        run(fake_server, "point", p=pairs(10, 5), client_kw={"concurrency": 1, "retries": 0, "workers": workers})
    assert len(fake_server.chat_requests) <= 2


@WORKERS
def test_json_schema_rejected_falls_back_to_json_object(fake_server, tmp_path, workers):
    def script(req):
        if (req.body.get("response_format") or {}).get("type") == "json_schema":
            return error(400, "response_format.json_schema is not supported by this server")
    fake_server.script = script
    cache = tmp_path / "c.sqlite"
    lab = run(fake_server, "list", p=pairs(2, 3), cache=cache, client_kw={"workers": workers}).labels
    assert lab["label"].null_count() == 0
    fallback = [r for r in fake_server.chat_requests if (r.body.get("response_format") or {}).get("type") == "json_object"]
    assert fallback and "JSON schema" in fallback[0].body["messages"][0]["content"]
    # the downgrade is remembered in the cache: a rerun sends nothing at all
    n = len(fake_server.requests)
    run(fake_server, "list", p=pairs(2, 3), cache=cache, client_kw={"workers": workers})
    assert len(fake_server.requests) == n


def test_cache_answers_rerun_and_keeps_no_key(fake_server, tmp_path):
    cache = tmp_path / "answers.sqlite"
    first = run(fake_server, "point", cache=cache)
    n = len(fake_server.chat_requests)
    second = run(fake_server, "point", cache=cache)
    assert len(fake_server.chat_requests) == n and second.counts["cached"] == 6
    assert first.labels.equals(second.labels)
    # a different model or prompt setting is a different key
    run(fake_server, "point", cache=cache, client_kw={"model": "other"})
    assert len(fake_server.chat_requests) == 2 * n
    for f in tmp_path.iterdir():
        assert b"SECRET" not in f.read_bytes()
    assert fake_server.chat_requests[0].headers.get("authorization") == "Bearer sk-test-SECRET-do-not-store"


def test_chinese_queries_use_the_chinese_prompt(fake_server):
    lab = run(fake_server, "listrank", p=pairs(1, 3, query="猫吃什么")).labels
    assert set(lab["prompt_version"]) == {"listrank-zh-2"}
    assert "查询" in fake_server.chat_requests[0].body["messages"][1]["content"]


def test_documents_are_truncated_to_the_budget(fake_server):
    p = pairs(1, 1).with_columns(pl.lit("word " * 2000).alias("text"))
    run(fake_server, "point", p=p, doc_tokens=50)
    user = fake_server.chat_requests[0].body["messages"][1]["content"]
    assert len(user) < 1500 and "word word" in user


def test_worker_pool_starts_only_for_fresh_requests_and_reports_a_dead_worker(fake_server, tmp_path):
    from gbltr.labels.llm.workers import WorkerError, WorkerPool

    cache = tmp_path / "c.sqlite"
    cfg = client(fake_server, workers=2)
    first = annotate(pairs(), StrategyConfig(), cfg, cache_path=cache, progress=False)
    lazy = WorkerPool(cfg)
    again = annotate(pairs(), StrategyConfig(), cfg, cache_path=cache, progress=False, pool=lazy)
    assert not lazy.started and again.labels.equals(first.labels)  # all cached: no process spawned
    with WorkerPool(cfg) as pool:
        pool._procs[0].kill()
        pool._procs[0].join(5)
        with pytest.raises(WorkerError, match="--workers 1"):
            annotate(pairs(3, 4, query="new"), StrategyConfig(), cfg, cache_path=None, progress=False, pool=pool)
    with pytest.raises(ConfigError, match="another client config"):
        annotate(pairs(), StrategyConfig(), client(fake_server), cache_path=None, progress=False, pool=lazy)


def test_identical_requests_in_flight_share_an_unusable_answer_and_both_reask(fake_server):
    """Two pairs with the same text are one request on the wire; when its answer is empty, both
    re-ask (sharing again), instead of the waiting one being marked failed."""
    fake_server.script = lambda req: Reply(content="") if req.n == 1 else None
    p = pl.DataFrame({"query_id": ["q", "q"], "query": ["cats", "cats"], "doc_id": ["a", "b"], "text": ["same", "same"]})
    res = annotate(p, StrategyConfig(max_reask=1), client(fake_server), cache_path=None, progress=False)
    assert res.labels["label"].to_list() == [2.0, 2.0] and len(fake_server.chat_requests) == 2
