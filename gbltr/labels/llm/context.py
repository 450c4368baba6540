"""The model's context, and requests sized to fit it (issue 21).

Before the first call, ``gbltr annotate`` learns how many tokens one request may hold
(:func:`resolve_budget`):

* ``--context-tokens N`` (``[client] context_tokens``) when given;
* else the server's own word: llama.cpp's ``GET /props`` (``default_generation_settings.n_ctx``,
  the context of one server slot), then ``GET /v1/models`` (vLLM's ``max_model_len``,
  llama.cpp's ``meta.n_ctx``);
* else it is unknown (the OpenAI API says nothing): nothing is resized, and a request the server
  refuses as too long is reported as ``context_overflow`` with the numbers the server gives.

It also learns how many of the server's tokens one estimated token is worth:
:func:`~gbltr.labels.llm.prompts.approx_tokens` counts about 4 characters per token, but a
tokenizer may split far finer (SmolLM2 splits the simulated world's word ``t4452`` into 5
tokens, where the estimate says 1.5). One rendered prompt is tokenized at the server's
``POST /tokenize`` (llama.cpp, vLLM) and the ratio kept, with a 5 % margin; without that
endpoint the ratio is 1.

:func:`fit_strategy` then keeps the largest ``window`` (then, if one window of the smallest size
still does not fit, the largest ``doc_tokens``) whose largest prompt plus the answer budget
``max_tokens`` fits the context, and says once what it changed. The largest prompt is rendered
exactly as the strategies render it (:func:`gbltr.labels.llm.strategies.request_messages`) from
the longest query and the longest documents of the run.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass, replace

from gbltr.errors import ConfigError
from gbltr.labels.llm.prompts import approx_tokens, detect_language, load_prompt, truncate_tokens

MESSAGE_OVERHEAD = 8
"""Tokens a chat template adds per message (role markers), on top of its content."""
MARGIN = 1.05
"""Factor on the measured tokens-per-estimate ratio: documents tokenize unevenly."""
PROBE_TIMEOUT = 10.0
"""Seconds for each probe request (``/props``, ``/v1/models``, ``/tokenize``)."""


@dataclass(frozen=True)
class ContextBudget:
    """How much one request may hold: ``tokens`` of context (None = unknown) learnt from
    ``source``, and ``per_estimate`` server tokens per :func:`approx_tokens` token."""

    tokens: int | None
    source: str
    per_estimate: float = 1.0

    def prompt_tokens(self, messages: list[dict], schema: dict | None = None) -> int:
        """Estimated server tokens of a prompt of ``messages`` (and ``schema``, counted as if it
        were written into the prompt, as it is when the server refuses structured outputs)."""
        text = "".join(m["content"] for m in messages) + (json.dumps(schema, ensure_ascii=False) if schema else "")
        return math.ceil(self.per_estimate * approx_tokens(text)) + MESSAGE_OVERHEAD * len(messages)

    def answer_room(self, messages: list[dict], schema: dict | None = None) -> int | None:
        """Tokens left for the answer after this prompt (None: the context is unknown)."""
        if self.tokens is None:
            return None
        return self.tokens - self.prompt_tokens(messages, schema)


def _root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _http_json(url: str, headers: dict, body: dict | None = None):
    """The JSON answer of a GET (or a POST of ``body``), or None on any failure."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={**headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _positive(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def server_context(base_url: str, model: str, headers: dict | None = None) -> tuple[int | None, str]:
    """``(tokens, source)``: the context of one request as the server at ``base_url`` reports it."""
    headers = headers or {}
    props = _http_json(_root(base_url) + "/props", headers)
    if isinstance(props, dict):
        n = _positive((props.get("default_generation_settings") or {}).get("n_ctx"))
        if n:
            return n, "the server's /props"
    models = _http_json(base_url.rstrip("/") + "/models", headers)
    data = models.get("data") if isinstance(models, dict) else None
    if isinstance(data, list):
        entries = [m for m in data if isinstance(m, dict)]
        chosen = [m for m in entries if m.get("id") == model] or (entries if len(entries) == 1 else [])
        for m in chosen:
            n = _positive(m.get("max_model_len")) or _positive((m.get("meta") or {}).get("n_ctx"))
            if n:
                return n, "the server's /v1/models"
    return None, "unknown"


def server_tokens(base_url: str, model: str, text: str, headers: dict | None = None) -> int | None:
    """Tokens of ``text`` by the server's tokenizer (``POST /tokenize``), or None."""
    answer = _http_json(_root(base_url) + "/tokenize", headers or {}, {"content": text, "prompt": text, "model": model, "add_special": False})
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("tokens"), list):
        return len(answer["tokens"])
    return _positive(answer.get("count"))


def _headers(client) -> dict:
    try:
        return {"Authorization": f"Bearer {client.api_key()}"}
    except ConfigError:
        return {}


def resolve_budget(client, sample_messages: list[dict] | None = None) -> ContextBudget:
    """The :class:`ContextBudget` of ``client`` (a :class:`~gbltr.labels.llm.client.ClientConfig`):
    ``context_tokens`` if set, else what its server reports; the tokens-per-estimate ratio is
    measured on ``sample_messages`` (one rendered prompt) when the server tokenizes."""
    headers = _headers(client)
    if client.context_tokens is not None:
        tokens, source = client.context_tokens, "--context-tokens"
    else:
        tokens, source = server_context(client.endpoint, client.model, headers)
    ratio = 1.0
    if sample_messages and tokens is not None:  # the ratio only matters against a known context
        text = "".join(m["content"] for m in sample_messages)
        real = server_tokens(client.endpoint, client.model, text, headers) if client.base_url else None
        if real and approx_tokens(text):
            ratio = round(real / approx_tokens(text) * MARGIN, 3)
    return ContextBudget(tokens, source, ratio)


@dataclass(frozen=True)
class Fitted:
    """The strategy to run (``window`` / ``stride`` / ``doc_tokens`` possibly lowered), the
    largest prompt it makes (estimated server tokens), and ``note``: what was changed and why
    (None when nothing was)."""

    strategy: object
    largest_prompt: int | None
    note: str | None = None


def _longest(items: list[str], k: int) -> list[str]:
    return sorted(items, key=approx_tokens, reverse=True)[:k]


def largest_messages(strategy, groups) -> tuple[list[dict], int] | None:
    """The messages of the largest request of ``strategy`` over ``groups`` (the longest query
    with the longest documents, ``window`` of them or as many as one query has) and its number
    of documents, or None without pairs. Renders through
    :func:`gbltr.labels.llm.strategies.request_messages`."""
    from gbltr.labels.llm.strategies import Doc, request_messages

    if not groups:
        return None
    per_call = 1 if strategy.strategy == "point" else min(strategy.window, max(len(docs) for _, _, docs in groups))
    texts = [truncate_tokens(d.text, strategy.doc_tokens) for _, _, docs in groups for d in docs]
    docs = [Doc(str(i), t) for i, t in enumerate(_longest(texts, per_call), 1)]
    worst = None
    for lang in sorted({detect_language(q) if strategy.lang == "auto" else strategy.lang for _, q, _ in groups}):
        query = _longest([q for _, q, _ in groups if strategy.lang != "auto" or detect_language(q) == lang], 1)[0]
        msgs = request_messages(strategy, load_prompt(strategy.strategy, lang), query, docs)
        if worst is None or approx_tokens("".join(m["content"] for m in msgs)) > approx_tokens("".join(m["content"] for m in worst)):
            worst = msgs
    return worst, per_call


def fit_strategy(strategy, groups, budget: ContextBudget, max_tokens: int) -> Fitted:
    """``strategy`` (a :class:`~gbltr.labels.llm.strategies.StrategyConfig`) with the largest
    window, then doc budget, whose largest prompt over ``groups`` plus ``max_tokens`` fits
    ``budget``; unchanged when it fits or the context is unknown. Raises
    :class:`~gbltr.errors.ConfigError` when not even one document at one token fits."""
    from gbltr.labels.llm.strategies import _list_schema

    def need(s) -> int | None:
        largest = largest_messages(s, groups)
        if largest is None:
            return None
        msgs, n = largest
        return budget.prompt_tokens(msgs, None if s.strategy == "point" else _list_schema(s.strategy, n, s.scale))

    first = need(strategy)
    if budget.tokens is None or first is None or first + max_tokens <= budget.tokens:
        return Fitted(strategy, first)
    fits = lambda s: need(s) + max_tokens <= budget.tokens  # noqa: E731
    smallest = 2 if strategy.strategy == "listrank" else 1
    lo, hi = smallest, strategy.window  # largest window that fits, by bisection (need grows with the window)
    fitted = None
    if strategy.strategy != "point" and fits(replace(strategy, window=lo, stride=1)):
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(replace(strategy, window=mid, stride=1)) else (lo, mid - 1)
        if strategy.strategy == "listrank":  # the same overlap, in proportion
            stride = max(1, min(lo, round(strategy.stride * lo / strategy.window)))
            fitted, changed = replace(strategy, window=lo, stride=stride), f"--window {lo} --stride {stride}"
        else:
            fitted, changed = replace(strategy, window=lo), f"--window {lo}"
    else:
        base = replace(strategy, window=smallest, stride=min(strategy.stride, smallest)) if strategy.strategy != "point" else strategy
        if not fits(replace(base, doc_tokens=1)):
            raise ConfigError(
                f"prompts of even {smallest} document(s) cut to 1 token are about {need(replace(base, doc_tokens=1))} tokens; "
                f"with --max-tokens {max_tokens} they exceed the model's context {budget.tokens} ({budget.source}). "
                "Lower --max-tokens, or give the real context with --context-tokens"
            )
        lo, hi = 1, strategy.doc_tokens
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(replace(base, doc_tokens=mid)) else (lo, mid - 1)
        fitted = replace(base, doc_tokens=lo)
        changed = (f"--window {smallest} " if strategy.strategy != "point" else "") + f"--doc-tokens {lo}"
    shown = "1 document" if strategy.strategy == "point" else f"{min(strategy.window, max(len(d) for _, _, d in groups))} documents"
    note = (
        f"note: the model's context is {budget.tokens} tokens ({budget.source}); prompts of {shown} at "
        f"--doc-tokens {strategy.doc_tokens} would be about {first} tokens, plus --max-tokens {max_tokens} for the "
        f"answer; annotating with {changed} instead, so that every prompt fits"
    )
    return Fitted(fitted, need(fitted), note)
