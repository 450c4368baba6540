"""Shared test fixtures.

Real public data lives beside the checkout in ``../shared/data`` (never inside the project).
Tests that need it use :func:`shared_data`, which skips with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GBLTR_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data():
    """Return a function ``get(sub) -> Path`` that skips the test when ``sub`` is absent."""

    def get(sub: str) -> Path:
        path = SHARED_DATA / sub
        if not path.exists():
            pytest.skip(f"shared data {path} is absent (set GBLTR_SHARED_DATA or place ../shared/data)")
        return path

    return get
