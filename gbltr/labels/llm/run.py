"""One ``gbltr annotate`` run: inputs -> label set, qrels, run record, agreement report.

:func:`run_annotate` is what the CLI calls; it is also the scriptable entry point (build its
:class:`~gbltr.labels.llm.config.AnnotateConfig` with
:func:`~gbltr.labels.llm.config.load_annotate_config`). It writes

* ``OUT`` (Parquet label set, :mod:`gbltr.labels.llm.labelset`),
* ``OUT.run.json``: the config, counts, token usage and cost of the run (no API key; credentials
  inside ``base_url`` redacted),
* ``--qrels-out`` (TREC qrels) and, with ``--compare-to``, ``OUT.agreement/`` files.

Outcomes: every label obtained -> the record. Some labels missing -> the same, plus a warning on
stderr with the count per ``parse_status`` (also ``missing`` in the record). Every label missing
-> :class:`AnnotationFailed` (the CLI exits 2) after writing the run record; ``OUT`` is not
written.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import replace

from gbltr.checkpoint import checkpoint
from gbltr.data.trec import check_ids
from gbltr.errors import GbltrError
from gbltr.folders import check_outputs, write_file, writing
from gbltr.labels.llm.agreement import agreement, read_qrels, write_agreement
from gbltr.labels.llm.annotate import annotate, group_pairs
from gbltr.labels.llm.batch import BatchConfig
from gbltr.labels.llm.config import AnnotateConfig
from gbltr.labels.llm.context import ContextBudget, fit_strategy, largest_messages, resolve_budget
from gbltr.labels.llm.cost import PriceTable, dry_run
from gbltr.labels.llm.diagnose import missing_cause
from gbltr.labels.llm.labelset import write_labels, write_llm_qrels
from gbltr.labels.llm.local import local_server
from gbltr.labels.llm.pairs import limit_queries, pairs_from_dataset, read_pairs


class AnnotationFailed(GbltrError):
    """Every requested label is missing (the endpoint failed every request, or every answer was unusable)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _pairs(cfg: AnnotateConfig):
    pairs = pairs_from_dataset(cfg.data) if cfg.data else read_pairs(cfg.pairs)
    if cfg.plan:
        return planned_pairs(pairs, cfg)
    return limit_queries(pairs, cfg.limit_queries)


def planned_pairs(pairs, cfg: AnnotateConfig):
    """Exactly the pairs of ``cfg.plan`` (a plan of this dataset, made for this strategy), in the
    dataset's query and rank order: the requests the plan's estimates were rendered from."""
    from gbltr.data.store import fingerprint
    from gbltr.errors import ConfigError, DataError
    from gbltr.labels.budget.plan import read_plan

    plan = read_plan(cfg.plan, fingerprint(cfg.data)["sha1"])
    made = plan["strategy"].unique().to_list()
    if made and made != [cfg.strategy.strategy]:
        raise ConfigError(f"--plan {cfg.plan} was made for --strategy {made[0]}, found --strategy "
                          f"{cfg.strategy.strategy}; expected the plan's strategy (its units and costs follow it)")
    chosen = pairs.join(plan.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="semi")
    if chosen.height != plan.height:
        raise DataError(f"--plan {cfg.plan}: {plan.height - chosen.height} of its {plan.height} pairs are not "
                        f"candidates of {cfg.data}; expected a plan of this dataset")
    return chosen


def _fit(strategy, client, groups, budget: ContextBudget, record: dict, warn):
    """``strategy`` sized to ``budget`` (:func:`~gbltr.labels.llm.context.fit_strategy`); says
    once what it changed (``warn``) and records the context in ``record["context"]``."""
    fitted = fit_strategy(strategy, groups, budget, client.max_tokens)
    record["context"] = {"tokens": budget.tokens, "source": budget.source, "tokens_per_estimate": budget.per_estimate,
                         "largest_prompt": fitted.largest_prompt, "window": fitted.strategy.window,
                         "stride": fitted.strategy.stride, "doc_tokens": fitted.strategy.doc_tokens, "note": fitted.note}
    if fitted.note:
        warn(fitted.note)
    return fitted.strategy


def run_annotate(cfg: AnnotateConfig, echo=print, warn=_stderr) -> dict:
    """Run one annotation as described by ``cfg``; returns the run record (also saved).
    ``echo`` gets the dry-run summary, ``warn`` the partial-failure warning (stderr)."""
    strategy, client = cfg.strategy, cfg.client
    if cfg.out is not None:  # a dry run writes nothing, but says now what the real run would refuse
        check_outputs("annotate", cfg.outputs(), cfg.inputs())
    # every file named is read and checked before any call
    prices = PriceTable.load(cfg.prices) if cfg.prices else None
    human = read_qrels(cfg.compare_to) if cfg.compare_to else None
    pairs = _pairs(cfg)
    if cfg.qrels_out:  # the qrels' ids are known now: refuse them before any label is paid for (or estimated)
        check_ids(pairs, f"--qrels-out {cfg.qrels_out}")
    checkpoint("annotate")
    record: dict = {"config": cfg.to_json(), "model": client.model, "pairs": pairs.height}

    if cfg.dry_run:  # sends nothing: sized only to a context given with --context-tokens
        if client.context_tokens is not None:
            strategy = _fit(strategy, client, group_pairs(pairs), ContextBudget(client.context_tokens, "--context-tokens"), record, warn)
        dr = dry_run(group_pairs(pairs), strategy, client, prices=prices, batch=cfg.batch)
        echo(dr.summary())
        echo("first prompt:\n" + "\n---\n".join(m["content"] for m in dr.example_prompt))
        record["dry_run"] = {"calls": dr.calls, "prompt_tokens": dr.prompt_tokens, "completion_tokens": dr.completion_tokens, "cost_usd": dr.cost_usd}
        return record

    paths = cfg.paths()
    batch_cfg = None
    if cfg.batch:
        batch_cfg = BatchConfig(folder=paths["batch_dir"], poll_s=cfg.poll_s)
    t0 = time.perf_counter()
    # --local: one server slot per request in flight, so no request waits in the server's queue
    # and the per-request timeout measures generation only; each slot has the model's trained context
    server = local_server(n_parallel=client.concurrency) if cfg.local else contextlib.nullcontext(client.base_url)
    with server as base_url:
        client = replace(client, base_url=base_url)
        groups = group_pairs(pairs)
        budget = None
        if not cfg.batch or client.context_tokens is not None:  # the Batch API (OpenAI) reports no context
            largest = largest_messages(strategy, groups)
            budget = resolve_budget(client, largest[0] if largest else None)
            strategy = _fit(strategy, client, groups, budget, record, warn)
        result = annotate(pairs, strategy, client, cache_path=paths["cache"], progress=cfg.progress, batch=batch_cfg, budget=budget)
    labels = result.labels
    u = result.usage
    statuses = dict(labels.group_by("parse_status").len().sort("parse_status").iter_rows())
    missing = labels.filter(labels["label"].is_null())
    missing_by_status = dict(missing.group_by("parse_status").len().sort("parse_status").iter_rows())
    record.update(
        seconds=round(time.perf_counter() - t0, 3), counts=result.counts, batch_rounds=result.batch_rounds,
        parse_status=statuses, missing={"labels": missing.height, "of": labels.height, "by_status": missing_by_status},
        usage={"calls": u.calls, "cache_hits": u.cache_hits, "failures": u.failures, "reasks": u.reasks,
               "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
               "cached_tokens": u.cached_tokens, "reasoning_tokens": u.reasoning_tokens},
        cost_usd=prices.cost(u, client.model, batch=cfg.batch) if prices else None,
        cache=str(paths["cache"]),
    )
    detail = ", ".join(f"{k}={v}" for k, v in missing_by_status.items())
    if result.counts.get("cache_rows_dropped"):
        warn(f"warning: {result.counts['cache_rows_dropped']} row(s) of the answer cache {paths['cache']} were not JSON objects; they were dropped and asked again")
    cause = None
    if missing.height * 2 > labels.height:  # most labels missing: name the dominant cause and its fix
        endpoint = f"{client.model!r} at {record['config']['client']['base_url'] or 'the default endpoint'}"
        if cfg.local:
            endpoint = f"{client.model!r} at the --local server"
        cause = missing_cause(missing_by_status, result.evidence, max_tokens=client.max_tokens, endpoint=endpoint)
        record["missing"]["cause"] = cause
    if labels.height and missing.height == labels.height:
        record["out"] = None
        _write_record(paths["run_record"], record)
        raise AnnotationFailed(
            f"every one of the {labels.height} labels is missing ({detail}); expected at least one label. {cause}. "
            f"{paths['out']} was not written; the run record is {paths['run_record']}"
        )
    if missing.height:
        warn(f"warning: {missing.height} of {labels.height} labels are missing ({detail})" + (f"; {cause}" if cause else "")
             + f". They are null in {paths['out']} with their parse_status, and 'missing' in the run record counts them")
    write_labels(labels, paths["out"])
    record["out"] = str(paths["out"])
    if cfg.qrels_out:
        write_llm_qrels(labels, cfg.qrels_out)
        record["qrels_out"] = str(cfg.qrels_out)
    if cfg.compare_to:
        llm_max = 1 if strategy.strategy == "listsel" else strategy.scale[1]
        rep = agreement(labels, human, llm_max=llm_max)
        with writing("agreement folder", paths["report_dir"]):
            files = write_agreement(rep, paths["report_dir"], title=f"{client.model} {strategy.strategy}")
        record["agreement"] = {"n_pairs": rep.n_pairs, "kappa": rep.kappa, "kappa_binary": rep.kappa_binary, "confusion": rep.confusion, "files": {k: str(v) for k, v in files.items()}}
    _write_record(paths["run_record"], record)
    return record


def _write_record(path, record: dict) -> None:
    text = json.dumps(record, indent=2, default=str)
    write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what="annotate run record")
