"""Frequency weight functions of FAMOL."""

import math

import numpy as np
import pytest

from gbltr.errors import ConfigError
from gbltr.labels.fusion import FusionConfig

CTX = dict(high_min=100, medium_min=10)


def test_sigmoid_is_half_at_beta_and_increasing():
    cfg = FusionConfig(weight_fn="sigmoid", weight_params={"alpha": 2.0, "beta": math.log1p(30)})
    w = cfg.weights(np.array([0, 30, 1000]), **CTX)
    assert w[1] == pytest.approx(0.5)
    assert w[0] < 0.5 < w[2]


def test_bucket_constants_and_loss_weights_with_scales():
    cfg = FusionConfig(weight_fn="bucket", weight_params={"high": 0.9, "medium": 0.5, "low": 0.1},
                       click_scale=2.0, llm_scale=1.0)
    a, b = cfg.loss_weights(np.array([500, 50, 5]), **CTX)
    np.testing.assert_allclose(a, [1.8, 1.0, 0.2])
    np.testing.assert_allclose(b, [0.1, 0.5, 0.9])


def test_log_normalised_frequency():
    cfg = FusionConfig(weight_fn="log")
    w = cfg.weights(np.array([0, 99, 9999]), f_max=9999, **CTX)
    np.testing.assert_allclose(w, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("fn,params,msg", [
    ("sigmoid", {"alpha": -1}, "alpha=-1; expected a finite number > 0"),
    ("constant", {"value": 1.5}, r"value=1.5; expected a finite number in \[0, 1\]"),
    ("bucket", {"low": -0.1}, r"low=-0.1; expected a finite number in \[0, 1\]"),
    ("log", {"f_max": 0}, "f_max=0"),
])
def test_invalid_parameters_name_the_valid_range(fn, params, msg):
    with pytest.raises(ConfigError, match=msg):
        FusionConfig(weight_fn=fn, weight_params=params)


def test_unknown_weight_function_lists_the_registry():
    with pytest.raises(ConfigError, match="choose one of: auto, bucket, constant, log, piecewise, sigmoid"):
        FusionConfig(weight_fn="step")


def test_piecewise_interpolates_in_log_frequency_between_bucket_centres():
    cfg = FusionConfig(weight_fn="piecewise", weight_params={"high": 0.9, "medium": 0.5, "low": 0.1})
    # knots at sqrt(10), sqrt(1000) and 100 sqrt(10) sessions; flat outside, linear in log(1 + f) inside
    knots = [math.sqrt(10), math.sqrt(1000), 100 * math.sqrt(10)]
    w = cfg.weights(np.array([0.0, *knots, 1e6]), **CTX)
    np.testing.assert_allclose(w, [0.1, 0.1, 0.5, 0.9, 0.9])
    mid = math.expm1((math.log1p(knots[0]) + math.log1p(knots[1])) / 2)
    assert cfg.weights(np.array([mid]), **CTX)[0] == pytest.approx(0.3)


def test_auto_is_the_default_and_takes_no_parameters():
    assert FusionConfig().weight_fn == "auto"
    with pytest.raises(ConfigError, match="weight_fn='auto', which searches"):
        FusionConfig(weight_fn="auto", weight_params={"alpha": 2.0})
    with pytest.raises(ConfigError, match="no weights until the validation search"):
        FusionConfig().weights(np.array([1.0]), **CTX)


def test_unknown_weight_parameter_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['alpah'\]; expected some of \['alpha', 'beta'\]"):
        FusionConfig(weight_fn="sigmoid", weight_params={"alpah": 9.0})
