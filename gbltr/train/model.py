"""A fitted ranker: the native booster plus what is needed to use and ship it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gbltr.errors import ModelError
from gbltr.train.backends import get_backend

#: The model file each backend writes into a run folder (and :func:`load_model` reads back).
MODEL_FILES = {"lightgbm": "model.txt", "xgboost": "model.json"}


@dataclass
class FittedRanker:
    """A trained LightGBM ``Booster`` or XGBoost ``Booster``.

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

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.backend == "lightgbm":
            return np.asarray(self.booster.predict(X, num_iteration=self.best_iteration), dtype=np.float64)
        import xgboost as xgb

        dm = xgb.DMatrix(X, feature_names=list(self.feature_names) or None)
        return np.asarray(self.booster.predict(dm, iteration_range=(0, self.best_iteration), output_margin=True), dtype=np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions (Lundberg et al. 2020) of the kept rounds, from the backend:
        [n_rows, n_features + 1], the last column the expected value; each row sums to
        :meth:`predict` of that row (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``)."""
        if self.backend == "lightgbm":
            out = self.booster.predict(X, num_iteration=self.best_iteration, pred_contrib=True)
            return np.asarray(out, dtype=np.float64)
        import xgboost as xgb

        dm = xgb.DMatrix(X, feature_names=list(self.feature_names) or None)
        out = self.booster.predict(dm, iteration_range=(0, self.best_iteration), pred_contribs=True)
        return np.asarray(out, dtype=np.float64)

    def kept_booster(self):
        """The native booster cut at ``best_iteration`` (to continue boosting from, or to ship)."""
        if self.backend == "lightgbm":
            if self.best_iteration >= self.booster.current_iteration():
                return self.booster
            import lightgbm as lgb

            return lgb.Booster(model_str=self.booster.model_to_string(num_iteration=self.best_iteration))
        return self.booster[: self.best_iteration]

    @property
    def model_file(self) -> str:
        return MODEL_FILES[self.backend]

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / self.model_file
        if self.backend == "lightgbm":
            self.booster.save_model(str(path), num_iteration=self.best_iteration)
        else:
            self.kept_booster().save_model(str(path))
        return path


def load_model(path: str | Path) -> FittedRanker:
    """A fitted ranker from a run folder (its ``model.txt`` or ``model.json``) or a model file.

    Raises :class:`ModelError` when no model file is there, or when the file does not load
    (truncated, corrupt, or written by another library); the message names the file.
    """
    p = Path(path)
    if p.is_dir():
        found = [(b, p / f) for b, f in MODEL_FILES.items() if (p / f).is_file()]
        if not found:
            raise ModelError(
                f"run folder {str(p)!r} has no model file; expected one of {sorted(MODEL_FILES.values())} "
                "(written by 'gbltr fit'); was the run interrupted?"
            )
        if len(found) > 1:
            raise ModelError(f"run folder {str(p)!r} holds both {[str(f.name) for _, f in found]}; expected one model file")
        backend, p = found[0]
    else:
        by_name = {f: b for b, f in MODEL_FILES.items()}
        if not p.is_file():
            raise ModelError(f"model file {str(p)!r} not found; expected a run folder or one of {sorted(by_name)}")
        backend = by_name.get(p.name) or ("xgboost" if p.suffix in (".json", ".ubj") else "lightgbm")
    return get_backend(backend).load(p)
