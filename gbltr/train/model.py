"""A fitted ranker: the native booster plus what is needed to use and ship it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


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
        return "model.txt" if self.backend == "lightgbm" else "model.json"

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / self.model_file
        if self.backend == "lightgbm":
            self.booster.save_model(str(path), num_iteration=self.best_iteration)
        else:
            self.kept_booster().save_model(str(path))
        return path
