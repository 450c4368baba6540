"""Worker processes that send chat-completion requests for one :class:`LLMClient` (``--workers N``).

One event loop spends about 2 ms of CPU inside the openai SDK (and its HTTP transport) per
request, which caps a single process well below ``concurrency / latency`` on a fast endpoint.
With ``ClientConfig.workers = N > 1`` the requests are executed by N processes instead:

* the parent keeps everything that decides *what* is asked and *what is kept*: prompts, the
  concurrency semaphore (``concurrency`` is the total over all workers; each request goes to the
  worker with the fewest in flight, so the slots split evenly), the RPM/TPM limiter, the SQLite
  answer cache (only the parent writes it, one commit per answer, so a killed run resumes exactly
  as with one process), response-mode fallback, content re-asks and the progress bar;
* each worker owns one SDK client and one event loop; it receives ``(id, body)``, runs
  :func:`gbltr.labels.llm.client.post_chat` (SDK retries: 429 with Retry-After, 5xx, timeouts)
  and sends back ``(id, outcome)``, the same outcome tuple the single-process path classifies.

Transport: one Unix stream socket per worker, length-prefixed pickle frames, non-blocking on both
sides (a side never blocks on a full socket buffer, so large list prompts cannot deadlock). The
API key is read from the environment by each worker; it never crosses the socket. A worker whose
parent dies sees end-of-file and exits.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pickle
import shutil
import socket
import tempfile
import time

from gbltr.errors import ConfigError, GbltrError
from gbltr.labels.llm.client import post_chat

_HEADER = 4  # bytes of big-endian frame length


class WorkerError(GbltrError, RuntimeError):
    """A worker process could not start, died, or failed unexpectedly."""


def _frame(obj) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEADER, "big") + data


class _Channel:
    """Length-prefixed frames over a non-blocking stream socket, driven by an asyncio loop's
    reader/writer callbacks. Attach it to one loop at a time (each ``annotate`` run has its own);
    unsent bytes and partial frames survive a detach."""

    def __init__(self, sock: socket.socket, on_frame, on_close):
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.on_frame = on_frame
        self.on_close = on_close
        self.inflight = 0
        self.alive = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in = bytearray()
        self._out = bytearray()
        self._flushing = False  # a flush is scheduled or waits for the socket to be writable

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.detach()
        self._loop = loop
        loop.add_reader(self.fd, self._readable)
        if self._out:
            self._schedule()

    def detach(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
            self._loop.remove_writer(self.fd)
        self._loop = None
        self._flushing = False

    def send(self, obj) -> None:
        """Queue one frame; frames queued in the same loop iteration leave in one ``send``."""
        self._out += _frame(obj)
        if not self._flushing:
            self._schedule()

    def _schedule(self) -> None:
        self._flushing = True
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._loop is None or not self._out:
            self._flushing = False
            return
        try:
            n = self.sock.send(self._out)
        except BlockingIOError:
            n = 0
        except OSError:
            self._closed()
            return
        del self._out[:n]
        if self._out:  # the socket buffer is full: continue when it is writable
            self._loop.add_writer(self.fd, self._writable)
        else:
            self._flushing = False

    def _writable(self) -> None:
        self._loop.remove_writer(self.fd)
        self._flush()

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._closed()
            return
        buf = self._in
        buf += data
        while len(buf) >= _HEADER:
            size = int.from_bytes(buf[:_HEADER], "big")
            if len(buf) < _HEADER + size:
                break
            frame = bytes(buf[_HEADER : _HEADER + size])
            del buf[: _HEADER + size]
            self.on_frame(pickle.loads(frame))

    def _closed(self) -> None:
        if self.alive:
            self.alive = False
            self.detach()
            self.on_close(self)


class WorkerPool:
    """N spawned worker processes for one :class:`~gbltr.labels.llm.client.ClientConfig`.

    Starting takes about a second (each worker imports the SDK); :meth:`start` it once and pass
    it to :func:`~gbltr.labels.llm.annotate.annotate` as ``pool=`` to reuse it over several runs.
    ``annotate`` makes one itself when the config asks for ``workers > 1`` and no pool is given
    (started at the first request that the cache cannot answer, closed at the end). Use as a
    context manager (which starts it), or call :meth:`close`.
    """

    def __init__(self, config, n: int | None = None, *, start_timeout: float = 120.0):
        self.config = config
        self.n = n if n is not None else config.workers
        if self.n < 1:
            raise ConfigError(f"workers must be >= 1, found {self.n}")
        self.start_timeout = start_timeout
        self._ids = itertools.count()
        self._pending: dict[int, tuple[asyncio.Future, _Channel]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels: list[_Channel] = []
        self._procs = []

    @property
    def started(self) -> bool:
        return bool(self._procs)

    def start(self) -> WorkerPool:
        """Spawn the workers and wait until each has connected (blocking). :meth:`post` calls it
        on the first request, so a run answered entirely from the cache starts no process."""
        import multiprocessing

        if self.started:
            return self
        folder = tempfile.mkdtemp(prefix="gbltr-workers-")
        address = os.path.join(folder, "sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(address)
            listener.listen(self.n)
            listener.settimeout(0.2)
            ctx = multiprocessing.get_context("spawn")  # no fork of a parent that holds SQLite/threads
            for i in range(self.n):
                proc = ctx.Process(target=serve, args=(address, self.config), name=f"gbltr-annotate-worker-{i}", daemon=True)
                proc.start()
                self._procs.append(proc)
            deadline = time.monotonic() + self.start_timeout
            while len(self._channels) < self.n:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    dead = [p for p in self._procs if p.exitcode is not None]
                    if dead or time.monotonic() > deadline:
                        why = f"worker exited with code {dead[0].exitcode}" if dead else f"no connection after {self.start_timeout:.0f} s"
                        raise WorkerError(f"expected {self.n} annotator worker processes to start, found {len(self._channels)} ({why}); rerun with --workers 1") from None
                    continue
                self._channels.append(_Channel(conn, self._on_frame, self._on_close))
        except BaseException:
            self.close()
            raise
        finally:
            listener.close()
            shutil.rmtree(folder, ignore_errors=True)
        return self

    # -- parent side, inside one event loop ---------------------------------------------------
    async def post(self, body: dict) -> tuple:
        """Send ``body`` to the least-loaded worker; the outcome tuple of
        :func:`~gbltr.labels.llm.client.post_chat`."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.start()
            self._attach(loop)
        live = [c for c in self._channels if c.alive]
        if not live:
            raise WorkerError("every annotator worker process has exited; expected them to run until the end. Rerun with --workers 1")
        ch = min(live, key=_load)
        rid = next(self._ids)
        fut = loop.create_future()
        self._pending[rid] = (fut, ch)
        ch.inflight += 1
        try:
            ch.send((rid, body))
            return await fut
        finally:
            ch.inflight -= 1
            self._pending.pop(rid, None)

    def _attach(self, loop) -> None:
        self._loop = loop
        for ch in self._channels:
            if ch.alive:
                ch.attach(loop)

    def detach(self) -> None:
        """Stop listening in the current event loop (called when an annotate run ends);
        answers still in flight are dropped when they arrive later."""
        for ch in self._channels:
            ch.detach()
        self._loop = None

    def _on_frame(self, msg) -> None:
        rid, outcome = msg
        entry = self._pending.get(rid)
        if entry is not None and not entry[0].done():
            entry[0].set_result(outcome)

    def _on_close(self, ch: _Channel) -> None:
        for fut, owner in list(self._pending.values()):
            if owner is ch and not fut.done():
                fut.set_exception(WorkerError("an annotator worker process exited mid-request; expected it to run until the end. Rerun with --workers 1"))

    def close(self) -> None:
        """Close the sockets (the workers exit on end-of-file) and reap the processes."""
        self.detach()
        for ch in self._channels:
            ch.alive = False
            ch.sock.close()
        self._channels = []
        for proc in self._procs:
            proc.join(5)
            if proc.exitcode is None:
                proc.terminate()
                proc.join(5)
        self._procs = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _load(ch: _Channel) -> int:
    return ch.inflight


# -- worker side ------------------------------------------------------------------------------
def serve(address: str, config) -> None:
    """Worker process entry point: connect to the parent at ``address`` and execute requests
    until the parent closes the socket."""
    asyncio.run(_serve(address, config))


async def _serve(address: str, config) -> None:
    import openai

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    sdk = openai.AsyncOpenAI(api_key=config.api_key(), base_url=config.base_url, timeout=config.timeout, max_retries=config.retries)
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    tasks: set[asyncio.Task] = set()

    async def handle(rid: int, body: dict) -> None:
        try:
            outcome = await post_chat(sdk, body)
        except Exception as exc:  # not an API error: report it, the parent stops the run
            outcome = ("crash", f"{type(exc).__name__}: {str(exc)[:300]}")
        if channel.alive:
            channel.send((rid, outcome))

    def on_frame(msg) -> None:
        task = loop.create_task(handle(*msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_close(_ch) -> None:
        if not closed.done():
            closed.set_result(None)

    channel = _Channel(sock, on_frame, on_close)
    channel.attach(loop)
    try:
        await closed
    finally:
        channel.detach()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sdk.close()
        sock.close()
