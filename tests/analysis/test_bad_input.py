"""Bad input to the ablation: one clear line naming what was expected, never a traceback or a NaN."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gbltr.config import FitConfig
from gbltr.errors import ConfigError
from gbltr.pipeline import Prepared
from gbltr.train.dataset import RankingDataset

GBLTR = str(Path(sys.executable).parent / "gbltr")


def _ds(names):
    return RankingDataset(X=np.ones((4, len(names)), np.float32), feature_names=tuple(names),
                          query_ids=np.array(["a", "b"]), doc_ids=np.array(list("wxyz")), group_ptr=np.array([0, 2, 4]))


def _prep():
    names = ("f1", "f2", "f3")
    import polars as pl

    from gbltr.buckets import BucketSpec
    from gbltr.prepared import Dropped, FeatureRecord, LabelCoverage, LogSummary, Split

    split = Split("source", True, pl.DataFrame({"query_id": ["a", "b"], "split": ["train", "test"]}))
    coverage = LabelCoverage({}, {}, {}, {}, {}, 0, {})
    return Prepared(FitConfig(), "", None, names, {"document": ("f1", "f2"), "query": ("f3",)},
                    _ds(names), _ds(names), _ds(names), BucketSpec(), split, coverage, FeatureRecord(), Dropped(),
                    LogSummary(streamed=False, queries_in_log=0))


def test_removing_a_group_keeps_the_rest_and_removing_every_feature_is_an_error():
    p = _prep().without_groups(["document"])
    assert p.feature_names == ("f3",) and p.test.X.shape == (4, 1) and p.train.feature_names == ("f3",)
    with pytest.raises(ConfigError, match=r"removing \['f1', 'f2', 'f3'\] leaves no feature"):
        _prep().without_features(["f1", "f2", "f3"])
    with pytest.raises(ConfigError, match="unknown feature group 'docs'; choose one of: document, query"):
        _prep().without_groups(["docs"])


def test_cli_unknown_group_lists_the_catalogue(tmp_path):
    proc = subprocess.run([GBLTR, "ablation", "--groups", "document,authorty", "--out", str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "unknown feature group 'authorty'; choose one of:" in proc.stderr
    assert "authority" in proc.stderr and "query_document" in proc.stderr
    assert "Traceback" not in proc.stderr
