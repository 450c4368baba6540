"""Beta pseudo-counts and EM stopping settings (imported by the config, so numpy loads only when a
prior is applied: ``gbltr --help`` stays light).

See :mod:`gbltr.labels.clicks.base` for how the models use them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gbltr.errors import ConfigError
from gbltr.ranges import check_fields, count, non_negative, number, positive, range_of


@dataclass(frozen=True)
class BetaPrior:
    """Beta pseudo-counts (a successes, b failures) added to a probability's M-step."""

    a: float = number(1.0, non_negative())
    b: float = number(1.0, non_negative())

    def __post_init__(self):
        if not (range_of(BetaPrior, "a").contains(self.a) and range_of(BetaPrior, "b").contains(self.b)):
            raise ConfigError(f"Beta pseudo-counts must be {range_of(BetaPrior, 'a').describe()}; "
                              f"found a={self.a}, b={self.b}")

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b) if self.a + self.b > 0 else 0.5

    def update(self, successes, trials):
        """(successes + a) / (trials + a + b); trials of 0 with no pseudo-counts give 0.5."""
        import numpy as np

        den = np.asarray(trials, float) + self.a + self.b
        num = np.asarray(successes, float) + self.a
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.5)

    def log_density(self, x) -> float:
        """Sum of a log x + b log(1 - x): the prior's part of the EM objective."""
        import numpy as np

        x = np.clip(np.asarray(x, float), 1e-300, 1 - 1e-16)
        return float(self.a * np.log(x).sum() + self.b * np.log1p(-x).sum())


@dataclass(frozen=True)
class Priors:
    """Pseudo-counts per parameter kind (``[click.priors]`` in a config)."""

    attractiveness: BetaPrior = BetaPrior(1.0, 1.0)
    examination: BetaPrior = BetaPrior(1.0, 1.0)
    satisfaction: BetaPrior = BetaPrior(1.0, 1.0)
    continuation: BetaPrior = BetaPrior(1.0, 1.0)

    @classmethod
    def from_pairs(cls, **kw) -> "Priors":
        """``Priors.from_pairs(attractiveness=(1, 3))``: tuples to :class:`BetaPrior`."""
        return cls(**{k: v if isinstance(v, BetaPrior) else BetaPrior(*v) for k, v in kw.items()})

    def to_json(self) -> dict:
        return {k: [v.a, v.b] for k, v in asdict(self).items() for v in [getattr(self, k)]}


@dataclass(frozen=True)
class EMSettings:
    """EM stopping: at most ``max_iterations``; stop when the mean log-posterior per session
    changes by less than ``tolerance``."""

    max_iterations: int = number(200, count(1))
    tolerance: float = number(1e-6, positive())

    def __post_init__(self):
        check_fields(self, "em")
