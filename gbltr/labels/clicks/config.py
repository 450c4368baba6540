"""The ``[click]`` config table: typed, frozen, validated once (light: no polars, no numba)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gbltr.errors import ConfigError, unknown_choice
from gbltr.labels.clicks.priors import LEARNABLE, PRIOR_CHOICES, BetaPrior, EMSettings, Priors
from gbltr.labels.clicks.registry import MODELS
from gbltr.ranges import check_fields, count, number, probability, range_of

UNSHOWN_POLICIES = ("zero", "drop")
LOG_FORMATS = ("auto", "dataset", "impressions", "trec-session", "ncm", "sogou")
"""Log formats ``gbltr clicks fit --format`` reads (:mod:`gbltr.labels.clicks.report`)."""
GRADINGS = ("threshold", "quantile")
TEST_SHARE = probability(low_open=True, high_open=True)
"""``gbltr clicks fit --test-share``: the share of sessions held out when the log has no split of its own."""


PSEUDO_COUNT = range_of(BetaPrior, "a")
"""One Beta pseudo-count (``[click.priors]`` values, ``gbltr clicks fit --attractiveness-prior``)."""


def _pair(v, name):
    v = tuple(float(x) for x in v)
    if len(v) != 2:
        raise ConfigError(f"click.priors.{name}={list(v)}; expected two pseudo-counts [a, b]")
    for x in v:
        if not PSEUDO_COUNT.contains(x):
            raise ConfigError(f"click.priors.{name}={list(v)}; expected two pseudo-counts, each {PSEUDO_COUNT.describe()}")
    return v


@dataclass(frozen=True)
class ClickPriors:
    """The Beta priors of the click models (``[click.priors]``).

    ``choice = "auto"`` (the default): the per-pair kinds (attractiveness; satisfaction for DBN and
    SDBN) are learnt from the training sessions by empirical Bayes
    (:mod:`gbltr.labels.clicks.empirical`), and examination and continuation keep the pseudo-counts
    below. ``choice = "fixed"``: every kind uses the pseudo-counts [a, b] below (each
    :data:`PSEUDO_COUNT`). The fixed attractiveness (1, 3) was the default before: chosen on
    trec-session-2014 (training split vs the validation SERPs of seen queries), it biased
    examination upwards by x1.2-1.5 on a simulated log of 1M sessions (issue 23), which the learnt
    prior does not. Giving attractiveness or satisfaction pseudo-counts with ``choice = "auto"`` is
    refused: they would be ignored."""

    choice: str = "auto"
    attractiveness: tuple[float, ...] = number((1.0, 3.0), PSEUDO_COUNT)
    examination: tuple[float, ...] = number((1.0, 1.0), PSEUDO_COUNT)
    satisfaction: tuple[float, ...] = number((1.0, 1.0), PSEUDO_COUNT)
    continuation: tuple[float, ...] = number((1.0, 1.0), PSEUDO_COUNT)

    def __post_init__(self):
        if self.choice not in PRIOR_CHOICES:
            raise unknown_choice("click.priors.choice", self.choice, PRIOR_CHOICES)
        for name in ("attractiveness", "examination", "satisfaction", "continuation"):
            _pair(getattr(self, name), name)
        if self.choice == "auto":
            given = [k for k in LEARNABLE if tuple(getattr(self, k)) != _DEFAULT_PSEUDO_COUNTS[k]]
            if given:
                raise ConfigError(
                    f"click.priors.{given[0]}={list(getattr(self, given[0]))} with click.priors.choice='auto', which "
                    f"learns {' and '.join(LEARNABLE)} from the log and would ignore it; set click.priors.choice = "
                    "'fixed' to use these pseudo-counts (CLI: --priors fixed), or remove them")

    @property
    def learn(self) -> tuple[str, ...]:
        """The kinds learnt from the log (:data:`LEARNABLE` with ``auto``; none with ``fixed``)."""
        return LEARNABLE if self.choice == "auto" else ()

    def priors(self) -> Priors:
        """The configured pseudo-counts (with ``auto``: where the learnt kinds start)."""
        return Priors.from_pairs(attractiveness=self.attractiveness, examination=self.examination,
                                 satisfaction=self.satisfaction, continuation=self.continuation)


_DEFAULT_PSEUDO_COUNTS = {"attractiveness": (1.0, 3.0), "satisfaction": (1.0, 1.0)}


@dataclass(frozen=True)
class ClickLabelConfig:
    """How click labels are made from the log (``[click]`` in a config)."""

    model: str = "pbm"
    unshown: str = "zero"
    grading: str = "threshold"
    thresholds: tuple[float, ...] = number((0.05, 0.15, 0.30, 0.50), probability(low_open=True, high_open=True))
    quantiles: tuple[float, ...] = number((0.5, 0.75, 0.9, 0.97), probability(low_open=True, high_open=True))
    priors: ClickPriors = field(default_factory=ClickPriors)
    em_iterations: int = number(200, range_of(EMSettings, "max_iterations"))
    em_tolerance: float = number(1e-6, range_of(EMSettings, "tolerance"))
    max_positions: int = number(10, count(1))
    min_propensity: float = number(0.05, probability(low_open=True))
    ips_weights: bool = False
    debias: bool = False

    def __post_init__(self):
        check_fields(self, "click")
        if self.model not in MODELS:
            raise unknown_choice("click model", self.model, MODELS)
        if self.unshown not in UNSHOWN_POLICIES:
            raise unknown_choice("unshown-candidate policy", self.unshown, UNSHOWN_POLICIES)
        if self.grading not in GRADINGS:
            raise unknown_choice("click grading", self.grading, GRADINGS)
        for name in ("thresholds", "quantiles"):
            t = list(getattr(self, name))
            if not t or t != sorted(t):
                raise ConfigError(f"click.{name}={t}; expected increasing numbers in (0, 1)")

    @property
    def em(self) -> EMSettings:
        return EMSettings(self.em_iterations, self.em_tolerance)


STREAMING_MODELS = ("ctr", "dctr", "pbm", "ubm")
"""Click models fitted exactly from streamed counts (:mod:`gbltr.labels.clicks.stream`)."""
UBM_MAX_POSITIONS = 62
"""UBM's previous click travels as an Int64 bit mask of clicked positions."""


def can_stream(config: ClickLabelConfig) -> bool:
    """The click model fits from streamed counts (what :func:`check_streamable` refuses otherwise)."""
    return config.model in STREAMING_MODELS and not (config.model == "ubm" and config.max_positions > UBM_MAX_POSITIONS)


def check_streamable(config: ClickLabelConfig, why: str = "streaming (train.stream / --engine dask)") -> None:
    """Refuse, before any work, a click model that cannot be fitted from streamed counts."""
    if config.model not in STREAMING_MODELS:
        raise ConfigError(
            f"click model {config.model!r} needs whole sessions and cannot run with {why}; expected one of "
            f"{', '.join(STREAMING_MODELS)} (they fit exactly on streamed counts), or --no-stream to load the log "
            "in memory"
        )
    if config.model == "ubm" and config.max_positions > UBM_MAX_POSITIONS:
        raise ConfigError(f"click model 'ubm' streams up to click.max_positions={UBM_MAX_POSITIONS}; found "
                          f"{config.max_positions}; lower it or use --no-stream")
