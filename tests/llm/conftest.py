"""Fixtures of the LLM annotator tests: a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # lets tests import fake_openai / realdata by module name
    sys.path.insert(0, str(HERE))


@pytest.fixture
def fake_server():
    """A started :class:`fake_openai.FakeOpenAI`; script it with ``srv.script = fn``."""
    from fake_openai import FakeOpenAI

    srv = FakeOpenAI().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch):
    """Tests talk to 127.0.0.1 only; a recognisable fake key proves keys never reach disk."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-do-not-store")
