"""Run folders for the serve tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # lets tests import synthetic by module name
    sys.path.insert(0, str(HERE))


@pytest.fixture
def tiny_fixture_run(tmp_path_factory):
    """A run folder as 'gbltr fit' writes it (model, config.json, report.json) for a tiny
    LightGBM ranker on synthetic rows; seconds, no pipeline."""
    from gbltr.config import FitConfig
    from synthetic import NAMES, make_data, train

    folder = tmp_path_factory.mktemp("run")
    X, y, g = make_data(7, nan_rate=0.0)
    train("lightgbm", X, y, g, rounds=5).save(folder)
    (folder / "config.json").write_text(json.dumps(FitConfig().to_json()))
    (folder / "report.json").write_text(json.dumps({"features": NAMES}))
    return folder
