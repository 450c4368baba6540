"""Robust chat-completion calls against any OpenAI-compatible endpoint.

What one :meth:`LLMClient.ask` does, in order:

1. look the request up in the :class:`~gbltr.labels.llm.cache.AnswerCache` (no network on a hit);
2. wait for a concurrency slot and the RPM/TPM :class:`~gbltr.labels.llm.limiter.RateLimiter`
   (time spent waiting here is not part of the request timeout: the SDK's clock starts when the
   request is sent);
3. call with ``response_format=json_schema`` (structured outputs). A 400/422 that rejects the
   response format downgrades the client, once for all later calls, to ``json_object`` with the
   schema written into the system prompt (what llama.cpp-style servers accept), then to plain
   text; answers are parsed tolerantly either way (:mod:`gbltr.labels.llm.parse`);
4. transport failures are the SDK's business: it retries 429 (honouring Retry-After), 5xx,
   timeouts and connection errors up to ``retries`` times (``max_retries``), and a request that
   still fails is :class:`CallFailed`. There is no second retry loop here, so a request is sent
   at most ``1 + retries`` times. Content problems are re-asked one level up, by
   :func:`gbltr.labels.llm.strategies.ask_parsed` (``max_reask``): an empty or malformed answer
   (:class:`UnusableAnswer`), invalid JSON, missing ids, ``finish_reason=length``;
5. 401, 403, 404 and ``insufficient_quota`` raise :class:`FatalAPIError` at once: the run stops
   early instead of failing every remaining request;
6. the response body is committed to the cache before it is returned.

Step 3-5's HTTP call is :func:`post_chat`, which turns every SDK outcome into a small tuple that
:meth:`LLMClient._settle` classifies; with ``workers > 1`` the same function runs in worker
processes (:mod:`gbltr.labels.llm.workers`) while steps 1, 2 and 6 stay in this process.
Only the SDK's public API is used (``chat.completions.with_raw_response.create``).

The API key is read from the environment (``api_key_env``, default ``OPENAI_API_KEY``) and
handed to the SDK only; it is never part of a cache key, a cache value or a log line.
Credentials written into ``base_url`` (``https://user:pass@host/v1``, ``?api_key=...``) are
shown only through :func:`redact_url`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from gbltr.errors import ConfigError, GbltrError, unknown_choice
from gbltr.labels.llm.cache import AnswerCache, key_prefix, message_keys, request_key
from gbltr.labels.llm.diagnose import Evidence
from gbltr.labels.llm.limiter import RateLimiter
from gbltr.labels.llm.prompts import approx_tokens
from gbltr.ranges import Range, check_fields, count, number, positive

MODES = ("json_schema", "json_object", "text")
_UNUSABLE = object()  # what an in-flight request tells identical waiting ones after an UnusableAnswer
_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|pwd|auth|sig|signature|credential)", re.I)


def redact_url(url: str | None) -> str | None:
    """``url`` with credentials hidden: the user-info part (``user:pass@``) and the values of
    query parameters whose name looks like a secret (``api_key``, ``token``, ``sig`` ...) become
    ``***``. Used wherever a base URL is shown (run record, stdout, error messages)."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        query = "&".join(
            (k + "=***") if _SECRET_PARAM.search(k) else (k + ("=" + v if sep else ""))
            for k, sep, v in (item.partition("=") for item in query.split("&"))
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class FatalAPIError(GbltrError, RuntimeError):
    """The endpoint refuses every request (bad key, no access, unknown model, no quota)."""


class CallFailed(Exception):
    """One request failed after the SDK's retries; its labels are recorded as missing (``failed``)."""


class ContextOverflow(CallFailed):
    """The server refused the request as longer than the model's context (HTTP 400): the same
    request cannot succeed, so it is not re-asked; its labels are ``context_overflow``.
    ``prompt_tokens`` and ``context`` are the server's numbers when its error gives them."""

    def __init__(self, message: str, prompt_tokens: int | None = None, context: int | None = None):
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context = context


class UnusableAnswer(CallFailed):
    """The server answered 200, but with nothing usable (empty content, no ``choices``): a
    content-level failure that :func:`~gbltr.labels.llm.strategies.ask_parsed` re-asks."""

    def __init__(self, message: str, finish_reason: str | None = None):
        super().__init__(message)
        self.finish_reason = finish_reason


class Pending(Exception):
    """Raised in collect mode (Batch API) for a request that is not in the cache yet."""


@dataclass(frozen=True)
class ClientConfig:
    """How to reach the model and how hard to try; the ``[client]`` section of an annotate
    config (:class:`gbltr.labels.llm.config.AnnotateConfig`). Sampling defaults are
    deterministic. ``retries`` is the SDK's ``max_retries`` for transport failures (429, 5xx,
    timeouts, connection errors); ``timeout`` is per attempt, from the moment it is sent."""

    model: str = ""  # required to send; `gbltr annotate --local` fills in the local model
    base_url: str | None = None  # None = the SDK default (api.openai.com)
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = number(8, count(1))  # requests in flight (with --local: 1, see gbltr.labels.llm.local)
    rpm: float | None = number(None, Range(low=0.0, note="0 = no limit"))  # None or 0: no limit
    tpm: float | None = number(None, Range(low=0.0, note="0 = no limit"))  # None or 0: no limit
    timeout: float = number(60.0, positive())  # seconds per attempt (with --local: LOCAL_CLIENT_DEFAULTS)
    retries: int = number(2, count(0, 100))
    temperature: float = number(0.0, Range(low=0.0, high=2.0))  # the OpenAI API's range
    max_tokens: int = number(512, count(1))
    top_logprobs: int = number(5, count(0, 20))  # the OpenAI API's range
    mode: str = "json_schema"  # first response-format mode to try
    workers: int = number(1, count(1, 1024))  # processes that send requests (1 = in this process; see gbltr.labels.llm.workers)
    context_tokens: int | None = number(None, count(1))  # the model's context per request; None = ask the server (gbltr.labels.llm.context)

    def __post_init__(self):
        check_fields(self, "client")
        if self.mode not in MODES:
            raise unknown_choice("response mode", self.mode, MODES)

    @property
    def endpoint(self) -> str:
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    def api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        host = urlsplit(self.base_url or "").hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return "sk-local-dummy"  # local servers ignore the key
        raise ConfigError(
            f"no API key: expected the environment variable {self.api_key_env} to be set, found it empty; "
            "export it (keys are never read from flags or files, nor written anywhere)"
        )


@dataclass
class Answer:
    """One response: the body as returned (a dict), plus where it came from."""

    body: dict
    key: str
    cached: bool

    @property
    def choice(self) -> dict:
        choices = self.body.get("choices") or [{}]
        return choices[0]

    @property
    def content(self) -> str:
        return (self.choice.get("message") or {}).get("content") or ""

    @property
    def finish_reason(self) -> str | None:
        return self.choice.get("finish_reason")

    @property
    def logprobs(self) -> list | None:
        lp = self.choice.get("logprobs") or {}
        return lp.get("content")

    @property
    def usage(self) -> dict:
        return self.body.get("usage") or {}


@dataclass
class Usage:
    """Token counts of fresh (non-cached) calls, for cost accounting."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hits: int = 0
    failures: int = 0  # requests that failed after the SDK's retries
    reasks: int = 0  # content-level re-asks (see gbltr.labels.llm.strategies.ask_parsed)

    def add(self, usage: dict) -> None:
        self.calls += 1
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        self.cached_tokens += int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        self.reasoning_tokens += int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)


def schema_response_format(name: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _schema_hint(schema: dict) -> str:
    return "\n\nRespond with a single JSON object that validates against this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)


def format_rejected(text: str) -> bool:
    """Whether an error text says the server rejected the response format (structured outputs)."""
    text = text.lower()
    return any(w in text for w in ("response_format", "json_schema", "json_object", "schema", "structured"))


_OVERFLOW_WORDS = ("exceed_context_size", "context_length_exceeded", "maximum context length", "exceeds the available context", "context size", "context window")
_LLAMA_OVERFLOW = re.compile(r"\((\d+) tokens\) exceeds the available context size \((\d+) tokens\)")
_MAX_CONTEXT = re.compile(r"maximum context length is (\d+)")
_MESSAGE_TOKENS = re.compile(r"(\d+) (?:tokens )?in the messages|messages resulted in (\d+)")


def context_overflow(body, text: str) -> tuple[int | None, int | None] | None:
    """``(prompt_tokens, context)`` when an error (its JSON ``body`` and ``text``) says the request
    is longer than the model's context, else None. Understood: llama.cpp's
    ``exceed_context_size_error`` (with ``n_prompt_tokens`` and ``n_ctx``), OpenAI's
    ``context_length_exceeded`` and vLLM's "maximum context length is N tokens ... M in the
    messages"."""
    err = body.get("error", body) if isinstance(body, dict) else {}
    err = err if isinstance(err, dict) else {}
    blob = (json.dumps(err, default=str) + " " + (text or "")).lower()
    if not any(w in blob for w in _OVERFLOW_WORDS):
        return None

    def as_int(v):
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    prompt, context = as_int(err.get("n_prompt_tokens")), as_int(err.get("n_ctx"))
    if m := _LLAMA_OVERFLOW.search(blob):
        prompt, context = prompt or int(m.group(1)), context or int(m.group(2))
    if m := _MAX_CONTEXT.search(blob):
        context = context or int(m.group(1))
    if m := _MESSAGE_TOKENS.search(blob):
        prompt = prompt or int(m.group(1) or m.group(2))
    return prompt, context


def _is_format_rejection(exc) -> bool:
    return format_rejected(str(getattr(exc, "message", "")) + " " + json.dumps(getattr(exc, "body", None) or {}, default=str))


class LLMClient:
    """Cached, rate-limited, retrying chat completions for one model at one endpoint."""

    def __init__(self, config: ClientConfig, cache: AnswerCache, *, collect: list | None = None, pool=None, budget=None):
        self.config = config
        self.cache = cache
        self.usage = Usage()
        self.budget = budget  # a gbltr.labels.llm.context.ContextBudget, or None (context unknown)
        self.evidence = Evidence()  # why labels went missing (gbltr.labels.llm.diagnose)
        self.collect = collect  # Batch API: cache misses are appended here and raise Pending
        self.pool = pool  # a gbltr.labels.llm.workers.WorkerPool: requests are sent by its processes
        self._sdk = None
        self._sem: asyncio.Semaphore | None = None
        self._limiter: RateLimiter | None = None
        self._fatal: FatalAPIError | None = None
        self._inflight: dict[str, asyncio.Future] = {}
        self._mode_key = request_key(config.endpoint, {"model": config.model, "meta": "response_mode"}, prompt_version="")
        stored = cache.get(self._mode_key)
        self.mode = stored["mode"] if stored and stored.get("mode") in MODES else config.mode

    # -- request construction -------------------------------------------------------------
    def body(self, messages: list[dict], schema: dict, *, max_tokens: int | None = None, logprobs: bool = False, mode: str | None = None) -> dict:
        """The chat-completions body for the current response mode (what the cache keys on)."""
        c = self.config
        mode = mode or self.mode
        body: dict = {"model": c.model, "temperature": c.temperature, "max_tokens": max_tokens or c.max_tokens}
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = c.top_logprobs
        if mode == "json_schema":
            body["response_format"] = schema_response_format("relevance", schema)
            body["messages"] = messages
        else:
            msgs = [dict(m) for m in messages]
            msgs[0]["content"] = msgs[0]["content"] + _schema_hint(schema)
            body["messages"] = msgs
            if mode == "json_object":
                body["response_format"] = {"type": "json_object"}
        return body

    def key(self, body: dict, *, prompt_version: str, sample: int = 0) -> str:
        return request_key(self.config.endpoint, body, prompt_version=prompt_version, sample=sample)

    # -- calling --------------------------------------------------------------------------
    def _client(self):
        if self._sdk is None:
            try:
                import openai
            except ImportError as exc:  # pragma: no cover - openai is a core dependency
                raise ConfigError("the LLM annotator needs the openai package; pip install openai") from exc
            c = self.config
            if not c.model:
                raise ConfigError("no model name: expected --model (the model name at the endpoint), found none")
            self._sdk = openai.AsyncOpenAI(api_key=c.api_key(), base_url=c.base_url, timeout=c.timeout, max_retries=c.retries)
        return self._sdk

    def _ready(self) -> None:
        """The semaphore and limiter of this event loop; the SDK client only without a pool."""
        if self._sem is None:
            c = self.config
            self._sem = asyncio.Semaphore(c.concurrency)  # with a pool: the total over its workers
            self._limiter = RateLimiter(c.rpm, c.tpm)
        if self.pool is None:
            self._client()

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None
        if self.pool is not None:
            self.pool.detach()
        self._sem = None  # both belong to the event loop that is ending
        self._limiter = None

    def _set_mode(self, mode: str) -> None:
        if MODES.index(mode) > MODES.index(self.mode):
            self.mode = mode
            self.cache.put(self._mode_key, {"mode": mode})

    def peek(self, messages: list[dict], schema: dict, *, prompt_version: str, sample: int = 0, max_tokens: int | None = None, logprobs: bool = False) -> Answer | None:
        """The cached answer to exactly what :meth:`ask` would send now, or None (no network)."""
        body = self.body(messages, schema, max_tokens=max_tokens, logprobs=logprobs)
        key = self.key(body, prompt_version=prompt_version, sample=sample)
        hit = self.cache.get(key)
        if hit is None:
            return None
        self.usage.cache_hits += 1
        return Answer(hit, key, True)

    def peek_many(self, messages_list: list[list[dict]], schema: dict, *, prompt_version: str, sample: int = 0, max_tokens: int | None = None, logprobs: bool = False) -> list[Answer | None]:
        """:meth:`peek` for many requests that differ only in their messages: the same keys, but
        the shared part of the key is hashed once and the cache is read with one query per chunk."""
        if not messages_list:
            return []
        bodies = [self.body(m, schema, max_tokens=max_tokens, logprobs=logprobs) for m in messages_list]
        prefix = key_prefix(self.config.endpoint, bodies[0], prompt_version=prompt_version, sample=sample)
        keys = message_keys(prefix, [b["messages"] for b in bodies])
        hits = self.cache.get_many(keys)
        self.usage.cache_hits += len(hits)
        return [Answer(hits[k], k, True) if k in hits else None for k in keys]

    async def ask(self, messages: list[dict], schema: dict, *, prompt_version: str, sample: int = 0, max_tokens: int | None = None, logprobs: bool = False) -> Answer:
        """One answer, from the cache or the endpoint, sent at most ``1 + retries`` times (the
        SDK's retries; a rejected response format re-sends in the next mode). Raises
        :class:`CallFailed` (:class:`UnusableAnswer` for an empty or malformed 200) or
        :class:`FatalAPIError`."""
        while True:  # loops only when the response format was rejected: at most len(MODES) times
            if self._fatal is not None:  # another request already proved the endpoint refuses us
                raise self._fatal
            mode = self.mode
            body = self.body(messages, schema, max_tokens=max_tokens, logprobs=logprobs, mode=mode)
            key = self.key(body, prompt_version=prompt_version, sample=sample)
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cache_hits += 1
                return Answer(hit, key, True)
            if self.collect is not None:
                self.collect.append((key, body))
                raise Pending(key)
            if key in self._inflight:  # the same request is already on its way: share its answer
                data = await asyncio.shield(self._inflight[key])
                if data is _UNUSABLE:
                    raise UnusableAnswer("the identical concurrent request got an unusable answer")
                if data is None:
                    raise CallFailed("the identical concurrent request failed")
                self.usage.cache_hits += 1
                return Answer(data, key, True)
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
            try:
                answer = await self._send(body, key, mode)
            except FatalAPIError as exc:
                self._fatal = exc
                raise
            except _ModeChanged:
                continue
            except UnusableAnswer:
                future.set_result(_UNUSABLE)  # requests waiting on this one re-ask too
                raise
            except CallFailed:
                self.usage.failures += 1
                raise
            else:
                future.set_result(answer.body)
                return answer
            finally:
                self._inflight.pop(key, None)
                if not future.done():
                    future.set_result(None)

    async def _send(self, body: dict, key: str, mode: str) -> Answer:
        """One request (SDK retries included), here or in a worker process; classifies the outcome."""
        self._ready()
        async with self._sem:
            if self._fatal is not None:  # it happened while this request waited for a slot
                raise self._fatal
            if self._limiter.limited:
                await self._limiter.acquire(approx_tokens(json.dumps(body["messages"], ensure_ascii=False)) + body["max_tokens"])
            if self.pool is None:
                outcome = await post_chat(self._sdk, body)
            else:
                outcome = await self.pool.post(body)
        return self._settle(outcome, key, mode)

    def _settle(self, outcome: tuple, key: str, mode: str) -> Answer:
        """The answer of a :func:`post_chat` outcome, or the exception it stands for."""
        kind = outcome[0]
        if kind == "ok":
            try:
                data = json.loads(outcome[1])
            except ValueError:
                data = None
            if not isinstance(data, dict) or not data.get("choices"):
                raise UnusableAnswer(f"malformed response body (no 'choices'): {str(data)[:200]}")
            answer = Answer(data, key, False)
            if answer.finish_reason != "content_filter" and not answer.content.strip():
                raise UnusableAnswer(
                    "empty answer (a reasoning model may have spent max_tokens thinking; raise max_tokens)", answer.finish_reason
                )
            self.cache.put(key, data)
            self.usage.add(answer.usage)
            return answer
        if kind == "refused":
            _, status, name = outcome
            raise FatalAPIError(
                f"the endpoint {redact_url(self.config.endpoint)} refused the request with HTTP {status} "
                f"({name}); expected 200. Check the API key variable {self.config.api_key_env}, "
                f"the model name {self.config.model!r} and --base-url"
            )
        if kind == "bad_request":
            _, status, text, rejected, overflow = outcome
            if overflow is not None:
                raise ContextOverflow(f"HTTP {status}: {text}", *overflow)
            if mode != "text" and rejected:
                self._set_mode(MODES[MODES.index(mode) + 1])
                raise _ModeChanged()
            raise CallFailed(f"HTTP {status}: {text}")
        if kind == "rate_limited":
            if outcome[1]:
                raise FatalAPIError(
                    f"the endpoint {redact_url(self.config.endpoint)} reports insufficient_quota; expected spare quota. "
                    "Add credit or lower the request volume (--limit-queries), then rerun: answers so far are cached"
                )
            raise CallFailed(f"HTTP 429 after {self.config.retries} SDK retries")
        if kind == "error":
            raise CallFailed(f"{outcome[1]} (after {self.config.retries} SDK retries)")
        raise GbltrError(f"an annotator worker process failed unexpectedly: {outcome[1]}; rerun with --workers 1 for the full traceback")


async def post_chat(sdk, body: dict) -> tuple:
    """POST one chat-completions ``body`` with the SDK client ``sdk`` (its public
    ``chat.completions.with_raw_response.create``; the SDK retries transport failures); the
    outcome as a picklable tuple (what a worker process sends back, see
    :mod:`gbltr.labels.llm.workers`):

    * ``("ok", raw_body_bytes)``: the body as the server sent it (fields the SDK does not model
      kept, no pydantic round trip)
    * ``("refused", status, error_class)``: 401 / 403 / 404, the run stops
    * ``("bad_request", status, text, format_rejected, overflow)``: 400 / 422; ``overflow`` is
      ``(prompt_tokens, context)`` (either may be None) when the server says the request
      exceeds the model's context (:func:`context_overflow`), else None
    * ``("rate_limited", insufficient_quota)``: 429 after the SDK's retries (Retry-After honoured)
    * ``("error", text)``: 5xx, timeouts, connection errors after the SDK's retries
    """
    import openai

    try:
        raw = await sdk.chat.completions.with_raw_response.create(**body)
    except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
        return ("refused", exc.status_code, type(exc).__name__)
    except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
        return ("bad_request", exc.status_code, str(exc)[:300], _is_format_rejection(exc), context_overflow(exc.body, str(exc)))
    except openai.RateLimitError as exc:
        return ("rate_limited", "insufficient_quota" in (str(exc) + json.dumps(exc.body or {}, default=str)))
    except (openai.APIConnectionError, openai.InternalServerError, openai.APIStatusError) as exc:
        return ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
    return ("ok", raw.content)


class _ModeChanged(Exception):
    """The response format was rejected and the client moved to the next mode."""
