"""Device handling: clear refusals instead of silent fallbacks."""

import pytest

from gbltr.config import TrainConfig
from gbltr.errors import DeviceError
from gbltr.train.backends import lightgbm as lgb_backend
from gbltr.train.backends import xgboost as xgb_backend

CUDA = TrainConfig(device="cuda")


def test_lightgbm_without_a_cuda_build_says_what_to_use():
    if lgb_backend.cuda_available():
        pytest.skip("this LightGBM has a CUDA learner")
    with pytest.raises(DeviceError, match="no CUDA tree learner .* --backend xgboost --device cuda"):
        lgb_backend.params_for(CUDA, seed=0, label_gain=(0, 1), eval_at=10, device="cuda", weighted=False)


def test_lightgbm_cuda_refuses_weighted_ranking(monkeypatch):
    monkeypatch.setattr(lgb_backend, "cuda_available", lambda: True)
    with pytest.raises(DeviceError, match="CUDA ranking objective ignores per-row weights"):
        lgb_backend.params_for(CUDA, seed=0, label_gain=(0, 1), eval_at=10, device="cuda", weighted=True)
    params = lgb_backend.params_for(CUDA, seed=0, label_gain=(0, 1), eval_at=10, device="cuda", weighted=False)
    assert params["device_type"] == "cuda"


def test_xgboost_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(xgb_backend, "cuda_available", lambda: False)
    with pytest.raises(DeviceError, match="needs a visible NVIDIA GPU"):
        xgb_backend.params_for(CUDA, seed=0, eval_at=10, device="cuda")
    monkeypatch.setattr(xgb_backend, "cuda_available", lambda: True)
    assert xgb_backend.params_for(CUDA, seed=0, eval_at=10, device="cuda")["device"] == "cuda"


def test_famol_gradient_falls_back_to_cpu_with_a_log_line(monkeypatch, caplog):
    import gbltr.train.gpu_objectives as gpu
    from gbltr.config import load_config
    from gbltr.train.fused import _gpu_objective

    monkeypatch.setattr(gpu, "gpu_available", lambda: False)
    cfg = load_config(None, {"labels": "fused", "train": {"backend": "xgboost", "device": "cuda"}})
    with caplog.at_level("WARNING", logger="gbltr"):
        assert _gpu_objective(cfg, (), {}) is None
    assert "FAMOL gradient runs on the CPU" in caplog.text
