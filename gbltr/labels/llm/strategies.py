"""The four annotation strategies of Yu, Bi, Guo et al. 2025 (arXiv 2511.06635), by name.

``point``     PointAnn: one pair per call -> a graded label; with logprobs also the expected
              relevance over the label tokens and the probability mass on them (confidence).
              Prompt after UMBRELA (Upadhyay et al. 2024) / Thomas et al. 2024.
``list``      ListAnn: a chunk of ``window`` documents per call -> a graded label each.
``listrank``  ListRank: RankGPT sliding window (Sun et al. 2023): windows of ``window`` documents
              from the bottom of the list to the top, moving up by ``stride``; the final order
              becomes grades by equal-size bins: position ``r`` of ``n`` (1 = best) gets grade
              ``lo + floor(G * (n - r) / n)`` with ``G = hi - lo + 1`` grades, so the top
              ``n / G`` documents get ``hi`` and the bottom ``n / G`` get ``lo``.
``listsel``   ListSel: a chunk per call; the model selects the relevant documents -> 1, others 0.

With ``permutations = K > 1`` every list is also shown in K-1 seeded shuffles (permutation 0 is
the candidate order) against position bias. Graded and binary labels are aggregated by
majority (ties -> the lower label), ListRank by mean rank; ``perm_agreement`` is the share of
permutations that agree with the aggregate.

Every strategy returns one row per input pair; a label that could not be obtained is null with
its ``parse_status`` (see :mod:`gbltr.labels.llm.parse`), never a default.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from dataclasses import dataclass

from gbltr.errors import ConfigError, unknown_choice
from gbltr.labels.llm.client import Answer, CallFailed, ContextOverflow, LLMClient, UnusableAnswer
from gbltr.labels.llm.context import ContextBudget
from gbltr.labels.llm.parse import Parsed, parse_list, parse_point, parse_ranking, parse_selection
from gbltr.labels.llm.prompts import LANGUAGES, Prompt, delimit, detect_language, load_prompt, truncate_tokens
from gbltr.ranges import check_fields, count, number, seed_range

_GOOD = ("ok", "repaired")
LANGUAGE_CHOICES = ("auto", *LANGUAGES)


@dataclass(frozen=True)
class StrategyConfig:
    """Settings that change which questions are asked (all of them reach the cache key); the
    ``[strategy]`` section of an annotate config (:class:`gbltr.labels.llm.config.AnnotateConfig`).
    ``max_reask`` bounds the content-level re-asks of one request (invalid JSON, missing ids,
    ``finish_reason=length``, an empty answer); transport failures are retried by the SDK
    (:class:`~gbltr.labels.llm.client.ClientConfig` ``retries``), never here."""

    strategy: str = "point"
    scale: tuple[int, int] = (0, 4)
    window: int = number(20, count(1))
    stride: int = number(10, count(1))
    permutations: int = number(1, count(1))
    seed: int = number(0, seed_range())
    doc_tokens: int = number(300, count(1))
    max_reask: int = number(1, count(0))
    lang: str = "auto"
    logprobs: bool = True  # point only: ask for token logprobs

    def __post_init__(self):
        check_fields(self, "strategy")
        if self.strategy not in STRATEGIES:
            raise unknown_choice("strategy", self.strategy, STRATEGIES)
        lo, hi = self.scale
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo < hi <= 9):
            raise ConfigError(f"label scale must be two integers 0 <= lo < hi <= 9 (single-token labels), found {self.scale}")
        if self.strategy == "listrank" and not 0 < self.stride <= self.window:
            raise ConfigError(f"stride must satisfy 0 < stride <= window ({self.window}), found {self.stride}")
        if self.lang not in LANGUAGE_CHOICES:
            raise unknown_choice("language", self.lang, LANGUAGE_CHOICES)

@dataclass(slots=True)
class Doc:
    doc_id: str
    text: str


@dataclass
class Outcome:
    """Per-document result of one strategy on one query (lists are aligned with the docs)."""

    labels: list
    statuses: list[str]
    expected: list | None = None
    confidence: list | None = None
    agreement: list | None = None
    cached: bool = True


def _prompt(cfg: StrategyConfig, query: str) -> Prompt:
    lang = detect_language(query) if cfg.lang == "auto" else cfg.lang
    return load_prompt(cfg.strategy, lang)


def _numbered(docs: list[Doc], budget: int) -> str:
    """``[i] <passage>text</passage>`` lines (the prompts say passages are data, not instructions)."""
    return "\n".join(f"[{i}] {delimit(truncate_tokens(d.text, budget))}" for i, d in enumerate(docs, 1))


def request_messages(cfg: StrategyConfig, prompt: Prompt, query: str, docs: list[Doc]) -> list[dict]:
    """The messages of one request showing ``docs`` (PointAnn: the one document) in this order;
    also what :mod:`gbltr.labels.llm.context` sizes prompts with."""
    lo, hi = cfg.scale
    if cfg.strategy == "point":
        return prompt.messages(query=query, document=delimit(truncate_tokens(docs[0].text, cfg.doc_tokens)), scale_min=lo, scale_max=hi)
    if cfg.strategy == "listrank":
        return prompt.messages(query=query, documents=_numbered(docs, cfg.doc_tokens), n=len(docs))
    return prompt.messages(query=query, documents=_numbered(docs, cfg.doc_tokens), n=len(docs), scale_min=lo, scale_max=hi)


async def ask_parsed(client: LLMClient, cfg: StrategyConfig, prompt: Prompt, messages: list[dict], schema: dict, parse, n: int, sample: int, logprobs: bool = False) -> tuple[Parsed, Answer | None, bool]:
    """Ask, parse, and re-ask up to ``max_reask`` times when the answer's content is unusable.

    Content-level problems only: transport failures were already retried by the SDK inside
    :meth:`LLMClient.ask` and end here as ``failed`` at once (no attempt multiplies them); a
    request the server refuses as longer than the model's context ends as ``context_overflow``
    at once (the same request cannot fit on a second try).

    Every re-ask changes the request, since the same request would get the same answer:

    * after ``finish_reason=length`` the same messages go again with ``max_tokens`` doubled,
      capped by the room the model's context leaves (``client.budget``,
      :mod:`gbltr.labels.llm.context`); when the budget cannot be raised there is no re-ask
      (issue 21: the same request with the same budget ran to the limit again);
    * after an invalid answer, that answer and a correction request are appended to the
      conversation (a different, separately cached request), if the longer prompt still leaves
      ``max_tokens`` of room;
    * after an empty answer (never cached) the same request is sent again.

    Values from later answers only fill slots earlier answers left empty. What went wrong is
    noted in ``client.evidence`` (:class:`gbltr.labels.llm.diagnose.Evidence`).
    Returns (parsed, last answer, all answers came from the cache).
    """
    merged: Parsed | None = None
    answer = None
    cached = True
    msgs = messages
    max_tokens = client.config.max_tokens
    budget = client.budget
    evidence = client.evidence

    def raised(current: int) -> int | None:
        """The budget of a re-ask after ``length``, or None when it cannot grow."""
        room = budget.answer_room(messages, schema) if budget is not None else None
        new = current * 2 if room is None else min(current * 2, room)
        return new if new > current else None

    attempt = 0
    while True:
        again = None  # (messages, max_tokens) of the re-ask, if one can change anything
        try:
            answer = await client.ask(msgs, schema, prompt_version=prompt.version, sample=sample, max_tokens=max_tokens, logprobs=logprobs)
        except ContextOverflow as exc:
            estimate = (budget or ContextBudget(None, "unknown")).prompt_tokens(msgs, schema)
            evidence.saw_overflow(exc.prompt_tokens or estimate, exc.context or (budget.tokens if budget else None))
            if merged is None:
                merged = Parsed([None] * n, ["context_overflow"] * n, "context_overflow")
            break
        except UnusableAnswer as exc:  # empty or malformed 200: ask again
            cached = False
            if exc.finish_reason == "length":
                evidence.saw_length(max_tokens)
                bigger = raised(max_tokens)
                again = None if bigger is None else (messages, bigger)
            else:
                again = (msgs, max_tokens)
        except CallFailed:
            break
        else:
            cached = cached and answer.cached
            if answer.finish_reason == "content_filter":
                p = Parsed([None] * n, ["content_filter"] * n, "content_filter")
            else:
                p = parse(answer.content)
                if answer.finish_reason == "length" and p.call_status not in _GOOD:
                    p.statuses = ["length" if v is None else s for v, s in zip(p.values, p.statuses)]
                    p.call_status = "length"
                    evidence.saw_length(max_tokens)
                elif p.call_status not in _GOOD:
                    evidence.saw_unparsed(answer.content)
            if merged is None:
                merged = p
            else:
                for k in range(n):
                    if merged.values[k] is None and p.values[k] is not None:
                        merged.values[k] = p.values[k]
                        merged.statuses[k] = "reasked"
            if merged.complete or p.call_status == "content_filter":
                break
            if answer.finish_reason == "length":
                bigger = raised(max_tokens)
                again = None if bigger is None else (messages, bigger)
            else:
                problems = "; ".join(p.problems[:5]) or p.call_status
                conversation = messages + [
                    {"role": "assistant", "content": answer.content},
                    {"role": "user", "content": f"That answer could not be used ({problems}). Answer again with the JSON object only, exactly as specified."},
                ]
                room = budget.answer_room(conversation, schema) if budget is not None else None
                again = None if room is not None and room < max_tokens else (conversation, max_tokens)
        if again is None or attempt >= cfg.max_reask:
            break
        attempt += 1
        client.usage.reasks += 1
        msgs, max_tokens = again
    if merged is None:
        return Parsed([None] * n, ["failed"] * n, "failed"), answer, False
    return merged, answer, cached


async def gather_all(coros):
    """Run all coroutines to the end, then re-raise the first exception (so that, in the Batch
    API's collect mode, every request of a query is collected before ``Pending`` propagates)."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def _label_logprobs(answer: Answer, scale: tuple[int, int]) -> tuple[float | None, float | None]:
    """Expected relevance and probability mass over the label tokens at the label position."""
    content = answer.logprobs
    if not content:
        return None, None
    labels = {str(v): v for v in range(scale[0], scale[1] + 1)}
    seen = ""
    for tok in content:
        text = tok.get("token", "")
        if text.strip() in labels and "label" in seen:
            probs: dict[str, float] = {}
            for alt in tok.get("top_logprobs") or [tok]:
                s = (alt.get("token") or "").strip()
                if s in labels and alt.get("logprob") is not None:
                    probs[s] = probs.get(s, 0.0) + math.exp(alt["logprob"])
            mass = sum(probs.values())
            if mass <= 0:
                return None, None
            expected = sum(labels[s] * p for s, p in probs.items()) / mass
            return expected, min(mass, 1.0)
        seen += text
    return None, None


# -- PointAnn ----------------------------------------------------------------------------
async def run_point(client: LLMClient, cfg: StrategyConfig, query: str, docs: list[Doc]) -> Outcome:
    prompt = _prompt(cfg, query)
    lo, hi = cfg.scale
    schema = {
        "type": "object",
        "properties": {"label": {"type": "integer", "enum": list(range(lo, hi + 1))}},
        "required": ["label"],
        "additionalProperties": False,
    }

    def result(parsed: Parsed, answer: Answer | None, cached: bool):
        exp, conf = (None, None)
        if answer is not None and parsed.values[0] is not None and parsed.statuses[0] in _GOOD:
            exp, conf = _label_logprobs(answer, cfg.scale)
        return parsed.values[0], parsed.statuses[0], exp, conf, cached

    async def one(messages: list[dict]):
        parsed, answer, cached = await ask_parsed(client, cfg, prompt, messages, schema, lambda t: parse_point(t, cfg.scale), 1, 0, logprobs=cfg.logprobs)
        return result(parsed, answer, cached)

    # fast path: answers already in the cache that parse cleanly need no task and no await
    # (one batched cache lookup for the whole query)
    res: list = [None] * len(docs)
    todo = []
    all_messages = [request_messages(cfg, prompt, query, [d]) for d in docs]
    hits = client.peek_many(all_messages, schema, prompt_version=prompt.version, sample=0, logprobs=cfg.logprobs)
    for j, (messages, hit) in enumerate(zip(all_messages, hits)):
        if hit is not None and hit.finish_reason != "content_filter":
            parsed = parse_point(hit.content, cfg.scale)
            if parsed.call_status in _GOOD:
                res[j] = result(parsed, hit, True)
                continue
        todo.append((j, messages))
    if todo:
        done = await gather_all(one(m) for _, m in todo)
        for (j, _), r in zip(todo, done):
            res[j] = r
    return Outcome([r[0] for r in res], [r[1] for r in res], [r[2] for r in res], [r[3] for r in res], None, all(r[4] for r in res))


# -- shared list machinery -----------------------------------------------------------------
def permutation(n: int, k: int, seed: int) -> list[int]:
    """Permutation ``k`` of ``range(n)``: 0 is the identity, k >= 1 a shuffle seeded by (seed, k)."""
    order = list(range(n))
    if k:
        random.Random(seed * 1_000_003 + k).shuffle(order)
    return order


def _aggregate_labels(per_perm: list[list], per_status: list[list[str]], n: int):
    labels, statuses, agreement = [], [], []
    for j in range(n):
        vals = [p[j] for p in per_perm if p[j] is not None]
        sts = [s[j] for s in per_status]
        if not vals:
            labels.append(None)
            statuses.append(next((s for s in sts if s not in _GOOD), sts[0]))
            agreement.append(None)
            continue
        counts = Counter(vals)
        top = max(counts.values())
        label = min(v for v, c in counts.items() if c == top)
        labels.append(label)
        bad = [s for s in sts if s not in _GOOD]
        statuses.append(bad[0] if bad else sts[0])
        agreement.append(top / len(vals))
    return labels, statuses, agreement


def _list_schema(strategy: str, n: int, scale: tuple[int, int]) -> dict:
    """The JSON schema of a list answer for a window of ``n`` documents, bounded everywhere:
    ids in 1..n, labels in the scale's enum, and the array's length fixed where the strategy
    fixes it (ListAnn: exactly n items; ListRank: exactly n ids; ListSel: at most n ids).

    An unbounded array let a grammar-constrained small model append items until max_tokens:
    every SmolLM2 ListAnn answer ended ``length`` (issue 21). The keywords used here are the
    ones llama.cpp's converters (GBNF ``json-schema-to-grammar`` and llguidance), vLLM's guided
    decoding backends (xgrammar, guidance, outlines) and OpenAI's strict structured outputs
    accept: ``type``, ``properties``, ``required``, ``additionalProperties: false``, ``items``,
    ``minItems``/``maxItems``, ``minimum``/``maximum``, ``enum``; no ``uniqueItems`` or
    ``prefixItems``. A server that refuses the schema anyway gets it in the prompt instead
    (:class:`~gbltr.labels.llm.client.LLMClient`'s mode fallback), and every answer is still
    validated here (:mod:`gbltr.labels.llm.parse`: ids, duplicates, count), whatever the server did.
    """
    ids = {"type": "integer", "minimum": 1, "maximum": n}
    if strategy == "list":
        item = {
            "type": "object",
            "properties": {"id": ids, "label": {"type": "integer", "enum": list(range(scale[0], scale[1] + 1))}},
            "required": ["id", "label"],
            "additionalProperties": False,
        }
        labels = {"type": "array", "items": item, "minItems": n, "maxItems": n}
        return {"type": "object", "properties": {"labels": labels}, "required": ["labels"], "additionalProperties": False}
    key = "ranking" if strategy == "listrank" else "relevant"
    array = {"type": "array", "items": ids, "minItems": n if strategy == "listrank" else 0, "maxItems": n}
    return {"type": "object", "properties": {key: array}, "required": [key], "additionalProperties": False}


async def _chunked(client: LLMClient, cfg: StrategyConfig, query: str, docs: list[Doc], parse_factory) -> Outcome:
    """ListAnn / ListSel: chunks of ``window`` docs, each in K permutations."""
    prompt = _prompt(cfg, query)
    n = len(docs)
    per_perm = [[None] * n for _ in range(cfg.permutations)]
    per_status = [["failed"] * n for _ in range(cfg.permutations)]
    cached_all = True

    async def chunk_call(k: int, start: int):
        nonlocal cached_all
        idx = list(range(start, min(start + cfg.window, n)))
        order = [idx[i] for i in permutation(len(idx), k, cfg.seed)]
        shown = [docs[i] for i in order]
        m = len(shown)
        messages = request_messages(cfg, prompt, query, shown)
        parsed, _, cached = await ask_parsed(client, cfg, prompt, messages, _list_schema(cfg.strategy, m, cfg.scale), parse_factory(m), m, k)
        cached_all = cached_all and cached
        for pos, j in enumerate(order):
            per_perm[k][j] = parsed.values[pos]
            per_status[k][j] = parsed.statuses[pos]

    await gather_all(chunk_call(k, s) for k in range(cfg.permutations) for s in range(0, n, cfg.window))
    labels, statuses, agreement = _aggregate_labels(per_perm, per_status, n)
    return Outcome(labels, statuses, agreement=agreement if cfg.permutations > 1 else None, cached=cached_all)


async def run_list(client, cfg, query, docs):
    return await _chunked(client, cfg, query, docs, lambda m: (lambda t: parse_list(t, m, cfg.scale)))


async def run_listsel(client, cfg, query, docs):
    return await _chunked(client, cfg, query, docs, lambda m: (lambda t: parse_selection(t, m)))


def rank_to_grades(n: int, scale: tuple[int, int]) -> list[int]:
    """Grade of final position r = 1..n: equal-size bins, best bin = scale max (module docstring)."""
    lo, hi = scale
    g = hi - lo + 1
    return [lo + min(g - 1, (g * (n - r)) // n) for r in range(1, n + 1)]


async def run_listrank(client: LLMClient, cfg: StrategyConfig, query: str, docs: list[Doc]) -> Outcome:
    """RankGPT sliding window per permutation; positions averaged over permutations."""
    prompt = _prompt(cfg, query)
    n = len(docs)
    cached_all = True

    async def chain(k: int):
        nonlocal cached_all
        order = permutation(n, k, cfg.seed)  # order[pos] = doc index
        status = ["ok"] * n
        end = n
        while True:
            start = max(0, end - cfg.window)
            window = order[start:end]
            shown = [docs[i] for i in window]
            m = len(shown)
            if m > 1:
                messages = request_messages(cfg, prompt, query, shown)
                parsed, _, cached = await ask_parsed(client, cfg, prompt, messages, _list_schema("listrank", m, cfg.scale), lambda t, m=m: parse_ranking(t, m), m, k)
                cached_all = cached_all and cached
                if all(v is None for v in parsed.values):  # the window stays in its current order
                    for i in window:
                        if status[i] in _GOOD:
                            status[i] = parsed.call_status
                else:
                    # ranked ids first (by the model's order), left-out ids after, in shown order (RankGPT)
                    keyed = [(parsed.values[p] if parsed.values[p] is not None else m + 1 + p, window[p]) for p in range(m)]
                    for p in range(m):
                        if parsed.statuses[p] not in _GOOD and status[window[p]] in _GOOD:
                            status[window[p]] = parsed.statuses[p]
                    order[start:end] = [i for _, i in sorted(keyed)]
            if start == 0:
                break
            end -= cfg.stride
        positions = [0] * n
        for pos, i in enumerate(order, 1):
            positions[i] = pos
        return positions, status

    chains = await gather_all(chain(k) for k in range(cfg.permutations))
    mean_rank = [sum(c[0][i] for c in chains) / len(chains) for i in range(n)]
    final = sorted(range(n), key=lambda i: (mean_rank[i], i))
    grades_by_pos = rank_to_grades(n, cfg.scale)
    labels: list = [None] * n
    for pos, i in enumerate(final):
        labels[i] = float(grades_by_pos[pos])
    statuses = []
    for i in range(n):
        sts = [c[1][i] for c in chains]
        bad = [s for s in sts if s not in _GOOD]
        if len(bad) == len(sts) and any(s in ("failed", "content_filter", "invalid_json", "length") for s in bad):
            labels[i] = None  # no permutation ranked this document: nothing to grade
        statuses.append(bad[0] if bad else "ok")
    agreement = None
    if cfg.permutations > 1:
        agreement = []
        for i in range(n):
            own = [float(grades_by_pos[c[0][i] - 1]) for c in chains]
            agreement.append(sum(1 for g in own if g == labels[i]) / len(own) if labels[i] is not None else None)
    return Outcome(labels, statuses, agreement=agreement, cached=cached_all)


STRATEGIES = {"point": run_point, "list": run_list, "listrank": run_listrank, "listsel": run_listsel}
