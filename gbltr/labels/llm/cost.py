"""Token accounting and cost: a user-supplied price table and a dry run that spends nothing.

Price table (TOML or JSON), USD per one million tokens::

    batch_discount = 0.5            # factor applied to every price under --batch
    [models."gpt-4o-mini"]
    input = 0.15
    cached_input = 0.075            # optional; defaults to input
    output = 0.60                   # reasoning tokens are billed as output

:func:`dry_run` runs the real strategy code against a stand-in client that renders each request
body exactly as it would be sent and answers with a minimal valid answer, so every prompt of
every window is rendered; prompt tokens are estimated with
:func:`gbltr.labels.llm.prompts.approx_tokens` (about 4 characters or 1 CJK character per
token) and completion tokens from the size of a valid answer.

:func:`point_tokens` gives the same numbers for the pointwise strategy without rendering each
request (one request per pair; a plan of a large log has hundreds of thousands): every pointwise
request is one template per language with the query and the delimited document filled in, and
:func:`~gbltr.labels.llm.prompts.approx_tokens` of the request depends only on its length and its
CJK characters, which add up over the template's parts. Each distinct query is measured once and
the documents are counted in vectorised string operations; the rest is arithmetic on arrays. It is checked against :func:`unit_usage` in
tests/reliability/test_budget.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import ConfigError, InputError
from gbltr.inputs import field, read_document
from gbltr.labels.llm.annotate import _annotate_async
from gbltr.labels.llm.cache import AnswerCache
from gbltr.labels.llm.client import Answer, ClientConfig, LLMClient, Usage
from gbltr.labels.llm.prompts import approx_tokens
from gbltr.words import counted


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cached_input: float


@dataclass(frozen=True)
class PriceTable:
    models: dict
    batch_discount: float = 0.5

    @classmethod
    def load(cls, path: str | Path) -> "PriceTable":
        path = Path(path)
        data = read_document(path, "price table", "models.NAME tables with input and output prices (USD per 1M "
                             "tokens; optional cached_input), and an optional batch_discount")
        unknown = set(data) - {"models", "batch_discount"}
        if unknown:
            raise ConfigError(f"price table {path}: unknown key(s) {sorted(unknown)}; expected models, batch_discount")
        models = {}
        for name, p in field(data, "models", "table", f"price table {path}", default={}).items():
            where = f"price table {path}, models.{name}"
            if not isinstance(p, dict):
                raise InputError(f"{where}: expected a table with input and output prices, found {p!r}")
            if "input" not in p or "output" not in p:
                raise ConfigError(f"price table {path}: model {name!r} needs input and output prices (USD per 1M tokens), found {sorted(p)}")
            prices = [field(p, k, "number", where) for k in ("input", "output")]
            prices.append(field(p, "cached_input", "number", where, default=prices[0]))
            bad = [(k, v) for k, v in zip(("input", "output", "cached_input"), prices) if not (0 <= v < float("inf"))]
            if bad:
                raise InputError(f"{where}: {bad[0][0]} = {bad[0][1]!r}; expected a finite price >= 0 (USD per 1M tokens)")
            models[name] = Price(*(float(v) for v in prices))
        discount = float(field(data, "batch_discount", "number", f"price table {path}", default=0.5))
        if not 0 < discount <= 1:
            raise ConfigError(f"price table {path}: batch_discount must be in (0, 1], found {discount}")
        return cls(models, discount)

    def price(self, model: str) -> Price:
        if model not in self.models:
            raise ConfigError(f"price table has no model {model!r}; found {sorted(self.models)}; add it")
        return self.models[model]

    def costs(self, tokens: "Tokens", model: str, *, batch: bool = False):
        """USD per unit of ``tokens`` (an array): :meth:`cost` of each, in the same arithmetic."""
        p = self.price(model)
        fresh = tokens.prompt - tokens.cached
        usd = (fresh * p.input + tokens.cached * p.cached_input + tokens.completion * p.output) / 1e6
        return usd * (self.batch_discount if batch else 1.0)

    def cost(self, usage: Usage, model: str, *, batch: bool = False) -> float:
        """USD for the token counts in ``usage`` (cached prompt tokens at the cached price)."""
        p = self.price(model)
        fresh = usage.prompt_tokens - usage.cached_tokens
        usd = (fresh * p.input + usage.cached_tokens * p.cached_input + usage.completion_tokens * p.output) / 1e6
        return usd * (self.batch_discount if batch else 1.0)


def _minimal_answer(schema: dict, body: dict) -> str:
    props = schema.get("properties", {})
    if "label" in props:
        return json.dumps({"label": props["label"]["enum"][0]})
    n = 0
    for key in ("labels", "ranking", "relevant"):
        if key in props:
            items = props[key]["items"]
            n = (items.get("properties", {}).get("id") or items).get("maximum", 0)
            lo = items.get("properties", {}).get("label", {}).get("enum", [0])[0] if key == "labels" else 0
            if key == "labels":
                return json.dumps({"labels": [{"id": i, "label": lo} for i in range(1, n + 1)]})
            if key == "ranking":
                return json.dumps({"ranking": list(range(1, n + 1))})
            return json.dumps({"relevant": list(range(1, n // 2 + 1))})
    return "{}"


class _DryClient(LLMClient):
    """Renders bodies, answers locally, counts estimated tokens; never touches the network."""

    def __init__(self, config: ClientConfig):
        super().__init__(config, AnswerCache(None))
        self.bodies: list[dict] = []

    async def ask(self, messages, schema, *, prompt_version, sample=0, max_tokens=None, logprobs=None):
        body = self.body(messages, schema, max_tokens=max_tokens, logprobs=logprobs)
        self.bodies.append(body)
        content = _minimal_answer(schema, body)
        usage = {"prompt_tokens": approx_tokens(json.dumps(body["messages"], ensure_ascii=False)) + 8 * len(body["messages"]),
                 "completion_tokens": approx_tokens(content)}
        self.usage.add(usage)
        return Answer({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}], "usage": usage}, "", False)

    async def close(self):
        return None


@dataclass
class DryRun:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    example_prompt: list

    def summary(self) -> str:
        cost = "n/a (no --prices)" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return f"dry run: {counted(self.calls, 'call')}, ~{self.prompt_tokens} prompt + ~{self.completion_tokens} completion tokens, estimated cost {cost}"


def dry_run(groups, strategy, client: ClientConfig, *, prices: PriceTable | None = None, batch: bool = False) -> DryRun:
    """Render every request of ``groups`` (see :func:`gbltr.labels.llm.annotate.group_pairs`)."""
    dc = _DryClient(client)
    counts = {"done": 0, "cached": 0, "failed": 0}
    asyncio.run(_annotate_async(groups, strategy, dc, False, counts))
    u = dc.usage
    cost = prices.cost(u, client.model, batch=batch) if prices else None
    return DryRun(u.calls, u.prompt_tokens, u.completion_tokens, cost, dc.bodies[0]["messages"] if dc.bodies else [])


def unit_usage(units, strategy, client: ClientConfig) -> list[Usage]:
    """The estimated usage of each unit of ``units`` (each a list of groups, as
    :func:`gbltr.labels.llm.annotate.group_pairs` gives), rendered as :func:`dry_run` renders
    them: the same requests, so the units' costs add up to the dry run's of all their pairs."""

    dc = _DryClient(client)  # one client (one in-memory cache); each unit's usage is the difference it made
    names = [f.name for f in dataclasses.fields(Usage)]

    async def each():
        out = []
        for groups in units:
            before = dataclasses.replace(dc.usage)
            await _annotate_async(groups, strategy, dc, False, {"done": 0, "cached": 0, "failed": 0})
            out.append(Usage(**{n: getattr(dc.usage, n) - getattr(before, n) for n in names}))
            dc.bodies.clear()
        return out

    return asyncio.run(each())


@dataclass(frozen=True)
class Tokens:
    """Estimated tokens of each of n units: ``prompt``, ``completion`` and ``cached`` (prompt
    tokens served from the provider's prompt cache; 0 in every estimate), int64 arrays [n]."""

    prompt: object
    completion: object
    cached: object

    @classmethod
    def of(cls, usages: list[Usage]) -> "Tokens":
        import numpy as np

        return cls(*(np.array([getattr(u, name) for u in usages], dtype=np.int64)
                     for name in ("prompt_tokens", "completion_tokens", "cached_tokens")))


_QUERY_MARK, _DOC_MARK = "@@gbltr.query@@", "@@gbltr.document@@"  # nothing in them is escaped or CJK


def _text_size(text: str) -> tuple[int, int]:
    """(length of ``text`` as it stands inside a JSON string, ensure_ascii=False; its CJK characters)."""
    from gbltr.labels.llm.prompts import _CJK

    return len(json.dumps(text, ensure_ascii=False)) - 2, len(_CJK.findall(text))


# what str.split() splits on: Unicode White_Space (the regex class \s) and the separators \x1c-\x1f
_PY_SPACE = r"[\s\x1c-\x1f]+"
_CJK_CLASS = r"[\u3400-\u9fff\uf900-\ufaff]"  # gbltr.labels.llm.prompts._CJK


def _document_sizes(texts, budget: int):
    """:func:`_text_size` of ``delimit(truncate_tokens(text, budget))`` for each of ``texts`` (a
    polars String Series) [n, 2], by counting on the raw texts (no copy of them): the length of
    ``" ".join(text.split())`` is the length less the whitespace plus one space per inner run of
    it; the CJK characters, ``"`` and ``\\`` (one escape character each), \\b (one) and the other
    control characters that are not whitespace (five: \\u00XX) are not touched by that; plus the
    delimiter's tags. The texts this arithmetic does not cover, those cut at ``budget`` tokens and
    those with a ``<`` (a tag to defuse), are measured one by one with the strategy's own code."""
    import numpy as np
    import polars as pl

    from gbltr.labels.llm.prompts import delimit, truncate_tokens

    ws = _PY_SPACE[:-1]  # one whitespace character
    t = pl.col("t")
    frame = pl.DataFrame({"t": texts}).select(
        n=t.str.len_chars().cast(pl.Int64),
        ws=t.str.count_matches(ws).cast(pl.Int64),
        runs=t.str.count_matches(_PY_SPACE).cast(pl.Int64),
        ends=(t.str.contains("^" + ws).cast(pl.Int64) + t.str.contains(ws + "$").cast(pl.Int64)),
        cjk=t.str.count_matches(_CJK_CLASS).cast(pl.Int64),
        quote=t.str.count_matches(r'["\\]').cast(pl.Int64),  # " and \ -> \" and \\
        backspace=t.str.count_matches(r"\x08").cast(pl.Int64),  # -> \b (\f \n \r \t are whitespace, gone)
        control=t.str.count_matches(r"[\x00-\x07\x0e-\x1b]").cast(pl.Int64),  # -> \u00XX
        tag=t.str.contains("<", literal=True))
    col = {c: frame[c].to_numpy() for c in frame.columns}
    n = col["n"] - col["ws"] + np.maximum(col["runs"] - col["ends"], 0)  # len(" ".join(text.split()))
    cjk = col["cjk"]
    escaped = n + col["quote"] + col["backspace"] + 5 * col["control"]
    size = np.stack([escaped + len("<passage></passage>"), cjk], axis=1)
    tokens = cjk + (n - cjk + 3) // 4
    odd = np.flatnonzero(col["tag"] | ((budget > 0) & (tokens > budget)))
    if odd.size:
        raw = texts.gather(odd).to_list()
        size[odd] = [_text_size(delimit(truncate_tokens(t, budget))) for t in raw]
    return size.astype(np.int64)


def _distinct(values) -> tuple:
    """(code of each value [n], the distinct values by code) of a polars String Series."""
    import numpy as np
    import polars as pl

    codes = values.rank("dense").cast(pl.Int64).to_numpy() - 1 if values.len() else np.zeros(0, dtype=np.int64)
    table = pl.DataFrame({"v": values, "c": codes}).unique("c").sort("c")
    return codes, table["v"].to_list()


def point_tokens(queries, texts, strategy, client: ClientConfig) -> Tokens:
    """The estimated tokens of the pointwise request of each pair (``queries[i]``, ``texts[i]``: the
    query and the document text, None for none), equal to :func:`unit_usage` of one pair per
    unit: :func:`dry_run`'s estimate, ``approx_tokens(json.dumps(messages)) + 8 per message``
    prompt tokens and the minimal valid answer's completion tokens.

    Each distinct query is measured once and each document counted as it would be rendered
    (truncated to ``strategy.doc_tokens`` and delimited as
    :func:`gbltr.labels.llm.strategies.run_point` does: :func:`_document_sizes`); per language a skeleton
    request with marks in place of the query and the document gives the template's own length,
    CJK characters and how often each field appears."""
    import numpy as np
    import polars as pl

    from gbltr.labels.llm.prompts import detect_language, load_prompt

    if strategy.strategy != "point":
        raise ConfigError(f"point_tokens estimates pointwise requests; found strategy {strategy.strategy!r}")
    n = len(queries)
    if len(texts) != n:
        raise ValueError(f"point_tokens: {n} queries but {len(texts)} texts; expected one of each per pair")
    lo, hi = strategy.scale
    schema = {"type": "object", "properties": {"label": {"type": "integer", "enum": list(range(lo, hi + 1))}},
              "required": ["label"], "additionalProperties": False}  # run_point's schema
    dc = _DryClient(client)
    frame = pl.DataFrame({"q": pl.Series(queries, dtype=pl.String).fill_null("None"),
                          "t": pl.Series(texts, dtype=pl.String).fill_null("")})
    q_codes, q_values = _distinct(frame["q"])
    q_size = np.array([_text_size(q) for q in q_values], dtype=np.int64).reshape(-1, 2)
    t_size = _document_sizes(frame["t"], strategy.doc_tokens)  # per pair: counted, not copied
    langs = [detect_language(q) if strategy.lang == "auto" else strategy.lang for q in q_values]
    prompt = np.zeros(n, dtype=np.int64)
    completion = np.zeros(n, dtype=np.int64)
    pair_lang = np.array(langs, dtype=object)[q_codes] if n else np.array([], dtype=object)
    for lang in dict.fromkeys(langs):
        rows = np.flatnonzero(pair_lang == lang)
        template = load_prompt("point", lang)
        body = dc.body(template.messages(query=_QUERY_MARK, document=_DOC_MARK, scale_min=lo, scale_max=hi),
                       schema, logprobs=strategy.logprobs)
        rendered = json.dumps(body["messages"], ensure_ascii=False)
        kq, kd = rendered.count(_QUERY_MARK), rendered.count(_DOC_MARK)
        base_len = len(rendered) - kq * len(_QUERY_MARK) - kd * len(_DOC_MARK)
        base_cjk = _text_size(rendered)[1]
        length = base_len + kq * q_size[q_codes[rows], 0] + kd * t_size[rows, 0]
        cjk = base_cjk + kq * q_size[q_codes[rows], 1] + kd * t_size[rows, 1]
        prompt[rows] = cjk + (length - cjk + 3) // 4 + 8 * len(body["messages"])
        completion[rows] = approx_tokens(_minimal_answer(schema, body))
    return Tokens(prompt, completion, np.zeros(n, dtype=np.int64))
