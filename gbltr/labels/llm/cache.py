"""Durable on-disk cache of model answers (SQLite in WAL mode).

The key is a SHA-256 of everything that changes an answer (:func:`request_key`): endpoint,
model, messages, response format / schema, sampling parameters, prompt version and sample
index. The value is the response body the server returned (JSON), never the request headers,
so API keys never reach the file. Every answer is committed as soon as it arrives: kill the
process at any point and the rerun asks for nothing that had finished.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from functools import lru_cache
from pathlib import Path

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


class AnswerCache:
    """``key -> response dict`` in one SQLite file; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", isolation_level=None, check_same_thread=False)
        if self.path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict | None:
        row = self._db.execute("SELECT response FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        """``{key: response}`` of the keys that are stored (one query per 500 keys)."""
        out: dict[str, dict] = {}
        loads = json.loads
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for k, r in self._db.execute(_select_in(len(chunk)), chunk):
                out[k] = loads(r)
        return out

    def put(self, key: str, response: dict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers (key, response, created) VALUES (?, ?, ?)",
            (key, json.dumps(response, ensure_ascii=False), time.time()),
        )

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self._db.close()
