"""Batched cache lookups give the same keys and answers as one-at-a-time lookups; the
benchmark's lean server answers like the scripted fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from gbltr.labels.llm.annotate import annotate
from gbltr.labels.llm.cache import AnswerCache, key_prefix, message_key, message_keys, request_key
from gbltr.labels.llm.client import ClientConfig, LLMClient
from gbltr.labels.llm.strategies import StrategyConfig

SCHEMA = {"type": "object", "properties": {"label": {"type": "integer", "enum": [0, 1, 2]}}, "required": ["label"], "additionalProperties": False}


def _messages(i: int) -> list[dict]:
    return [{"role": "system", "content": "judge"}, {"role": "user", "content": f"document {i} ünïcode"}]


def test_request_key_golden():
    # recorded with request_key as it was before keys were split into prefix + messages
    # (gbltr HEAD of 2026-11-28): existing caches stay valid
    body = {"model": "m", "temperature": 0.0, "max_tokens": 5, "response_format": {"type": "json_object"}, "messages": _messages(1)}
    assert request_key("http://h/v1", body, prompt_version="p1", sample=2) == "e4b1787d3abd97ec2b1c9e8b9ad36b7904be5bddb5c90066820eed5670227002"


def test_prefix_then_messages_equals_request_key():
    body = {"model": "m", "temperature": 0.0, "max_tokens": 5, "response_format": {"type": "json_schema"}, "messages": _messages(1)}
    prefix = key_prefix("http://h/v1/", body, prompt_version="p1", sample=2)
    assert message_key(prefix, body["messages"]) == request_key("http://h/v1", body, prompt_version="p1", sample=2)
    # the prefix is not consumed: a second message list finishes its own key
    other = dict(body, messages=_messages(2))
    assert message_key(prefix, other["messages"]) == request_key("http://h/v1", other, prompt_version="p1", sample=2)
    # a message with fields besides role and content still reaches the key
    named = dict(body, messages=[{"role": "user", "name": "x", "content": "a"}])
    assert request_key("e", named, prompt_version="p") != request_key("e", dict(body, messages=[{"role": "user", "content": "a"}]), prompt_version="p")


def test_peek_many_matches_peek():
    for mode in ("json_schema", "json_object", "text"):
        cache = AnswerCache(None)
        client = LLMClient(ClientConfig(model="m", base_url="http://127.0.0.1:9/v1", mode=mode), cache)
        stored = {}
        for i in (0, 2, 3):  # 1 and 4 are not cached
            body = client.body(_messages(i), SCHEMA)
            stored[i] = {"choices": [{"message": {"content": json.dumps({"label": i % 3})}}]}
            cache.put(client.key(body, prompt_version="v", sample=1), stored[i])
        many = client.peek_many([_messages(i) for i in range(5)], SCHEMA, prompt_version="v", sample=1)
        single = [client.peek(_messages(i), SCHEMA, prompt_version="v", sample=1) for i in range(5)]
        assert [a and (a.key, a.body) for a in many] == [a and (a.key, a.body) for a in single]
        assert [a is not None for a in many] == [True, False, True, True, False]
        assert many[2].body == stored[2] and many[2].cached
        assert client.peek_many([], SCHEMA, prompt_version="v") == []


def test_lean_server_answers_like_the_fake_server(tmp_path):
    script = Path(__file__).resolve().parent / "lean_openai.py"
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        pairs = pl.DataFrame({"query_id": ["q1"] * 3, "query": ["a query"] * 3, "doc_id": ["d1", "d2", "d3"], "text": ["x", "y", "z"], "rank": [1, 2, 3]})
        res = annotate(pairs, StrategyConfig(strategy="point", logprobs=True), ClientConfig(model="m", base_url=base_url, retries=0), cache_path=tmp_path / "c.sqlite", progress=False)
        assert res.labels["label"].to_list() == [2.0, 2.0, 2.0] and res.usage.calls == 3
        assert res.labels["parse_status"].to_list() == ["ok"] * 3
        assert res.labels["expected_relevance"].null_count() == 0  # logprobs come back as from fake_openai
        lst = annotate(pairs, StrategyConfig(strategy="list", window=3), ClientConfig(model="m", base_url=base_url, retries=0), cache_path=None, progress=False)
        assert lst.labels["label"].to_list() == [1.0, 2.0, 3.0]  # fake_openai.default_content: id % 5
    finally:
        proc.terminate()
        proc.wait(10)


def test_message_keys_share_the_system_prompt_hash_and_keep_every_key():
    body = {"model": "m", "response_format": {"type": "json_object"}}
    prefix = key_prefix("e", body, prompt_version="p")
    same_system = [_messages(i) for i in range(3)]
    mixed = same_system + [[{"role": "system", "content": "other"}, {"role": "user", "content": "document 0 ünïcode"}], []]
    for lists in (same_system, mixed, []):
        assert message_keys(prefix, lists) == [request_key("e", dict(body, messages=ms), prompt_version="p") for ms in lists]
