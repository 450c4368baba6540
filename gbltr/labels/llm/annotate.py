"""Orchestration: pairs in, an LLM label set (LABELS contract + provenance) out.

:func:`annotate` groups the pairs by query (rank order), runs the chosen strategy
(:mod:`gbltr.labels.llm.strategies`) for every query concurrently through one
:class:`~gbltr.labels.llm.client.LLMClient` (cache, limits, retries), shows a
:mod:`gbltr.progress` bar with done / cached / failed label counts, and returns an :class:`Annotation`. With ``batch`` the
requests go through the OpenAI Batch API in rounds (:mod:`gbltr.labels.llm.batch`) that fill
the same cache, and the labels are then read from it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gbltr.errors import ConfigError
from gbltr.labels.llm.batch import run_batch_rounds
from gbltr.labels.llm.cache import AnswerCache
from gbltr.labels.llm.client import ClientConfig, FatalAPIError, LLMClient, Pending, Usage
from gbltr.labels.llm.context import ContextBudget
from gbltr.labels.llm.diagnose import Evidence
from gbltr.labels.llm.prompts import detect_language, load_prompt
from gbltr.labels.llm.strategies import STRATEGIES, Doc, StrategyConfig
from gbltr.labels.llm.workers import WorkerPool
from gbltr.progress import progress


@dataclass
class Annotation:
    """The label set and what it took: ``labels`` (LABELS + provenance), token ``usage`` of fresh
    calls, label ``counts`` (done / cached / failed), Batch API rounds, and the ``evidence`` of
    why labels went missing (:mod:`gbltr.labels.llm.diagnose`)."""

    labels: pl.DataFrame
    usage: Usage
    counts: dict = field(default_factory=dict)
    batch_rounds: int = 0
    evidence: Evidence = field(default_factory=Evidence)


def group_pairs(pairs: pl.DataFrame) -> list[tuple[str, str, list[Doc]]]:
    """``[(query_id, query, [Doc...])]`` in query order, docs in rank order."""
    out: dict[str, tuple[str, list[Doc]]] = {}
    columns = (pairs[c].to_list() for c in ("query_id", "query", "doc_id", "text"))
    for q, query, d, text in zip(*columns):  # column lists: much cheaper per row than iter_rows
        out.setdefault(q, (query, []))[1].append(Doc(d, text or ""))
    return [(q, query, docs) for q, (query, docs) in out.items()]


async def _annotate_async(groups, strategy: StrategyConfig, client: LLMClient, show_progress: bool, counts: dict):
    run = STRATEGIES[strategy.strategy]
    total = sum(len(docs) for _, _, docs in groups)
    results: dict[str, object] = {}
    # on: gbltr.progress decides (a terminal or GBLTR_PROGRESS=1); off: never
    bar = progress(total=total, unit="label", desc=f"annotate {strategy.strategy}", **({} if show_progress else {"disable": True}))

    async def unit(q: str, query: str, docs: list[Doc]):
        try:
            outcome = await run(client, strategy, query, docs)
        except Pending:
            return
        results[q] = outcome
        n_missing = sum(1 for v in outcome.labels if v is None)
        counts["done"] += len(docs) - n_missing
        counts["failed"] += n_missing
        if outcome.cached:
            counts["cached"] += len(docs)
        bar.update(len(docs))
        bar.set_postfix(done=counts["done"], cached=counts["cached"], failed=counts["failed"], refresh=False)

    try:
        await asyncio.gather(*(unit(q, query, docs) for q, query, docs in groups))
    finally:
        bar.close()
        await client.close()
    return results


def _rows(groups, results, strategy: StrategyConfig, model: str) -> pl.DataFrame:
    cols: dict[str, list] = {c: [] for c in ("query_id", "doc_id", "label", "parse_status", "prompt_version", "expected_relevance", "confidence", "perm_agreement")}
    for q, query, docs in groups:
        out = results.get(q)
        lang = detect_language(query) if strategy.lang == "auto" else strategy.lang
        version = load_prompt(strategy.strategy, lang).version
        for j, d in enumerate(docs):
            cols["query_id"].append(q)
            cols["doc_id"].append(d.doc_id)
            cols["prompt_version"].append(version)
            if out is None:
                for c in ("label", "expected_relevance", "confidence", "perm_agreement"):
                    cols[c].append(None)
                cols["parse_status"].append("pending")
                continue
            cols["label"].append(out.labels[j])
            cols["parse_status"].append(out.statuses[j])
            cols["expected_relevance"].append(out.expected[j] if out.expected else None)
            cols["confidence"].append(out.confidence[j] if out.confidence else None)
            cols["perm_agreement"].append(out.agreement[j] if out.agreement else None)
    n = len(cols["query_id"])
    df = pl.DataFrame(
        {
            "query_id": pl.Series(cols["query_id"], dtype=pl.String),
            "doc_id": pl.Series(cols["doc_id"], dtype=pl.String),
            "label": pl.Series(cols["label"], dtype=pl.Float64),
            "source": pl.Series(["llm"] * n, dtype=pl.String),
            "model": pl.Series([model] * n, dtype=pl.String),
            "strategy": pl.Series([strategy.strategy] * n, dtype=pl.String),
            "prompt_version": pl.Series(cols["prompt_version"], dtype=pl.String),
            "permutation_seed": pl.Series([strategy.seed if strategy.permutations > 1 and strategy.strategy != "point" else None] * n, dtype=pl.Int64),
            "parse_status": pl.Series(cols["parse_status"], dtype=pl.String),
            "expected_relevance": pl.Series(cols["expected_relevance"], dtype=pl.Float64),
            "confidence": pl.Series(cols["confidence"], dtype=pl.Float64),
            "perm_agreement": pl.Series(cols["perm_agreement"], dtype=pl.Float64),
        }
    )
    return df


def annotate(
    pairs: pl.DataFrame,
    strategy: StrategyConfig,
    client: ClientConfig,
    *,
    cache_path: str | Path | None,
    progress: bool = True,
    batch=None,
    pool=None,
    budget: ContextBudget | None = None,
) -> Annotation:
    """Label every pair of ``pairs`` (query_id, query, doc_id, text, rank; see
    :mod:`gbltr.labels.llm.pairs`) with ``strategy`` through ``client``.

    ``cache_path`` is the SQLite answer cache (None = in memory, nothing survives); damaged
    rows are dropped, asked again and counted in ``counts["cache_rows_dropped"]``
    (:mod:`gbltr.labels.llm.cache`). ``batch``
    (a :class:`gbltr.labels.llm.batch.BatchConfig`) sends the requests through the Batch API.
    With ``client.workers > 1`` fresh requests are sent by that many worker processes
    (:mod:`gbltr.labels.llm.workers`), started for this call unless a started
    :class:`~gbltr.labels.llm.workers.WorkerPool` for the same config is passed as ``pool``.
    ``budget`` (:mod:`gbltr.labels.llm.context`) caps the answer budget of re-asks to the room
    the model's context leaves; size ``strategy`` to it first with
    :func:`~gbltr.labels.llm.context.fit_strategy`.
    Raises :class:`~gbltr.labels.llm.client.FatalAPIError` on 401/403/404/insufficient_quota;
    everything answered before that is in the cache.
    """
    if pool is not None and pool.config != client:
        raise ConfigError("the worker pool was started for another client config; expected the config passed to annotate. Start one with WorkerPool(client)")
    groups = group_pairs(pairs)
    cache = AnswerCache(cache_path)
    rounds = 0
    own_pool = None
    try:
        if batch is not None:
            rounds = run_batch_rounds(groups, strategy, client, cache, batch, _annotate_async)
        elif pool is None and client.workers > 1:
            pool = own_pool = WorkerPool(client)
        llm = LLMClient(client, cache, collect=[] if batch is not None else None, pool=pool if batch is None else None, budget=budget)  # batch: never call directly
        counts = {"done": 0, "cached": 0, "failed": 0}
        results = asyncio.run(_annotate_async(groups, strategy, llm, progress, counts))
        counts["cache_rows_dropped"] = cache.dropped_rows
        labels = _rows(groups, results, strategy, client.model)
        return Annotation(labels, llm.usage, counts, rounds, llm.evidence)
    finally:
        if own_pool is not None:
            own_pool.close()
        cache.close()


__all__ = ["Annotation", "annotate", "group_pairs", "FatalAPIError"]
