"""Issue 21: list answers bounded by their schema, prompts sized to the model's context, re-asks
that change the request, and errors that name the cause of missing labels. Against the scripted
OpenAI-compatible server on 127.0.0.1 (``fake_openai``), which also answers llama.cpp's
``/props`` and ``/tokenize`` when its ``context`` is set."""

from __future__ import annotations

import json
import struct

import jsonschema
import polars as pl
import pytest
from fake_openai import Reply, annotate_exit as _cli

from gbltr.errors import ConfigError
from gbltr.labels.llm.annotate import annotate, group_pairs
from gbltr.labels.llm.client import ClientConfig, context_overflow
from gbltr.labels.llm.context import ContextBudget, fit_strategy, largest_messages
from gbltr.labels.llm.diagnose import RAW_SHOWN
from gbltr.labels.llm.local import gguf_context_length, local_available, smollm2_path
from gbltr.labels.llm.strategies import StrategyConfig, _list_schema


def _pairs(n_queries=1, n_docs=4, chars=200) -> pl.DataFrame:
    rows = [{"query_id": f"q{q}", "query": f"query {q}", "doc_id": f"d{q}_{d}", "text": (f"passage {d} " * 200)[:chars]}
            for q in range(n_queries) for d in range(n_docs)]
    return pl.DataFrame(rows)


def _run(srv, tmp_path, *extra, pairs=None):
    p = tmp_path / "pairs.jsonl"
    (pairs if pairs is not None else _pairs()).write_ndjson(p)
    out = tmp_path / "l.parquet"
    code = _cli(["--pairs", str(p), "--model", "fake", "--base-url", srv.base_url, "--out", str(out), "--no-progress", "--retries", "0", *extra])
    return code, out


# -- bounded schemas ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 5])
def test_list_schemas_accept_exactly_their_bound(n):
    def valid(strategy, answer):
        try:
            jsonschema.validate(answer, _list_schema(strategy, n, (0, 4)))
        except jsonschema.ValidationError:
            return False
        return True

    labels = [{"id": i, "label": 2} for i in range(1, n + 1)]
    assert valid("list", {"labels": labels})
    assert not valid("list", {"labels": labels + [{"id": 1, "label": 2}]})  # ListAnn: exactly n items
    assert not valid("list", {"labels": labels[:-1]})
    assert not valid("list", {"labels": labels[:-1] + [{"id": n + 1, "label": 2}]})  # ids in 1..n
    assert not valid("list", {"labels": labels[:-1] + [{"id": n, "label": 5}]})  # labels on the scale
    ids = list(range(1, n + 1))
    assert valid("listrank", {"ranking": ids}) and not valid("listrank", {"ranking": ids + [1]}) and not valid("listrank", {"ranking": ids[:-1]})
    assert valid("listsel", {"relevant": []}) and valid("listsel", {"relevant": ids})
    assert not valid("listsel", {"relevant": ids + [1]}) and not valid("listsel", {"relevant": [n + 1]})


# -- errors that name the cause -----------------------------------------------------------------
CUT = '{"labels": [{"id": 1, "label": 2}, {"id"'


def test_length_names_max_tokens_and_the_reask_raises_the_budget(fake_server, tmp_path, capsys):
    fake_server.script = lambda req: Reply(content=CUT, finish_reason="length")
    code, out = _run(fake_server, tmp_path, "--strategy", "list", "--max-tokens", "64", "--max-reask", "1")
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "answers reached --max-tokens 64 (re-asks raised it to 128): raise it or lower --window" in err
    assert "Check the endpoint" not in err
    first, second = fake_server.chat_requests
    assert (first.body["max_tokens"], second.body["max_tokens"]) == (64, 128)
    assert second.body["messages"] == first.body["messages"]  # the cut answer is not fed back: the budget is what changed


def test_a_reask_after_length_that_cannot_raise_the_budget_does_not_happen():
    pairs = _pairs()
    cfg = StrategyConfig(strategy="list", window=4, max_reask=2)
    msgs, n = largest_messages(cfg, group_pairs(pairs))
    schema = _list_schema("list", n, cfg.scale)
    from fake_openai import FakeOpenAI

    for room, sent in ((64, [64]), (100, [64, 100])):  # context = prompt + room: the budget may grow to the room only
        budget = ContextBudget(ContextBudget(None, "test").prompt_tokens(msgs, schema) + room, "test")
        with FakeOpenAI() as srv:
            srv.script = lambda req: Reply(content=CUT, finish_reason="length")
            res = annotate(pairs, cfg, ClientConfig(model="m", base_url=srv.base_url, max_tokens=64, retries=0), cache_path=None, progress=False, budget=budget)
            assert [r.body["max_tokens"] for r in srv.chat_requests] == sent
        assert res.usage.reasks == len(sent) - 1 and set(res.labels["parse_status"]) == {"length"}


LLAMA_OVERFLOW = {"error": {"code": 400, "message": "request (9031 tokens) exceeds the available context size (8192 tokens), try increasing it",
                            "type": "exceed_context_size_error", "n_prompt_tokens": 9031, "n_ctx": 8192}}


def test_context_overflow_names_prompt_and_context_and_is_not_reasked(fake_server, tmp_path, capsys):
    fake_server.script = lambda req: Reply(status=400, body=LLAMA_OVERFLOW)
    code, _ = _run(fake_server, tmp_path, "--strategy", "list", "--max-reask", "2")
    err = capsys.readouterr().err
    assert code == 2 and "(context_overflow=4)" in err
    assert "prompts of about 9031 tokens exceed the model's context 8192: lower --window or --doc-tokens" in err
    assert "Check the endpoint" not in err
    assert len(fake_server.chat_requests) == 1  # the same request cannot fit on a second try


@pytest.mark.parametrize("text, found", [
    ("This model's maximum context length is 2048 tokens. However, you requested 3000 tokens (2900 in the messages, 100 in the completion).", (2900, 2048)),
    ('{"code": "context_length_exceeded", "message": "Your input exceeds the context window of this model."}', (None, None)),
    ("response_format json_schema is not supported", None),
])
def test_overflow_errors_of_vllm_and_openai_are_recognised(text, found):
    assert context_overflow(None, text) == found


def test_parse_failure_shows_one_raw_answer_cut_short(fake_server, tmp_path, capsys):
    rambling = "I think passage one is quite relevant because it talks about the query. " * 10
    fake_server.script = lambda req: Reply(content=rambling)
    code, _ = _run(fake_server, tmp_path, "--strategy", "list")
    err = capsys.readouterr().err
    assert code == 2 and "the answers did not parse (invalid_json); one of them: " in err
    assert repr(rambling[:RAW_SHOWN] + f"... ({len(rambling)} characters)") in err and rambling not in err
    assert "Check the endpoint" not in err


def test_most_labels_missing_warns_with_the_cause(fake_server, tmp_path, capsys):
    # 3 of 4 queries end at the token limit: exit 0, and the warning names the cause
    fake_server.script = lambda req: None if "query 0" in req.user else Reply(content=CUT, finish_reason="length")
    code, out = _run(fake_server, tmp_path, "--strategy", "list", "--max-tokens", "64", "--max-reask", "0", pairs=_pairs(n_queries=4))
    err = capsys.readouterr().err
    assert code == 0 and out.exists()
    assert "warning: 12 of 16 labels are missing (length=12); answers reached --max-tokens 64: raise it or lower --window" in err
    assert json.loads((tmp_path / "l.parquet.run.json").read_text())["missing"]["cause"].startswith("answers reached --max-tokens 64")


# -- prompts that fit ---------------------------------------------------------------------------
def test_the_window_shrinks_to_the_servers_context_and_says_so_once(fake_server, tmp_path, capsys):
    fake_server.context = 1500  # /props; /tokenize counts 2 characters a token (the estimate: 4)
    code, out = _run(fake_server, tmp_path, "--strategy", "list", "--window", "12", "--max-tokens", "200",
                     pairs=_pairs(n_queries=2, n_docs=12, chars=400))
    err = capsys.readouterr().err
    assert code == 0 and out.exists()
    assert err.count("note: the model's context is 1500 tokens (the server's /props)") == 1 and "--window" in err
    record = json.loads((tmp_path / "l.parquet.run.json").read_text())
    ctx = record["context"]
    assert ctx["tokens"] == 1500 and 1 <= ctx["window"] < 12 and ctx["tokens_per_estimate"] > 1.9
    for r in fake_server.chat_requests:  # every prompt, as the server counts it, leaves the answer its budget
        assert r.n_ids <= ctx["window"]
        assert len(r.prompt) // fake_server.chars_per_token + 8 * len(r.body["messages"]) + 200 <= 1500
    assert record["missing"]["labels"] == 0


def test_context_tokens_option_sizes_a_dry_run_without_asking_the_server(fake_server, tmp_path, capsys):
    fake_server.context = 100_000  # ignored: the option wins, and a dry run sends nothing
    code, _ = _run(fake_server, tmp_path, "--strategy", "listrank", "--window", "12", "--stride", "6", "--context-tokens", "900", "--max-tokens", "100",
                   "--dry-run", pairs=_pairs(n_docs=12, chars=400))
    captured = capsys.readouterr()
    assert code == 0 and "note: the model's context is 900 tokens (--context-tokens)" in captured.err
    record = json.loads(captured.out.strip().splitlines()[-1])
    ctx = record["context"]
    assert ctx["source"] == "--context-tokens" and 2 < ctx["window"] < 12 and ctx["doc_tokens"] == 300
    assert ctx["stride"] == max(1, round(6 * ctx["window"] / 12))  # the same overlap, in proportion
    assert fake_server.requests == []


def test_fit_lowers_doc_tokens_when_one_document_does_not_fit_and_refuses_the_impossible():
    groups = group_pairs(_pairs(n_docs=2, chars=2000))
    point = StrategyConfig(strategy="point", doc_tokens=400)
    fitted = fit_strategy(point, groups, ContextBudget(400, "test"), 100)
    assert fitted.strategy.doc_tokens < 400 and "--doc-tokens" in fitted.note and fitted.largest_prompt + 100 <= 400
    assert fit_strategy(point, groups, ContextBudget(None, "unknown"), 100).strategy == point  # unknown: unchanged
    with pytest.raises(ConfigError, match="exceed the model's context 150 .*Lower --max-tokens"):
        fit_strategy(point, groups, ContextBudget(150, "test"), 100)


# -- the local server's context -----------------------------------------------------------------
def _gguf(kvs) -> bytes:
    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, kind, payload in kvs:
        out += s(key) + struct.pack("<I", kind) + payload
    return out


def test_gguf_context_length_reads_the_trained_context(tmp_path):
    strings = struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 2) + b"bc"
    f = tmp_path / "m.gguf"
    f.write_bytes(_gguf([("general.architecture", 8, struct.pack("<Q", 5) + b"llama"),
                         ("tokenizer.ggml.tokens", 9, strings),
                         ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 2) + struct.pack("<2f", 0.5, 0.25)),
                         ("llama.block_count", 4, struct.pack("<I", 30)),
                         ("llama.context_length", 4, struct.pack("<I", 8192))]))
    assert gguf_context_length(f) == 8192
    f.write_bytes(_gguf([("general.architecture", 8, struct.pack("<Q", 5) + b"llama")]))
    with pytest.raises(ConfigError, match="context_length"):
        gguf_context_length(f)
    if local_available():  # SmolLM2-135M was trained with 8192 tokens of context
        assert gguf_context_length(smollm2_path()) == 8192
