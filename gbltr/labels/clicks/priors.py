"""Beta pseudo-counts, the record of which prior a fit used, and EM stopping settings (imported by
the config, so numpy loads only when a prior is applied: ``gbltr --help`` stays light).

See :mod:`gbltr.labels.clicks.base` for how the models use them and
:mod:`gbltr.labels.clicks.empirical` for the pseudo-counts learnt from the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

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

    def with_(self, kind: str, prior: BetaPrior) -> "Priors":
        return replace(self, **{kind: prior})


PRIOR_CHOICES = ("auto", "fixed")
"""``[click.priors] choice``: ``auto`` learns the per-pair priors from the log (empirical Bayes,
:mod:`gbltr.labels.clicks.empirical`); ``fixed`` uses the configured pseudo-counts."""
LEARNABLE = ("attractiveness", "satisfaction")
"""The per-pair parameter kinds whose prior ``auto`` learns. Examination and continuation are one
parameter per position (per log): there is no population of them to learn a prior from, and their
evidence is the whole log, so their pseudo-counts stay the configured ones."""

AUTO_WHY = ("empirical Bayes: Beta(a, b) maximising the beta-binomial marginal likelihood of the training "
            "sessions' per-pair evidence (attractiveness: clicks over expected examinations; satisfaction: "
            "expected satisfied clicks over clicks), refitted inside EM until stable")
FIXED_WHY = "fixed pseudo-counts from the config ([click.priors] choice = 'fixed')"


@dataclass(frozen=True)
class LearntPrior:
    """One learnt prior: ``kind``, the Beta(a, b) found, the ``pairs`` whose evidence it was fitted
    to, the beta-binomial log marginal likelihood per pair, and whether (a, b) reached the bounds
    of :mod:`gbltr.labels.clicks.empirical`."""

    kind: str
    a: float
    b: float
    pairs: int
    log_marginal_per_pair: float
    at_bound: bool = False


@dataclass(frozen=True)
class PriorChoice:
    """Which prior a fit used and why: the one record of it (``FittedClickModel.prior``; saved in
    ``model.json``, shown by ``gbltr clicks fit`` and in a run's report).

    ``priors``: the pseudo-counts in effect at the end of the fit; ``choice``: ``auto`` or
    ``fixed``; ``learnt``: one :class:`LearntPrior` per kind learnt from the log (empty when
    fixed, or for a model without that kind); ``why``: the method, in words."""

    priors: Priors
    choice: str = "fixed"
    learnt: tuple[LearntPrior, ...] = ()
    why: str = FIXED_WHY

    @classmethod
    def fixed(cls, priors: Priors) -> "PriorChoice":
        return cls(priors, "fixed", (), FIXED_WHY)

    def to_json(self) -> dict:
        return {"choice": self.choice, "why": self.why, "priors": self.priors.to_json(),
                "learnt": [asdict(x) for x in self.learnt]}

    @classmethod
    def from_json(cls, data: dict) -> "PriorChoice":
        return cls(Priors.from_pairs(**data["priors"]), data["choice"],
                   tuple(LearntPrior(**x) for x in data.get("learnt", ())), data.get("why", ""))

    def describe(self) -> str:
        """One line, e.g. ``auto: attractiveness Beta(0.61, 0.87), satisfaction Beta(1.9, 2.1)``."""
        if not self.learnt:
            return "fixed: " + ", ".join(f"{k} ({v[0]:g}, {v[1]:g})" for k, v in self.priors.to_json().items())
        return "auto: " + ", ".join(f"{x.kind} Beta({x.a:.4g}, {x.b:.4g})" + (" (at a bound)" if x.at_bound else "")
                                    for x in self.learnt)


@dataclass(frozen=True)
class EMSettings:
    """EM stopping: at most ``max_iterations``; stop when the mean log-posterior per session
    changes by less than ``tolerance``."""

    max_iterations: int = number(200, count(1))
    tolerance: float = number(1e-6, positive())

    def __post_init__(self):
        check_fields(self, "em")
