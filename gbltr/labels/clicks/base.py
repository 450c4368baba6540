"""The fitted-click-model contract shared by every model in :mod:`gbltr.labels.clicks`.

Each model module defines a :class:`ClickModel` subclass with

- ``fit(log, priors, em) -> FittedClickModel``, and
- ``conditional_probs(fitted, log) -> [S, P]``: P(C_r = 1 | C_1..C_{r-1}), the click
  probability given the session's earlier clicks, for every shown position (NaN where nothing is
  shown); the log-likelihood and the conditional perplexity of Chuklin, Markov & de Rijke (2015,
  sec. 4.2) score held-out sessions with it;
- ``full_probs(fitted, log) -> [S, P]``: P(C_r = 1), the click probability marginalised over the
  earlier clicks (the session's documents only), which the perplexity of sec. 4.2 scores with.
  For models without click dependence (CTR, DCTR, PBM: ``click_dependent = False``) the two are
  equal.

A :class:`FittedClickModel` carries

- ``pairs``: one row per (query_id, doc_id) seen in training with the model's per-pair
  parameters (``attractiveness``; ``satisfaction`` for DBN/SDBN), ``relevance`` on the model's
  pinned scale (below), ``impressions`` and ``clicks``;
- ``params``: global parameters (``examination`` by position, UBM's ``examination_matrix``
  [position, position of the previous click], DBN's ``continuation``);
- ``prior``: which Beta pseudo-counts it was fitted with and why (:class:`PriorChoice`: fixed, or
  learnt from the log); a pair unseen in training gets the prior mean of each per-pair parameter
  (:meth:`FittedClickModel.pair_table`);
- ``info``: iterations, converged, final log-likelihood per session, seconds.

**Pinned scale.** PBM and UBM are unidentified up to a factor (theta * alpha = theta/k * k alpha).
gbltr reports their relevance as the probability of a click *if the document were shown at
position 1* (PBM: alpha * theta_1; UBM: alpha * gamma_(1,0)) and their examination relative to
position 1 (theta_r / theta_1), so two fits of the same data report the same numbers however
EM split the factor. Cascade, DBN and SDBN examine position 1 with probability 1 by definition,
so their scale is already pinned: relevance is alpha (cascade) or alpha * sigma (DBN, SDBN; the
probability that a user who examines the document is satisfied by it). CTR and DCTR relevance
is the smoothed click-through rate itself.

**Priors.** Every probability parameter x has Beta pseudo-counts (a, b): the M-step is
``(expected successes + a) / (expected trials + a + b)`` (the MAP estimate under a
Beta(a + 1, b + 1) prior, the posterior mean under Beta(a, b)), so with a, b > 0 no parameter
reaches 0 or 1 however sparse the log. By default (``learn`` =
:data:`gbltr.labels.clicks.priors.LEARNABLE`, config
``[click.priors] choice = "auto"``) the per-pair kinds' (a, b) are learnt from the log by empirical
Bayes (:mod:`gbltr.labels.clicks.empirical`); EM models refit them as EM goes
(:meth:`EMLoop.run`), closed-form models once on their counts.

**Stopping.** EM stops when the mean log-posterior per session changes by less than
``tolerance`` between iterations (``converged = True``), or at ``max_iterations`` with a warning
(``converged = False``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.errors import DataError
from gbltr.inputs import read_document, read_parquet
from gbltr.labels.clicks.empirical import PriorLearner
from gbltr.labels.clicks.priors import EMSettings, PriorChoice, Priors
from gbltr.labels.clicks.registry import get_model
from gbltr.labels.clicks.sessions import SessionLog

log = logging.getLogger("gbltr")

FORMAT_VERSION = 1


@dataclass
class FitInfo:
    """How a fit went. ``iterations`` is 1 for closed-form models; ``log_likelihood`` is the
    mean training log-likelihood per session (natural log)."""

    iterations: int
    converged: bool
    log_likelihood: float
    seconds: float = 0.0
    sessions: int = 0
    history: list = field(default_factory=list)


class EMLoop:
    """Run ``step() -> log-posterior`` until it changes by less than ``em.tolerance`` per session."""

    def __init__(self, name: str, em: EMSettings, n_sessions: int):
        self.name, self.em, self.n = name, em, max(n_sessions, 1)

    def run(self, step, refit=None) -> tuple[int, bool, list]:
        """``refit() -> moved`` (learnt priors, :mod:`gbltr.labels.clicks.empirical`) runs before
        iterations 2, 4, 8, ... and when the objective settles; EM stops only once a refit leaves
        the prior where it was (each refit changes the objective, so the check starts again)."""
        prev = None
        history = []
        for it in range(1, self.em.max_iterations + 1):
            if refit is not None and it >= 2 and (it & (it - 1)) == 0:
                refit()
                prev = None
            obj = step() / self.n
            history.append(obj)
            if prev is not None and abs(obj - prev) < self.em.tolerance:
                if refit is None or not refit():
                    return it, True, history
                obj = None
            prev = obj
        log.warning(
            "%s: EM hit the iteration cap (%d) before the log-likelihood settled (last change %.2e per "
            "session > tolerance %.1e); raise em_iterations or em_tolerance",
            self.name, self.em.max_iterations, abs(history[-1] - history[-2]) if len(history) > 1 else float("nan"),
            self.em.tolerance,
        )
        return self.em.max_iterations, False, history


@dataclass
class FittedClickModel:
    """A fitted click model (see the module docstring for the columns and the pinned scale)."""

    name: str
    pairs: pl.DataFrame
    params: dict
    prior: PriorChoice
    info: FitInfo
    n_positions: int

    @property
    def priors(self) -> Priors:
        """The pseudo-counts in effect (``prior.priors``)."""
        return self.prior.priors

    # -- views -------------------------------------------------------------------------------
    def relevance(self) -> pl.DataFrame:
        """query_id, doc_id, relevance (pinned scale) of every training pair."""
        return self.pairs.select("query_id", "doc_id", "relevance")

    def examination(self) -> np.ndarray:
        """Examination by position 1..P, relative to position 1 where the model has a free scale."""
        return np.asarray(self.params["examination"], float)

    def examination_matrix(self) -> np.ndarray | None:
        """UBM: [P, P+1] examination by (position, position of the previous click; 0 = none)."""
        m = self.params.get("examination_matrix")
        return None if m is None else np.asarray(m, float)

    @property
    def model(self) -> "ClickModel":
        return get_model(self.name)

    def pair_table(self, log_: SessionLog, columns=("attractiveness",)) -> dict[str, np.ndarray]:
        """Per-pair parameters aligned with ``log_.pairs`` (pair index order). Pairs the model
        never saw get the prior mean of each parameter; ``known`` [n_pairs] says which were seen."""
        keyed = log_.pairs.with_row_index("__p").join(self.pairs, on=["query_id", "doc_id"], how="left").sort("__p")
        out = {"known": keyed["relevance"].is_not_null().to_numpy()}
        for c in columns:
            default = getattr(self.priors, c).mean
            out[c] = keyed[c].fill_null(default).to_numpy().astype(np.float64)
        return out

    def predict_click_probs(self, sessions: SessionLog) -> np.ndarray:
        """[S, P] P(C_r = 1 | earlier clicks of the session); NaN where nothing is shown."""
        return self._shown(sessions, self.model.conditional_probs)

    def predict_full_click_probs(self, sessions: SessionLog) -> np.ndarray:
        """[S, P] P(C_r = 1), marginalised over the session's earlier clicks; NaN where nothing is shown."""
        return self._shown(sessions, self.model.full_probs)

    def _shown(self, sessions: SessionLog, probs) -> np.ndarray:
        """``probs(self, sessions)`` [S, P] with NaN where nothing is shown; more positions than fitted: an error."""
        if sessions.n_positions > self.n_positions:
            raise DataError(
                f"{self.name}: sessions have {sessions.n_positions} positions; the model was fitted "
                f"on {self.n_positions}"
            )
        return np.where(sessions.shown, probs(self, sessions), np.nan)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """``folder/pairs.parquet`` and ``folder/model.json`` (name, params, priors, fit info)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.pairs.write_parquet(folder / "pairs.parquet")
        meta = {
            "format": FORMAT_VERSION, "name": self.name, "n_positions": self.n_positions,
            "params": {k: np.asarray(v).tolist() for k, v in self.params.items()},
            "prior": self.prior.to_json(), "info": asdict(self.info),
        }
        (folder / "model.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "FittedClickModel":
        folder = Path(folder)
        path = folder / "model.json"
        if not path.is_file() or not (folder / "pairs.parquet").is_file():
            raise DataError(f"{folder}: expected a saved click model (model.json and pairs.parquet); not found")
        meta = read_document(path, "click model", "the model.json of a saved click model", fmt="json")
        if meta.get("format") != FORMAT_VERSION:
            raise DataError(f"{path}: click-model format {meta.get('format')!r}; expected {FORMAT_VERSION}")
        params = {k: (np.asarray(v, float) if isinstance(v, list) else v) for k, v in meta["params"].items()}
        prior = (PriorChoice.from_json(meta["prior"]) if "prior" in meta  # older saves: fixed pseudo-counts
                 else PriorChoice.fixed(Priors.from_pairs(**meta["priors"])))
        return cls(meta["name"], read_parquet(folder / "pairs.parquet", "click model table"), params,
                   prior, FitInfo(**meta["info"]), int(meta["n_positions"]))


class ClickModel:
    """A click model: ``name``, ``citation`` and the methods of the module docstring.

    ``click_dependent``: whether a click changes the probabilities below it (UBM, DBN, SDBN,
    cascade); a model that says False gets ``full_probs = conditional_probs``."""

    name: str = ""
    citation: str = ""
    pair_columns: tuple[str, ...] = ("attractiveness",)
    click_dependent: bool = False

    def fit(self, log_: SessionLog, priors: Priors = Priors(), em: EMSettings = EMSettings(),
            learn: tuple[str, ...] = ()) -> FittedClickModel:
        """Fit on ``log_`` with pseudo-counts ``priors``; those of the kinds in ``learn`` (from
        :data:`LEARNABLE`) are learnt from the log, starting from ``priors``."""
        t0 = time.perf_counter()
        fitted = self._fit(log_, PriorLearner(priors, tuple(learn), self.pair_columns), em)
        fitted.info.seconds = round(time.perf_counter() - t0, 4)
        fitted.info.sessions = log_.n_sessions
        return fitted

    def _fit(self, log_: SessionLog, prior: PriorLearner, em: EMSettings) -> FittedClickModel:
        raise NotImplementedError

    def conditional_probs(self, fitted: FittedClickModel, log_: SessionLog) -> np.ndarray:
        raise NotImplementedError

    def full_probs(self, fitted: FittedClickModel, log_: SessionLog) -> np.ndarray:
        if self.click_dependent:
            raise NotImplementedError(f"{self.name}: a click-dependent model must define full_probs")
        return self.conditional_probs(fitted, log_)


def pair_counts(log_: SessionLog) -> tuple[np.ndarray, np.ndarray]:
    """Impressions and clicks per pair index, [n_pairs] each."""
    n = log_.pairs.height
    shown = log_.shown
    d = log_.doc[shown]
    return (np.bincount(d, minlength=n).astype(np.int64),
            np.bincount(d, weights=log_.click[shown], minlength=n).astype(np.int64))


def pairs_frame(log_: SessionLog, relevance: np.ndarray, **columns: np.ndarray) -> pl.DataFrame:
    """The fitted model's pair table: query_id, doc_id, per-pair columns, relevance, counts."""
    imp, clk = pair_counts(log_)
    return log_.pairs.with_columns(
        *[pl.Series(k, np.asarray(v, float)) for k, v in columns.items()],
        pl.Series("relevance", np.asarray(relevance, float)),
        pl.Series("impressions", imp), pl.Series("clicks", clk),
    )


def click_log_likelihood(p: np.ndarray, click: np.ndarray, shown: np.ndarray) -> float:
    """Sum of log P(observed click) over shown positions; ``p`` are click probabilities."""
    p = np.clip(p[shown], 1e-300, 1 - 1e-16)
    c = click[shown]
    return float(np.where(c, np.log(p), np.log1p(-p)).sum())
