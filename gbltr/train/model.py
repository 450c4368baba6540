"""A fitted ranker: the native booster plus what is needed to use and ship it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gbltr.errors import ModelError
from gbltr.train.backends import REGISTRY, get_backend, spec_for_model_file


@dataclass
class FittedRanker:
    """A trained booster of the backend named ``backend`` (a key of
    :data:`gbltr.train.backends.REGISTRY`; :attr:`impl` is that backend, which predicts, cuts and
    saves the booster).

    ``best_iteration`` is the number of boosting rounds kept (1-based count); ``history``
    holds the validation metric per round; ``info`` what training chose on the way (the FAMOL
    weight search of ``weight_fn = "auto"``: ``info["weight_search"]``), for reports.
    """

    backend: str
    booster: object
    feature_names: tuple[str, ...]
    best_iteration: int
    history: list[float] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def impl(self):
        """The :class:`gbltr.train.backends.base.Backend` that made this booster."""
        return get_backend(self.backend)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw scores [n_rows] of the kept rounds."""
        return self.impl.predict(self, X)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions (Lundberg et al. 2020) of the kept rounds, from the backend:
        [n_rows, n_features + 1], the last column the expected value; each row sums to
        :meth:`predict` of that row (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``)."""
        return self.impl.contributions(self, X)

    def kept_booster(self):
        """The native booster cut at ``best_iteration`` (to continue boosting from, or to ship)."""
        return self.impl.kept_booster(self)

    def split_gains(self) -> dict[str, float]:
        """Total split gain per feature name over the kept rounds."""
        return self.impl.split_gains(self)

    @property
    def model_file(self) -> str:
        return REGISTRY[self.backend].model_file

    def save(self, folder: str | Path) -> Path:
        return self.impl.save(self, folder)


def load_model(path: str | Path) -> FittedRanker:
    """A fitted ranker from a run folder (its model file, :data:`gbltr.train.backends.REGISTRY`) or a model file.

    Raises :class:`ModelError` when no model file is there, or when the file does not load
    (truncated, corrupt, or written by another library); the message names the file.
    """
    p = Path(path)
    files = sorted(s.model_file for s in REGISTRY.values())
    if p.is_dir():
        found = [p / f for f in files if (p / f).is_file()]
        if not found:
            raise ModelError(
                f"run folder {str(p)!r} has no model file; expected one of {files} "
                "(written by 'gbltr fit'); was the run interrupted?"
            )
        if len(found) > 1:
            raise ModelError(f"run folder {str(p)!r} holds both {[f.name for f in found]}; expected one model file")
        p = found[0]
    elif not p.is_file():
        raise ModelError(f"model file {str(p)!r} not found; expected a run folder or one of {files}")
    entry = spec_for_model_file(p)
    if entry is None:
        suffixes = sorted({x for s in REGISTRY.values() for x in s.suffixes})
        raise ModelError(f"model file {str(p)!r}: no backend reads a {p.suffix or 'suffix-less'} file; expected a "
                         f"run folder, one of {files}, or a file ending in one of {suffixes}")
    return get_backend(entry.name).load(p)
