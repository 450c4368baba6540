"""One ``gbltr annotate`` run: inputs -> label set, qrels, run record, agreement report.

:func:`run_annotate` is what the CLI calls; it is also the scriptable entry point. It writes

* ``OUT`` (Parquet label set, :mod:`gbltr.labels.llm.labelset`),
* ``OUT.run.json``: the settings, counts, token usage and cost of the run (no API key),
* ``--qrels-out`` (TREC qrels) and, with ``--compare-to``, ``OUT.agreement/`` files.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gbltr.errors import ConfigError


@dataclass(frozen=True)
class AnnotateRequest:
    """Every option of ``gbltr annotate`` (see the CLI help for each)."""

    out: Path | None = None
    strategy: str = "point"
    data_dir: Path | None = None
    pairs_file: Path | None = None
    model: str | None = None
    base_url: str | None = None
    local: bool = False
    qrels_out: Path | None = None
    cache_path: Path | None = None
    limit_queries: int | None = None
    scale: tuple = (0, 4)
    window: int = 20
    stride: int = 10
    permutations: int = 1
    seed: int = 0
    doc_tokens: int = 300
    max_reask: int = 1
    lang: str = "auto"
    logprobs: bool = True
    max_tokens: int = 512
    temperature: float = 0.0
    concurrency: int = 8
    workers: int = 1
    rpm: float | None = None
    tpm: float | None = None
    timeout: float = 60.0
    retries: int = 2
    api_key_env: str = "OPENAI_API_KEY"
    batch: bool = False
    batch_dir: Path | None = None
    poll_s: float = 30.0
    prices: Path | None = None
    dry_run: bool = False
    compare_to: Path | None = None
    report_dir: Path | None = None
    progress: bool = True


def _pairs(req: AnnotateRequest):
    from gbltr.labels.llm.pairs import limit_queries, pairs_from_dataset, read_pairs

    if (req.data_dir is None) == (req.pairs_file is None):
        raise ConfigError("give exactly one of --data DIR or --pairs FILE; found " + ("both" if req.data_dir else "neither"))
    pairs = pairs_from_dataset(req.data_dir) if req.data_dir else read_pairs(req.pairs_file)
    if req.limit_queries is not None and req.limit_queries < 1:
        raise ConfigError(f"--limit-queries must be >= 1, found {req.limit_queries}")
    return limit_queries(pairs, req.limit_queries)


def run_annotate(req: AnnotateRequest, echo=print) -> dict:
    """Run one annotation as described by ``req``; returns the run record (also saved)."""
    from gbltr.labels.llm.annotate import annotate, group_pairs
    from gbltr.labels.llm.client import ClientConfig
    from gbltr.labels.llm.cost import PriceTable, dry_run
    from gbltr.labels.llm.labelset import write_labels, write_llm_qrels
    from gbltr.labels.llm.local import LOCAL_MODEL_NAME, local_server
    from gbltr.labels.llm.strategies import StrategyConfig

    strategy = StrategyConfig(
        strategy=req.strategy, scale=tuple(req.scale), window=req.window, stride=req.stride,
        permutations=req.permutations, seed=req.seed, doc_tokens=req.doc_tokens, max_reask=req.max_reask,
        lang=req.lang, logprobs=req.logprobs and req.strategy == "point",
    )
    if req.local and req.base_url:
        raise ConfigError("--local starts its own server; drop --base-url (or drop --local)")
    model = req.model or (LOCAL_MODEL_NAME if req.local else None)
    if not model:
        raise ConfigError("--model is required (the model name at the endpoint); found none")
    if not req.dry_run and req.out is None:
        raise ConfigError("--out is required (the Parquet label set to write); found none")
    prices = PriceTable.load(req.prices) if req.prices else None
    pairs = _pairs(req)
    record: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(req).items()}, "model": model, "pairs": pairs.height}

    def client_for(base_url):
        return ClientConfig(
            model=model, base_url=base_url, api_key_env=req.api_key_env, concurrency=req.concurrency, workers=req.workers,
            rpm=req.rpm, tpm=req.tpm, timeout=req.timeout, sdk_retries=req.retries, outer_retries=req.retries,
            temperature=req.temperature, max_tokens=req.max_tokens, logprobs=strategy.logprobs,
        )

    if req.dry_run:
        dr = dry_run(group_pairs(pairs), strategy, client_for(req.base_url), prices=prices, batch=req.batch)
        echo(dr.summary())
        echo("first prompt:\n" + "\n---\n".join(m["content"] for m in dr.example_prompt))
        record["dry_run"] = {"calls": dr.calls, "prompt_tokens": dr.prompt_tokens, "completion_tokens": dr.completion_tokens, "cost_usd": dr.cost_usd}
        return record

    out = Path(req.out)
    cache_path = req.cache_path or out.with_name(out.name + ".cache.sqlite")
    batch_cfg = None
    if req.batch:
        if req.local:
            raise ConfigError("--batch needs the OpenAI Batch API; the --local server has none")
        from gbltr.labels.llm.batch import BatchConfig

        batch_cfg = BatchConfig(folder=req.batch_dir or out.with_name(out.name + ".batch"), poll_s=req.poll_s)
    t0 = time.perf_counter()
    n_ctx = 512 + req.max_tokens * 2 + (req.doc_tokens if req.strategy == "point" else req.doc_tokens * req.window) * 2
    with (local_server(n_ctx=n_ctx) if req.local else contextlib.nullcontext(req.base_url)) as base_url:
        result = annotate(pairs, strategy, client_for(base_url), cache_path=cache_path, progress=req.progress, batch=batch_cfg)
    labels = result.labels
    write_labels(labels, out)
    u = result.usage
    record.update(
        seconds=round(time.perf_counter() - t0, 3), counts=result.counts, batch_rounds=result.batch_rounds,
        parse_status=dict(labels.group_by("parse_status").len().iter_rows()),
        usage={"calls": u.calls, "cache_hits": u.cache_hits, "retries": u.retries, "failures": u.failures,
               "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
               "cached_tokens": u.cached_tokens, "reasoning_tokens": u.reasoning_tokens},
        cost_usd=prices.cost(u, model, batch=req.batch) if prices else None,
        out=str(out), cache=str(cache_path),
    )
    if req.qrels_out:
        write_llm_qrels(labels, req.qrels_out)
        record["qrels_out"] = str(req.qrels_out)
    if req.compare_to:
        from gbltr.labels.llm.agreement import agreement, read_qrels, write_agreement

        human = read_qrels(req.compare_to)
        llm_max = 1 if req.strategy == "listsel" else req.scale[1]
        rep = agreement(labels, human, llm_max=llm_max)
        folder = req.report_dir or out.with_name(out.name + ".agreement")
        paths = write_agreement(rep, folder, title=f"{model} {req.strategy}")
        record["agreement"] = {"n_pairs": rep.n_pairs, "kappa": rep.kappa, "kappa_binary": rep.kappa_binary, "confusion": rep.confusion, "files": {k: str(v) for k, v in paths.items()}}
    out.with_name(out.name + ".run.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return record
