"""Empirical Bayes for the click models' Beta priors: the pseudo-counts learnt from the log.

A per-pair probability x_i (attractiveness, satisfaction) is given a population prior
x_i ~ Beta(a, b). Pair i's evidence is ``k_i`` successes in ``n_i`` trials (for attractiveness:
its clicks over its expected examinations from the E-step; for satisfaction: its expected
satisfied clicks over its clicks), and (a, b) maximise the beta-binomial marginal likelihood of
every pair's evidence,

    L(a, b) = sum_i [ ln B(k_i + a, n_i - k_i + b) - ln B(a, b) ]

(Minka, *Estimating a Dirichlet distribution*, 2000; the beta-binomial of Skellam 1948), by
Newton's method on (ln a, ln b) with step halving (L never falls). Non-integer ``n_i`` (expected
counts) enter through the Gamma function, as in EM with expected sufficient statistics.

The fitted (a, b) then serve as the model's pseudo-counts: the M-step
``(successes + a) / (trials + a + b)`` is the posterior mean of x_i under Beta(a, b), the
estimate with the best expected log-likelihood for a new observation of the pair, and a pair
never seen gets the population mean a / (a + b).

(a, b) are kept in [:data:`LEARNT_LOW`, :data:`LEARNT_HIGH`]: the low end keeps every parameter
off 0 and 1 (the purpose of the old fixed prior), the high end bounds a log with no spread
between pairs (where L grows without limit as a + b does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEARNT_LOW = 0.01
"""The smallest learnt pseudo-count: a pair with no click keeps attractiveness > 0."""
LEARNT_HIGH = 1e4
"""The largest learnt pseudo-count: a log whose pairs do not differ gets a strong, finite prior."""
RELATIVE_CHANGE = 1e-3
REFIT_STEPS = 20
"""Newton steps per refit inside EM (warm-started from the last refit; EM refits again later)."""
"""Inside EM, the prior is stable when neither pseudo-count moved by more than this share."""


@dataclass(frozen=True)
class BetaFit:
    """A Beta(a, b) fitted to ``pairs`` pairs' evidence; ``log_marginal``: L(a, b) per pair."""

    a: float
    b: float
    pairs: int
    log_marginal: float
    steps: int
    at_bound: bool


def _evidence(successes, trials):
    """Distinct (k, m = n - k) rows with their counts (pairs with no trial carry no evidence)."""
    k = np.asarray(successes, float)
    n = np.asarray(trials, float)
    keep = n > 0
    k = np.clip(k[keep], 0.0, None)
    m = np.clip(n[keep] - k, 0.0, None)
    if k.size == 0:
        return k, m, k
    rows, w = np.unique(np.stack([k, m], axis=1), axis=0, return_counts=True)
    return rows[:, 0], rows[:, 1], w.astype(float)


def _trigamma(x):
    """psi'(x) for x > 0, ~1e-10 relative: the recurrence psi'(x) = psi'(x + 1) + 1/x^2 up to x >= 6,
    then the asymptotic series. Only Newton's Hessian uses it (the optimum is where the exact
    gradient, scipy's psi, vanishes; the step is checked on the exact objective), and it costs a
    tenth of scipy's polygamma(1, x)."""
    x = np.array(x, float, copy=True)
    out = np.zeros_like(x)
    for _ in range(6):
        low = x < 6.0
        if not low.any():
            break
        out[low] += 1.0 / (x[low] * x[low])
        x[low] += 1.0
    z = 1.0 / (x * x)
    return out + 1.0 / x + z / 2.0 + z / x * (1 / 6 - z * (1 / 30 - z * (1 / 42 - z / 30)))


def _polygamma1(order, x):
    return _trigamma(x)


def _objective(k, m, w, a, b) -> float:
    from scipy.special import betaln

    return float((w * (betaln(k + a, m + b) - betaln(a, b))).sum())


def fit_beta(successes, trials, start: tuple[float, float] = (1.0, 1.0), *, max_steps: int = 100,
             tolerance: float = 1e-10) -> BetaFit:
    """The Beta(a, b) maximising the beta-binomial marginal likelihood of ``successes`` out of
    ``trials`` per pair ([n_pairs] each; trials may be expected, non-integer counts), starting
    from ``start``. Pairs with no trial are left out; with none left, ``start`` comes back."""
    from scipy.special import psi

    polygamma = _polygamma1

    k, m, w = _evidence(successes, trials)
    lo, hi = np.log(LEARNT_LOW), np.log(LEARNT_HIGH)
    x = np.clip(np.log(np.asarray(start, float)), lo, hi)
    if k.size == 0:
        a, b = np.exp(x)
        return BetaFit(float(a), float(b), 0, 0.0, 0, False)
    n = k + m
    a, b = np.exp(x)
    obj = _objective(k, m, w, a, b)
    steps = 0
    for steps in range(1, max_steps + 1):
        s = a + b
        d_ab, d_n = psi(s), psi(n + s)
        ga = (w * (psi(k + a) - d_n)).sum() + w.sum() * (d_ab - psi(a))
        gb = (w * (psi(m + b) - d_n)).sum() + w.sum() * (d_ab - psi(b))
        t_ab, t_n = polygamma(1, s), polygamma(1, n + s)
        haa = (w * (polygamma(1, k + a) - t_n)).sum() + w.sum() * (t_ab - polygamma(1, a))
        hbb = (w * (polygamma(1, m + b) - t_n)).sum() + w.sum() * (t_ab - polygamma(1, b))
        hab = (w * -t_n).sum() + w.sum() * t_ab
        # in x = (ln a, ln b): gradient a * dL/da, Hessian a^2 d2L/da2 + a dL/da, ab d2L/dadb
        g = np.array([a * ga, b * gb])
        h = np.array([[a * a * haa + a * ga, a * b * hab], [a * b * hab, b * b * hbb + b * gb]])
        try:
            step = -np.linalg.solve(h, g)
            if step @ g <= 0:  # not an ascent direction (H not negative definite): gradient ascent
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step = g / max(np.abs(g).max(), 1.0)
        step = step * min(1.0, 2.0 / max(np.abs(step).max(), 1e-300))  # at most x e^2 per step, same direction
        t = 1.0
        while t > 1e-6:
            x_new = np.clip(x + t * step, lo, hi)
            a_new, b_new = np.exp(x_new)
            new = _objective(k, m, w, a_new, b_new)
            if new > obj:
                break
            t *= 0.5
        else:
            break
        moved = np.abs(x_new - x).max()
        gain = new - obj
        x, a, b, obj = x_new, a_new, b_new, new
        if moved < 1e-9 or gain <= tolerance * max(abs(obj), 1.0):
            break
    at_bound = bool(np.any(np.isclose(x, lo)) or np.any(np.isclose(x, hi)))
    return BetaFit(float(a), float(b), int(w.sum()), float(obj / w.sum()), steps, at_bound)


def moved(old: tuple[float, float], new: tuple[float, float]) -> bool:
    """Whether a refit moved either pseudo-count by more than :data:`RELATIVE_CHANGE` of its value."""
    return any(abs(n - o) > RELATIVE_CHANGE * max(abs(o), LEARNT_LOW) for o, n in zip(old, new))


class PriorLearner:
    """The priors of one fit, with those of ``learn`` that the model has (``kinds``) learnt from the
    log: :meth:`refit` takes each kind's evidence (successes, trials per pair) and moves its
    pseudo-counts to the marginal-likelihood optimum; :meth:`choice` is the fit's record."""

    def __init__(self, priors, learn: tuple[str, ...], kinds: tuple[str, ...]):
        self.priors = priors
        self.kinds = tuple(k for k in kinds if k in learn)
        self.fits: dict[str, BetaFit] = {}

    @property
    def active(self) -> bool:
        return bool(self.kinds)

    def refit(self, evidence: dict) -> bool:
        """Refit every learnt kind on ``evidence[kind] = (successes, trials)``; whether any moved."""
        from gbltr.labels.clicks.priors import BetaPrior

        any_moved = False
        for kind in self.kinds:
            old = getattr(self.priors, kind)
            f = fit_beta(*evidence[kind], start=(old.a, old.b) if old.a > 0 and old.b > 0 else (1.0, 1.0),
                         max_steps=REFIT_STEPS)
            self.fits[kind] = f
            any_moved |= moved((old.a, old.b), (f.a, f.b))
            self.priors = self.priors.with_(kind, BetaPrior(f.a, f.b))
        return any_moved

    def choice(self):
        from gbltr.labels.clicks.priors import AUTO_WHY, LearntPrior, PriorChoice

        if not self.kinds:
            return PriorChoice.fixed(self.priors)
        return PriorChoice(self.priors, "auto", tuple(
            LearntPrior(k, f.a, f.b, f.pairs, float(f.log_marginal), f.at_bound)
            for k in self.kinds for f in [self.fits[k]]), AUTO_WHY)
