"""``gbltr annotate``: label query-document pairs with an LLM (thin shell over gbltr.labels.llm).

Examples::

    gbltr annotate --strategy point --data runs/world --model gpt-4o-mini --out labels.parquet
    gbltr annotate --strategy listrank --pairs pairs.jsonl --local --out labels.parquet \\
        --window 20 --stride 10 --permutations 3 --compare-to qrels.txt
    gbltr annotate --strategy list --pairs pairs.tsv --model gpt-4o-mini --prices prices.toml --dry-run
    gbltr annotate --config annotate.toml --limit-queries 10

Settings: defaults < ``--config FILE`` < flags (:mod:`gbltr.labels.llm.config`); each flag's
default is read from the config dataclasses, so help and behaviour cannot drift.
The API key comes from the environment variable named by --api-key-env (OPENAI_API_KEY);
local servers get a dummy. It is never written to the cache, the run record or the output.
Exit status: 0 with every label or some labels missing (a warning on stderr says how many),
2 when every label is missing or on a usage error.
"""

from __future__ import annotations

import dataclasses
import json

import click

from gbltr.config import dotted
from gbltr.errors import ConfigError
from gbltr.labels.llm.client import MODES, ClientConfig
from gbltr.labels.llm.config import AnnotateConfig, load_annotate_config
from gbltr.labels.llm.local import LOCAL_CLIENT_DEFAULTS
from gbltr.labels.llm.strategies import LANGUAGE_CHOICES, STRATEGIES, StrategyConfig
from gbltr.ranges import RANGE, Number, help_range, option_type

_SECTIONS = {"": AnnotateConfig, "strategy": StrategyConfig, "client": ClientConfig}
_DEFAULTS = {section: {f.name: f.default for f in dataclasses.fields(cls)} for section, cls in _SECTIONS.items()}


def _help(text: str, key: str) -> str:
    """``text`` plus the default of config key ``key`` (``section.name``), read off the dataclass."""
    section, _, name = key.rpartition(".")
    value = _DEFAULTS[section][name]
    if isinstance(value, tuple):
        value = "-".join(map(str, value))
    shown = f"{text} [default: {value}"
    if section == "client" and name in LOCAL_CLIENT_DEFAULTS:
        shown += f"; with --local: {LOCAL_CLIENT_DEFAULTS[name]}"
    shown += "]"
    declared = _SECTIONS[section].__dataclass_fields__[name].metadata.get(RANGE)
    return help_range(shown, declared) if declared else shown


def _number(key: str) -> Number:
    """The click type of the option that sets config key ``key`` (``section.name``): its declaration."""
    section, _, name = key.rpartition(".")
    return option_type(_SECTIONS[section], name, key)


def _scale(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise ConfigError(f"--scale expects LO-HI such as 0-4, found {text!r}") from None
    return [lo, hi]


def _choice(values):
    return click.Choice(sorted(values))


@click.command("annotate")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML or JSON annotate config; flags override it.")
@click.option("--strategy", type=_choice(STRATEGIES), help=_help("PointAnn, ListAnn, ListRank (RankGPT sliding window) or ListSel.", "strategy.strategy"))
@click.option("--data", help="gbltr dataset folder (queries/documents/candidates.parquet).")
@click.option("--pairs", help="pairs file: .parquet/.jsonl/.tsv/.csv with query_id, query, doc_id, text [, rank].")
@click.option("--plan", type=click.Path(dir_okay=False), help="plan file (Parquet) from 'gbltr plan': annotate exactly its pairs (with --data, the dataset it was made for).")
@click.option("--model", help="model name at the endpoint (required unless --local: the SmolLM2 alias).")
@click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (credentials in it are redacted in every output).")
@click.option("--local/--no-local", default=None, help="start the in-process llama.cpp server with SmolLM2-135M (extra 'local').")
@click.option("--out", help="output label set (Parquet).")
@click.option("--qrels-out", help="also write TREC qrels of the non-null labels.")
@click.option("--cache", help="SQLite answer cache [default: OUT.cache.sqlite].")
@click.option("--limit-queries", type=_number("limit_queries"), help=help_range("annotate only the first N queries.", _number("limit_queries")))
@click.option("--scale", help=_help("graded label scale LO-HI (ListSel is always 0-1).", "strategy.scale"))
@click.option("--window", type=_number("strategy.window"), help=_help("documents per call (list strategies).", "strategy.window"))
@click.option("--stride", type=_number("strategy.stride"), help=_help("ListRank sliding-window stride, 0 < stride <= window.", "strategy.stride"))
@click.option("--permutations", type=_number("strategy.permutations"), help=_help("K orders per list (the first is the candidate order, the others seeded shuffles).", "strategy.permutations"))
@click.option("--seed", type=_number("strategy.seed"), help=_help("seed of the permutations.", "strategy.seed"))
@click.option("--doc-tokens", type=_number("strategy.doc_tokens"), help=_help("token budget per document (approximate).", "strategy.doc_tokens"))
@click.option("--max-reask", type=_number("strategy.max_reask"), help=_help("content re-asks after an unusable answer (bad JSON, missing ids, length, empty).", "strategy.max_reask"))
@click.option("--lang", type=_choice(LANGUAGE_CHOICES), help=_help("prompt language (auto: by the query's script).", "strategy.lang"))
@click.option("--logprobs/--no-logprobs", default=None, help=_help("PointAnn: request logprobs for expected relevance and confidence.", "strategy.logprobs"))
@click.option("--max-tokens", type=_number("client.max_tokens"), help=_help("answer token budget per call.", "client.max_tokens"))
@click.option("--context-tokens", type=_number("client.context_tokens"), help=_help("the model's context per request in tokens; prompts are sized so that prompt + --max-tokens fit (--window, then --doc-tokens lowered, with a note). Unset: asked of the server (llama.cpp /props, vLLM /v1/models); unknown: nothing is resized.", "client.context_tokens"))
@click.option("--temperature", type=_number("client.temperature"), help=_help("sampling temperature.", "client.temperature"))
@click.option("--mode", type=_choice(MODES), help=_help("first response format to try (falls back when the server rejects it).", "client.mode"))
@click.option("--concurrency", type=_number("client.concurrency"), help=_help("requests in flight.", "client.concurrency"))
@click.option("--workers", type=_number("client.workers"), help=_help("processes that send requests (the --concurrency slots are split across them); >1 pays off only on a fast endpoint where the client's CPU is the limit.", "client.workers"))
@click.option("--rpm", type=_number("client.rpm"), help=_help("requests-per-minute limit.", "client.rpm"))
@click.option("--tpm", type=_number("client.tpm"), help=_help("tokens-per-minute limit.", "client.tpm"))
@click.option("--timeout", type=_number("client.timeout"), help=_help("seconds per attempt, from when it is sent (waiting for a --concurrency slot does not count).", "client.timeout"))
@click.option("--retries", type=_number("client.retries"), help=_help("SDK retries of a transport failure (429, 5xx, timeout, connection); content problems are --max-reask.", "client.retries"))
@click.option("--api-key-env", help=_help("environment variable holding the API key.", "client.api_key_env"))
@click.option("--batch/--no-batch", default=None, help="send the requests through the OpenAI Batch API.")
@click.option("--batch-dir", help="folder for Batch JSONL files [default: OUT.batch/].")
@click.option("--poll-s", type=_number("poll_s"), help=_help("Batch API polling interval.", "poll_s"))
@click.option("--prices", help="price table (TOML/JSON) for cost estimates.")
@click.option("--dry-run", is_flag=True, default=None, help="render every prompt and estimate tokens and cost; send nothing.")
@click.option("--compare-to", help="human TREC qrels: write an agreement report.")
@click.option("--report-dir", help="agreement report folder [default: OUT.agreement/].")
@click.option("--progress/--no-progress", default=None, help=_help("progress bar.", "progress"))
def annotate(config_file, **kw):
    """Label query-document pairs with an LLM (Yu, Bi, Guo et al. 2025)."""
    from gbltr.labels.llm.run import run_annotate  # polars and the annotator load when the command runs

    kw["scale"] = _scale(kw["scale"])
    sections = {name: section for section in ("strategy", "client") for name in _DEFAULTS[section]}
    overrides = dotted({(f"{sections[k]}.{k}" if k in sections else k): v for k, v in kw.items()})
    cfg = load_annotate_config(config_file, overrides)
    report = run_annotate(cfg, echo=click.echo, warn=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(report, default=str))
