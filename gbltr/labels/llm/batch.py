"""The OpenAI Batch API path (``gbltr annotate --batch``), feeding the same answer cache.

A round: run the strategies in collect mode (each request missing from the cache is recorded,
not sent), write them as Batch JSONL (``custom_id`` = the cache key, ``method``, ``url``,
``body``), upload it (files API, purpose ``batch``), create the batch on
``/v1/chat/completions``, poll until it ends, download the output and error files, and store
every 200 answer in the cache under its ``custom_id``. Rounds repeat because later requests
depend on earlier answers (ListRank windows, re-asks), until nothing is missing, a round adds
nothing, or ``max_rounds``. The JSONL files are kept in ``folder`` for audit; they hold request
bodies, never the API key.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import ConfigError, GbltrError
from gbltr.labels.llm.cache import AnswerCache
from gbltr.labels.llm.client import MODES, ClientConfig, LLMClient, format_rejected

TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchConfig:
    folder: Path
    poll_s: float = 30.0
    timeout_s: float = 26 * 3600.0
    max_rounds: int = 50
    completion_window: str = "24h"


class BatchError(GbltrError, RuntimeError):
    """A batch ended in a state other than completed, or polling timed out."""


def write_batch_jsonl(requests: list[tuple[str, dict]], path: Path) -> int:
    seen = set()
    with path.open("w", encoding="utf-8") as fh:
        for key, body in requests:
            if key in seen:
                continue
            seen.add(key)
            fh.write(json.dumps({"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body}, ensure_ascii=False) + "\n")
    return len(seen)


def submit_and_collect(sdk, jsonl: Path, cache: AnswerCache, cfg: BatchConfig, errors_path: Path) -> tuple[int, list[dict]]:
    """Upload, create, poll, download; store answers in ``cache``. Returns (n stored, error records)."""
    with jsonl.open("rb") as fh:
        f = sdk.files.create(file=fh, purpose="batch")
    batch = sdk.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window=cfg.completion_window)
    t0 = time.monotonic()
    while batch.status not in TERMINAL:
        if time.monotonic() - t0 > cfg.timeout_s:
            raise BatchError(f"batch {batch.id} still {batch.status!r} after {cfg.timeout_s:.0f}s; expected completed. Rerun later: it resumes from the cache")
        time.sleep(cfg.poll_s)
        batch = sdk.batches.retrieve(batch.id)
    if batch.status != "completed":
        raise BatchError(f"batch {batch.id} ended {batch.status!r}; expected 'completed' (errors: {getattr(batch, 'errors', None)})")
    stored, errors = 0, []
    for file_id, is_error in ((batch.output_file_id, False), (getattr(batch, "error_file_id", None), True)):
        if not file_id:
            continue
        text = sdk.files.content(file_id).text
        for line in text.splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            resp = rec.get("response") or {}
            body = resp.get("body") or {}
            content = (((body.get("choices") or [{}])[0]).get("message") or {}).get("content")
            if resp.get("status_code") == 200 and not is_error and content and content.strip():
                cache.put(rec["custom_id"], body)
                stored += 1
            else:
                errors.append(rec)
    if errors:
        with errors_path.open("w", encoding="utf-8") as fh:
            for e in errors:
                fh.write(json.dumps(e, ensure_ascii=False) + "\n")
    return stored, errors


def run_batch_rounds(groups, strategy, client: ClientConfig, cache: AnswerCache, cfg: BatchConfig, annotate_async) -> int:
    """Rounds of collect -> batch -> cache until nothing is missing; returns the number of rounds."""
    import openai

    if cfg.max_rounds < 1:
        raise ConfigError(f"max_rounds must be >= 1, found {cfg.max_rounds}")
    folder = Path(cfg.folder)
    folder.mkdir(parents=True, exist_ok=True)
    sdk = openai.OpenAI(api_key=client.api_key(), base_url=client.base_url, timeout=client.timeout, max_retries=client.retries)
    rounds = 0
    for r in range(cfg.max_rounds):
        collect: list = []
        llm = LLMClient(client, cache, collect=collect)
        asyncio.run(annotate_async(groups, strategy, llm, False, {"done": 0, "cached": 0, "failed": 0}))
        if not collect:
            break
        jsonl = folder / f"round{r:02d}.jsonl"
        write_batch_jsonl(collect, jsonl)
        stored, errors = submit_and_collect(sdk, jsonl, cache, cfg, folder / f"round{r:02d}.errors.jsonl")
        rounds += 1
        if errors and any(format_rejected(json.dumps(e)) for e in errors[:5]) and llm.mode != MODES[-1]:
            llm._set_mode(MODES[MODES.index(llm.mode) + 1])  # the next round uses the fallback format
            continue
        if stored == 0:
            break  # nothing new: the rest are recorded as 'pending' rather than retried forever
    return rounds
