"""Fusing click labels and LLM labels: frequency weight functions and the fusion settings.

FAMOL (frequency-aware multi-objective learning; Yu, Bi, Guo et al., arXiv 2511.06635) trains
on ``a_q L_click(q) + b_q L_llm(q)`` with ``a_q = click_scale * w(f_q)`` and
``b_q = llm_scale * (1 - w(f_q))``, where ``f_q`` is the query's frequency in the training log
and ``w`` maps it into [0, 1]: the more often a query is searched, the more its clicks are
trusted. Weight functions, by name (:data:`WEIGHT_FUNCTIONS`):

``constant``  ``w = value`` for every query: the constant-mix baseline that frequency-aware
              weighting must beat.                                   params: value in [0, 1]
``bucket``    one constant per frequency bucket.         params: high, medium, low in [0, 1]
``log``       normalised log frequency ``log(1 + f) / log(1 + f_max)``, clipped to [0, 1];
              ``f_max`` defaults to the largest training frequency.   params: f_max > 0
``sigmoid``   ``sigmoid(alpha (log(1 + f) - beta))``.   params: alpha > 0, beta (any real)
``piecewise`` piecewise linear in ``log(1 + f)`` through one knot per bucket, flat beyond the
              outer knots: the learnt form that the ``auto`` search fits per bucket on validation
              queries (:mod:`gbltr.train.weight_search`). Knots sit at the geometric centres of
              the buckets in frequency: ``sqrt(medium_min)`` (low), ``sqrt(medium_min high_min)``
              (medium) and ``high_min sqrt(high_min / medium_min)`` (high); 3, 32 and 316
              sessions with the default thresholds.    params: high, medium, low in [0, 1]

``auto`` (the default) is not a function but a search: before training, it picks the weight
function and its parameters by validation nDCG (:mod:`gbltr.train.weight_search`); the report
records every candidate tried and the choice.

Grades of the two sources live on different scales. Each source has its own gain table
(``click_gain``, ``llm_gain``; default ``2^g - 1`` for grades 0-4, as LightGBM and XGBoost
use), so aligning them is an explicit, documented choice rather than an accident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gbltr.buckets import BUCKETS, BY_FREQUENCY, BucketSpec
from gbltr.errors import ConfigError, unknown_choice
from gbltr.ranges import check_fields, non_negative, number, positive, probability, real

if TYPE_CHECKING:  # numpy loads when weights are computed, not when configs are read (start-up)
    import numpy as np

FUSION_METHODS = ("famol", "schedule")
FAMOL_FORMS = ("objective", "stacked")


def _check(name: str, params: dict, key: str):
    """Refuse a missing parameter or one outside its declaration (:data:`WEIGHT_PARAM_RANGES`)."""
    declared = WEIGHT_PARAM_RANGES[key]
    if key not in params:
        raise ConfigError(f"weight function {name!r} needs parameter {key!r} ({declared.describe()})")
    declared.check(f"weight function {name!r}: {key}", params[key])


def _constant(freq, params, ctx):
    import numpy as np

    _check("constant", params, "value")
    return np.full(freq.shape, float(params["value"]))


def _bucket(freq, params, ctx):
    import numpy as np

    for b in BUCKETS:
        _check("bucket", params, b)
    names = BucketSpec(ctx["high_min"], ctx["medium_min"]).of(freq)
    return np.select([names == b for b in BUCKETS], [float(params[b]) for b in BUCKETS]).astype(float)


def piecewise_knots(high_min: float, medium_min: float) -> np.ndarray:
    """The ``piecewise`` function's knots in ``log(1 + f)``: low, medium, high bucket centres."""
    import numpy as np

    return np.log1p([math.sqrt(medium_min), math.sqrt(medium_min * high_min),
                     high_min * math.sqrt(high_min / medium_min)])


def _piecewise(freq, params, ctx):
    import numpy as np

    for b in BUCKETS:
        _check("piecewise", params, b)
    knots = piecewise_knots(ctx["high_min"], ctx["medium_min"])
    return np.interp(np.log1p(freq), knots, [params[b] for b in BY_FREQUENCY])


def _log(freq, params, ctx):
    import numpy as np

    f_max = params.get("f_max", ctx.get("f_max"))
    if f_max is None:
        raise ConfigError(f"weight function 'log' needs parameter 'f_max' ({WEIGHT_PARAM_RANGES['f_max'].describe()})")
    WEIGHT_PARAM_RANGES["f_max"].check("weight function 'log': f_max", f_max)
    return np.clip(np.log1p(freq) / math.log1p(f_max), 0.0, 1.0)


def _sigmoid(freq, params, ctx):
    import numpy as np

    _check("sigmoid", params, "alpha")
    _check("sigmoid", params, "beta")
    with np.errstate(over="ignore"):  # a huge alpha is a step: exp overflows to inf, and 1 / (1 + inf) = 0
        return 1.0 / (1.0 + np.exp(-params["alpha"] * (np.log1p(freq) - params["beta"])))


WEIGHT_FUNCTIONS = {"constant": _constant, "bucket": _bucket, "log": _log, "sigmoid": _sigmoid,
                    "piecewise": _piecewise}
DEFAULT_WEIGHT_PARAMS = {
    "constant": {"value": 0.5},
    "bucket": {"high": 0.8, "medium": 0.5, "low": 0.2},
    "log": {},
    "sigmoid": {"alpha": 1.5, "beta": math.log1p(30.0)},
    "piecewise": {"high": 0.8, "medium": 0.5, "low": 0.2},
}
AUTO = "auto"
WEIGHT_CHOICES = {AUTO: None, **WEIGHT_FUNCTIONS}  # CLI choices: the search or one fixed function

WEIGHT_PARAMS = {"constant": ("value",), "bucket": BUCKETS, "log": ("f_max",), "sigmoid": ("alpha", "beta"),
                 "piecewise": BUCKETS}
"""The parameters each weight function reads; any other key is an error (a typo must not be ignored)."""
WEIGHT_PARAM_RANGES = {"value": probability(), **{b: probability() for b in BUCKETS}, "f_max": positive(),
                       "alpha": positive(), "beta": real()}
"""The declared range of each weight-function parameter (``fusion.weight_params``, ``--weight-param``)."""


def named_schedules() -> dict:
    """Named data-scheduling schedules (``fusion.schedule``): name -> the TOML file of the package data
    folder ``gbltr/train/schedules/`` (read by :func:`gbltr.train.fused.load_schedule`), found beside
    this file: installed and editable copies are both plain folders (gbltr is not zip-safe), and
    :mod:`importlib.resources` would cost ``gbltr fit --help`` about 15 ms of imports."""
    folder = Path(__file__).resolve().parent.parent / "train" / "schedules"
    return {p.name.removesuffix(".toml"): p for p in sorted(folder.iterdir(), key=lambda t: t.name)
            if p.name.endswith(".toml")}


def default_gain(max_grade: int = 4) -> tuple[float, ...]:
    """The exponential gain table ``2^g - 1`` for grades ``0..max_grade``."""
    return tuple(float(2**g - 1) for g in range(max_grade + 1))


def gain_for(*grades) -> tuple[float, ...]:
    """The gain table (:func:`default_gain`) that covers every grade in ``grades`` (arrays; NaN =
    no label): up to their largest grade, at least 1; grade 4 when none has a label."""
    import numpy as np

    top = max((int(np.nanmax(a)) for a in grades if np.size(a) and not np.all(np.isnan(a))), default=4)
    return default_gain(max(top, 1))


@dataclass(frozen=True)
class FusionConfig:
    """How ``--labels fused`` combines the two sources.

    ``method``: ``famol`` or ``schedule``. ``form`` (FAMOL only): ``objective`` (custom objective)
    or ``stacked`` (each query twice, built-in objective, frequency-conditioned weights).
    ``schedule``: a named schedule packaged in ``gbltr/train/schedules/`` or a path to a TOML file of stages.
    """

    method: str = "famol"
    form: str = "objective"
    weight_fn: str = AUTO
    weight_params: dict = field(default_factory=dict)
    click_scale: float = number(1.0, non_negative())
    llm_scale: float = number(1.0, non_negative())
    click_gain: tuple[float, ...] = number(default_gain(), non_negative())
    llm_gain: tuple[float, ...] = number(default_gain(), non_negative())
    schedule: str = "llm-then-click"

    def __post_init__(self):
        import numpy as np

        check_fields(self, "fusion")
        if self.method not in FUSION_METHODS:
            raise unknown_choice("fusion", self.method, FUSION_METHODS)
        if self.form not in FAMOL_FORMS:
            raise unknown_choice("FAMOL form", self.form, FAMOL_FORMS)
        if self.weight_fn not in WEIGHT_CHOICES:
            raise unknown_choice("weight function", self.weight_fn, WEIGHT_CHOICES)
        if self.weight_fn == AUTO and self.weight_params:
            raise ConfigError(
                f"weight_params {sorted(self.weight_params)} were given with weight_fn='auto', which searches the "
                "weight function and its parameters on validation queries; name a fixed weight function "
                f"({', '.join(sorted(WEIGHT_FUNCTIONS))}) to set them"
            )
        unknown = sorted(set(self.weight_params) - set(WEIGHT_PARAMS.get(self.weight_fn, ())))
        if unknown:
            raise ConfigError(
                f"weight function {self.weight_fn!r}: unknown parameter(s) {unknown}; "
                f"expected some of {list(WEIGHT_PARAMS[self.weight_fn])}"
            )
        for name in ("click_gain", "llm_gain"):
            g = list(getattr(self, name))
            if not g or g != sorted(g):
                raise ConfigError(f"fusion.{name}={g}; expected non-negative, non-decreasing gains per grade")
        # Validate parameters now, on a dummy frequency, so a bad value fails before training.
        if self.weight_fn != AUTO:
            self.weights(np.array([0.0, 10.0]), high_min=100, medium_min=10, f_max=10.0)

    def to_summary(self) -> dict:
        """The settings that define this fusion, for reports."""
        if self.method == "schedule":
            return {"method": "schedule", "schedule": self.schedule}
        return {
            "method": "famol",
            "form": self.form,
            "weight_fn": self.weight_fn,
            "weight_params": self.resolved_params(),
            "click_scale": self.click_scale,
            "llm_scale": self.llm_scale,
        }

    def resolved_params(self) -> dict:
        if self.weight_fn == AUTO:
            return {}
        return {**DEFAULT_WEIGHT_PARAMS[self.weight_fn], **self.weight_params}

    def weights(self, freq: np.ndarray, *, high_min: int, medium_min: int, f_max: float | None = None) -> np.ndarray:
        """``w(f_q)`` in [0, 1] for each frequency in ``freq``."""
        import numpy as np

        if self.weight_fn == AUTO:
            raise ConfigError("weight function 'auto' has no weights until the validation search has chosen one "
                              "(gbltr.train.weight_search.search_weights)")
        ctx = {"high_min": high_min, "medium_min": medium_min, "f_max": f_max}
        w = WEIGHT_FUNCTIONS[self.weight_fn](np.asarray(freq, dtype=float), self.resolved_params(), ctx)
        return np.clip(w, 0.0, 1.0)

    def loss_weights(self, freq: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray]:
        """Per-query (click weight, LLM weight) = (click_scale w, llm_scale (1 - w))."""
        w = self.weights(freq, **kw)
        return self.click_scale * w, self.llm_scale * (1.0 - w)
