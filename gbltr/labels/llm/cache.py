"""Durable on-disk cache of model answers (SQLite in WAL mode).

The key is a SHA-256 of everything that changes an answer (:func:`request_key`): endpoint,
model, messages, response format / schema, sampling parameters, prompt version and sample
index. The value is the response body the server returned (JSON), never the request headers,
so API keys never reach the file. Every answer is committed as soon as it arrives: kill the
process at any point and the rerun asks for nothing that had finished.

Damage, and what happens:

* a file that is not an SQLite database, or not one with gbltr's ``answers`` table, or one
  SQLite reports as malformed: :class:`~gbltr.errors.DataError` naming the file. Recovery:
  delete it (its answers are asked again) or pass another ``--cache``;
* a row whose value is not a JSON object (hand-edited, truncated by a foreign tool): treated as
  a miss, deleted, and counted in :attr:`AnswerCache.dropped_rows` (``gbltr annotate`` reports
  the count on stderr and in the run record); the request is asked again.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import sqlite3
import time
from functools import lru_cache
from pathlib import Path

from gbltr.errors import DataError
from gbltr.folders import write_error

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(endpoint: str, body: dict, *, prompt_version: str, sample: int = 0) -> str:
    """Stable SHA-256 of one request.

    ``body`` is the chat-completions body (model, messages, response_format, sampling params).
    Everything but the message texts is hashed as sorted-key JSON (dict order does not matter);
    each message text is hashed as length-prefixed UTF-8 (no JSON escaping of long documents,
    which is what made hashing the slowest part of a cache hit).
    """
    return message_key(key_prefix(endpoint, body, prompt_version=prompt_version, sample=sample), body.get("messages") or ())


def key_prefix(endpoint: str, body: dict, *, prompt_version: str, sample: int = 0):
    """The hash state of :func:`request_key` after everything but the messages (a ``hashlib``
    object). Requests that differ only in their messages share it: hash it once, then finish
    each key with :func:`message_key` (same keys, without re-serialising the schema per request)."""
    h = hashlib.sha256()
    meta = {k: v for k, v in body.items() if k != "messages"}
    h.update(json.dumps({"endpoint": endpoint.rstrip("/"), "body": meta, "prompt_version": prompt_version, "sample": sample}, sort_keys=True).encode())
    return h


def message_key(prefix, messages) -> str:
    """Finish a :func:`key_prefix` state with ``messages``: the :func:`request_key` of the request."""
    h = prefix.copy()
    for m in messages:
        _hash_message(h, m)
    return h.hexdigest()


def message_keys(prefix, message_lists: list[list[dict]]) -> list[str]:
    """:func:`message_key` of each message list (same keys); a first message that all lists share
    (the system prompt) is hashed once."""
    if not message_lists or not message_lists[0]:
        return [message_key(prefix, ms) for ms in message_lists]
    first = message_lists[0][0]
    if not all(ms and ms[0] == first for ms in message_lists):
        return [message_key(prefix, ms) for ms in message_lists]
    shared = prefix.copy()
    _hash_message(shared, first)
    return [message_key(shared, ms[1:]) for ms in message_lists]


def _hash_message(h, message: dict) -> None:
    h.update(_message_head(message))
    text = str(message.get("content") or "").encode("utf-8")
    h.update(len(text).to_bytes(8, "little"))
    h.update(text)


def _message_head(message: dict) -> bytes:
    """Sorted-key JSON of a message without its content (memoised for the usual ``{"role": ...}``)."""
    if len(message) == 2 and "content" in message and isinstance(message.get("role"), str):
        return _role_head(message["role"])
    return json.dumps({k: v for k, v in message.items() if k != "content"}, sort_keys=True).encode()


@lru_cache(maxsize=64)
def _role_head(role: str) -> bytes:
    return json.dumps({"role": role}, sort_keys=True).encode()


@lru_cache(maxsize=512)
def _select_in(n: int) -> str:
    return f"SELECT key, response FROM answers WHERE key IN ({','.join('?' * n)})"


_SQLITE_WRITE_ERRNOS = {13: errno.ENOSPC, 8: errno.EROFS}
"""SQLite's SQLITE_FULL and SQLITE_READONLY, as the write errors of :mod:`gbltr.folders`."""


class AnswerCache:
    """``key -> response dict`` in one SQLite file; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.dropped_rows = 0  # rows that were not a JSON object (deleted, asked again)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", isolation_level=None, check_same_thread=False)
        with self._guard():
            if self.path:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(answers)")}
        if not {"key", "response"} <= columns:
            self._db.close()
            raise DataError(
                f"the answer cache {self.path} has a table 'answers' with columns {sorted(columns)}; expected key, response, created. "
                "It was not written by gbltr annotate: pass another --cache, or delete the file to start afresh"
            )

    @contextlib.contextmanager
    def _guard(self):
        """SQLite's 'not a database' / 'malformed' errors as a DataError with the way out."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _SQLITE_WRITE_ERRNOS:  # the primary code: a failed write
                raise write_error("answer cache", Path(self.path or ":memory:"), exc,
                                  _SQLITE_WRITE_ERRNOS[code & 0xFF]) from None
            raise DataError(
                f"the answer cache {self.path or ':memory:'} is not a readable SQLite database ({exc}); expected a cache "
                "written by gbltr annotate. Delete the file (its answers are asked again) or pass another --cache"
            ) from None

    def _decode(self, key: str, text) -> dict | None:
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = None
        if isinstance(value, dict):
            return value
        self.dropped_rows += 1
        with self._guard():
            self._db.execute("DELETE FROM answers WHERE key = ?", (key,))
        return None

    def get(self, key: str) -> dict | None:
        with self._guard():
            row = self._db.execute("SELECT response FROM answers WHERE key = ?", (key,)).fetchone()
        return self._decode(key, row[0]) if row else None

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """``{key: response}`` of the keys that are stored (one query per 500 keys)."""
        out: dict[str, dict] = {}
        loads = json.loads
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            with self._guard():
                rows = self._db.execute(_select_in(len(chunk)), chunk).fetchall()
            for k, r in rows:
                try:
                    value = loads(r)
                except (TypeError, ValueError):
                    value = None
                if not isinstance(value, dict):
                    value = self._decode(k, r)
                if value is not None:
                    out[k] = value
        return out

    def put(self, key: str, response: dict) -> None:
        with self._guard():
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, response, created) VALUES (?, ?, ?)",
                (key, json.dumps(response, ensure_ascii=False), time.time()),
            )

    def __contains__(self, key: str) -> bool:
        with self._guard():
            return self._db.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        with self._guard():
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()
