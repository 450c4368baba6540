"""``gbltr annotate``: label query-document pairs with an LLM (thin shell over gbltr.labels.llm).

Examples::

    gbltr annotate --strategy point --data runs/world --model gpt-4o-mini --out labels.parquet
    gbltr annotate --strategy listrank --pairs pairs.jsonl --local --out labels.parquet \\
        --window 20 --stride 10 --permutations 3 --compare-to qrels.txt
    gbltr annotate --strategy list --pairs pairs.tsv --model gpt-4o-mini --prices prices.toml --dry-run

The API key comes from the environment variable named by --api-key-env (OPENAI_API_KEY);
local servers get a dummy. It is never written to the cache, the run record or the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gbltr.errors import ConfigError


def _scale(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise ConfigError(f"--scale expects LO-HI such as 0-4, found {text!r}") from None
    return lo, hi


@click.command("annotate")
@click.option("--strategy", type=click.Choice(["point", "list", "listrank", "listsel"]), default="point", show_default=True, help="PointAnn, ListAnn, ListRank (RankGPT sliding window) or ListSel.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help="gbltr dataset folder (queries/documents/candidates.parquet).")
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path), help="pairs file: .parquet/.jsonl/.tsv/.csv with query_id, query, doc_id, text [, rank].")
@click.option("--model", default=None, help="model name at the endpoint (default with --local: the SmolLM2 alias).")
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1.")
@click.option("--local", is_flag=True, help="start the in-process llama.cpp server with SmolLM2-135M (extra 'local').")
@click.option("--out", type=click.Path(path_type=Path), help="output label set (Parquet).")
@click.option("--qrels-out", type=click.Path(path_type=Path), default=None, help="also write TREC qrels of the non-null labels.")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path), default=None, help="SQLite answer cache [default: OUT.cache.sqlite].")
@click.option("--limit-queries", type=int, default=None, help="annotate only the first N queries.")
@click.option("--scale", default="0-4", show_default=True, help="graded label scale LO-HI (ListSel is always 0-1).")
@click.option("--window", type=int, default=20, show_default=True, help="documents per call (list strategies).")
@click.option("--stride", type=int, default=10, show_default=True, help="ListRank sliding-window stride, 0 < stride <= window.")
@click.option("--permutations", type=int, default=1, show_default=True, help="K orders per list (0 = candidate order, others seeded shuffles).")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the permutations.")
@click.option("--doc-tokens", type=int, default=300, show_default=True, help="token budget per document (approximate).")
@click.option("--max-reask", type=int, default=1, show_default=True, help="re-asks after an invalid answer.")
@click.option("--lang", type=click.Choice(["auto", "en", "zh"]), default="auto", show_default=True, help="prompt language (auto: by the query's script).")
@click.option("--logprobs/--no-logprobs", default=True, show_default=True, help="PointAnn: request logprobs for expected relevance and confidence.")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--concurrency", type=int, default=8, show_default=True, help="requests in flight.")
@click.option("--workers", type=int, default=1, show_default=True, help="processes that send requests (the --concurrency slots are split across them); >1 pays off only on a fast endpoint where the client's CPU is the limit.")
@click.option("--rpm", type=float, default=None, help="requests-per-minute limit.")
@click.option("--tpm", type=float, default=None, help="tokens-per-minute limit.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="seconds per request.")
@click.option("--retries", type=int, default=2, show_default=True, help="SDK retries per request (the outer loop adds --retries more).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="environment variable holding the API key.")
@click.option("--batch", is_flag=True, help="send the requests through the OpenAI Batch API.")
@click.option("--batch-dir", type=click.Path(path_type=Path), default=None, help="folder for Batch JSONL files [default: OUT.batch/].")
@click.option("--poll-s", type=float, default=30.0, show_default=True, help="Batch API polling interval.")
@click.option("--prices", type=click.Path(path_type=Path), default=None, help="price table (TOML/JSON) for cost estimates.")
@click.option("--dry-run", is_flag=True, help="render every prompt and estimate tokens and cost; send nothing.")
@click.option("--compare-to", type=click.Path(path_type=Path), default=None, help="human TREC qrels: write an agreement report.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None, help="agreement report folder [default: OUT.agreement/].")
@click.option("--progress/--no-progress", default=True, show_default=True)
def annotate(**kw):
    """Label query-document pairs with an LLM (Yu, Bi, Guo et al. 2025)."""
    from gbltr.labels.llm.run import AnnotateRequest, run_annotate

    kw["scale"] = _scale(kw["scale"])
    report = run_annotate(AnnotateRequest(**kw), echo=click.echo)
    click.echo(json.dumps(report, default=str))
