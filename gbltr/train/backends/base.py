"""The backend contract: what every training backend takes, returns and can do.

A backend (:mod:`.lightgbm`, :mod:`.xgboost`; :mod:`.dask` trains either on a cluster) is a
:class:`Backend`: it trains a :class:`TrainRequest` into a
:class:`gbltr.train.model.FittedRanker`, and predicts, explains, cuts, saves, loads and dumps the
trees of the boosters it made. What it can take is declared once in its :class:`Capabilities`
(in the import-light registry, :mod:`gbltr.train.backends`); callers ask for a capability, never
for a backend's name.

This module imports neither LightGBM nor XGBoost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gbltr.errors import ConfigError

if TYPE_CHECKING:  # numpy loads only where a method uses it: gbltr fit --help stays quick
    import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """What a backend's training takes (each flag: the backend honours the request field, or
    refuses it with a ConfigError; none is silently ignored).

    ``row_weights``: per-row weights (``TrainRequest.row_weight``; inverse-propensity weights,
    the stacked FAMOL form's exact per-row weights). ``group_weights``: one weight per query
    (``group_weight``). ``positions``: displayed positions for position-debiased lambdarank
    (``position``). ``custom_objective``: a :class:`gbltr.train.backends.custom.RankingObjective`.
    ``gpu``: ``device = "cuda"`` can train on a GPU (with a CUDA build). ``bin_reference``:
    feature bins taken from another matrix (``bin_reference``). ``min_data_in_leaf``: the
    rows-per-leaf bound (``train.min_data_in_leaf``, ``TrainRequest.min_data_in_leaf``).
    ``continue_training``: boosting continues from ``init_model`` (data scheduling)."""

    row_weights: bool
    group_weights: bool
    positions: bool
    custom_objective: bool
    gpu: bool
    bin_reference: bool
    min_data_in_leaf: bool
    continue_training: bool


@dataclass(frozen=True)
class TrainSettings:
    """What every model of one fit shares: the training config, the seed, the early-stopping
    cut-off ``eval_at`` (nDCG@k on the validation queries) and the feature names.
    :meth:`request` makes the :class:`TrainRequest` for one model."""

    cfg: Any  # gbltr.config.TrainConfig
    seed: int
    eval_at: int = 10
    feature_names: tuple[str, ...] | None = None

    def request(self, train_X, train_y, train_groups, valid_X, valid_y, valid_groups, **fields) -> "TrainRequest":
        return TrainRequest(train_X, train_y, train_groups, valid_X, valid_y, valid_groups, self.cfg,
                            seed=self.seed, eval_at=self.eval_at, feature_names=self.feature_names, **fields)


@dataclass(frozen=True)
class TrainRequest:
    """One model to train.

    Rows are sorted by query (:class:`gbltr.train.dataset.RankingDataset`): ``train_X`` float
    [n_rows, n_features], ``train_y`` grades [n_rows], ``train_groups`` query sizes [n_queries];
    likewise the validation rows (early stopping and model selection on nDCG@``eval_at`` of
    their human grades). ``label_gain``: the gain table of the built-in objective and the metric.

    Optional, each honoured only by a backend whose :class:`Capabilities` says so (else
    refused): ``objective`` (a ranking objective, ``objective(scores, group_ptr) -> (grad,
    hess)``; None = the built-in one), ``row_weight`` [n_rows], ``group_weight`` [n_queries],
    ``position`` [n_rows] (0-based displayed positions), ``init_model`` (a native booster to
    continue), ``bin_reference`` (a feature matrix whose bins are used), ``min_data_in_leaf``.
    ``rounds`` / ``early_stopping``: None = ``cfg``'s."""

    train_X: Any
    train_y: Any
    train_groups: Any
    valid_X: Any
    valid_y: Any
    valid_groups: Any
    cfg: Any  # gbltr.config.TrainConfig
    seed: int = field(kw_only=True)
    label_gain: Any = field(kw_only=True)
    eval_at: int = field(default=10, kw_only=True)
    feature_names: tuple[str, ...] | None = field(default=None, kw_only=True)
    objective: Any = field(default=None, kw_only=True)
    row_weight: Any = field(default=None, kw_only=True)
    group_weight: Any = field(default=None, kw_only=True)
    position: Any = field(default=None, kw_only=True)
    init_model: Any = field(default=None, kw_only=True)
    rounds: int | None = field(default=None, kw_only=True)
    early_stopping: int | None = field(default=None, kw_only=True)
    min_data_in_leaf: int | None = field(default=None, kw_only=True)
    bin_reference: Any = field(default=None, kw_only=True)

    @property
    def n_rounds(self) -> int:
        return self.rounds or self.cfg.rounds

    @property
    def stop(self) -> int:
        """Early-stopping patience (0 = none)."""
        return self.cfg.early_stopping if self.early_stopping is None else self.early_stopping

    @property
    def n_rows(self) -> int:
        import numpy as np

        return int(np.sum(self.train_groups))

    def refuse_unsupported(self, name: str, caps: Capabilities, *, fix: str = "") -> None:
        """ConfigError for each field given that ``caps`` does not take (rather than ignore it)."""
        asked = {
            "row_weights": ("row_weight", "per-row weights"),
            "group_weights": ("group_weight", "per-query weights"),
            "positions": ("position", "displayed positions (position-debiased lambdarank)"),
            "custom_objective": ("objective", "a custom objective"),
            "bin_reference": ("bin_reference", "a bin reference"),
            "min_data_in_leaf": ("min_data_in_leaf", "min_data_in_leaf"),
            "continue_training": ("init_model", "continued training (init_model)"),
        }
        for cap, (attr, what) in asked.items():
            if getattr(self, attr) is not None and not getattr(caps, cap):
                raise ConfigError(f"the {name} backend does not take {what}; expected a request without "
                                  f"{attr}{fix}")


class Backend(ABC):
    """A training backend. Subclasses set ``name`` (their key in the registry,
    :data:`gbltr.train.backends.REGISTRY`, which holds their model file and capabilities) and
    implement the methods below; ``model`` arguments are :class:`gbltr.train.model.FittedRanker`
    objects this backend made or loaded."""

    name: str

    @property
    def model_file(self) -> str:
        from gbltr.train.backends import spec

        return spec(self.name).model_file

    @property
    def capabilities(self) -> Capabilities:
        from gbltr.train.backends import spec

        return spec(self.name).capabilities

    @contextmanager
    def bins_reused(self):
        """Within this block, fits on the same feature matrix (the same array object) may reuse
        its binning instead of binning it again (LightGBM: ``reference=``; the bins, so the models,
        are the ones a fresh fit makes). Other backends: no effect. Used by the ``auto`` weight
        search (:mod:`gbltr.train.weight_search`), which trains many models on one matrix."""
        yield

    @abstractmethod
    def train(self, request: TrainRequest):
        """The :class:`gbltr.train.model.FittedRanker` of ``request``; ConfigError for a field
        its :attr:`capabilities` do not take (:meth:`TrainRequest.refuse_unsupported`)."""

    @abstractmethod
    def load(self, path: str | Path):
        """The model saved at ``path``; ModelError if it does not load."""

    @abstractmethod
    def predict(self, model, X: np.ndarray) -> np.ndarray:
        """Raw scores [n_rows] of the kept rounds."""

    @abstractmethod
    def contributions(self, model, X: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions [n_rows, n_features + 1] of the kept rounds (last column: the
        expected value); each row sums to :meth:`predict`."""

    @abstractmethod
    def kept_booster(self, model):
        """The native booster cut at ``model.best_iteration``."""

    @abstractmethod
    def save(self, model, folder: str | Path) -> Path:
        """Write the kept rounds to ``folder / self.model_file``; returns the path."""

    @abstractmethod
    def split_gains(self, model) -> dict[str, float]:
        """Total split gain per feature name over the kept rounds (features never split on may be absent)."""

    @abstractmethod
    def forest(self, model):
        """The kept trees as a :class:`gbltr.serve.trees.Forest`."""
