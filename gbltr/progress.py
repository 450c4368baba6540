"""Progress bars for long steps (tqdm on stderr).

Bars show on an interactive terminal and stay quiet in logs and tests; ``GBLTR_PROGRESS=1``
forces them on and ``GBLTR_PROGRESS=0`` off.
"""

from __future__ import annotations

import os


def progress(iterable=None, **kwargs):
    """A ``tqdm`` bar; ``kwargs`` go to tqdm (``total``, ``desc``, ``unit`` ...)."""
    from tqdm.auto import tqdm

    flag = os.environ.get("GBLTR_PROGRESS")
    disable = None if flag is None else flag == "0"
    kwargs.setdefault("disable", disable)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


def lightgbm_callback(total: int, desc: str = "boosting"):
    """A LightGBM callback that advances a bar per boosting round (closed at the last round)."""
    bar = progress(total=total, desc=desc, unit="round")

    def callback(env):
        bar.update(1)
        if env.iteration + 1 >= env.end_iteration:
            bar.close()

    callback.order = 40
    callback.close = bar.close  # early stopping ends training before the last round
    return callback


def xgboost_callback(total: int, desc: str = "boosting"):
    """An XGBoost TrainingCallback that advances a bar per boosting round."""
    import xgboost as xgb

    class _Bar(xgb.callback.TrainingCallback):
        def before_training(self, model):
            self.bar = progress(total=total, desc=desc, unit="round")
            return model

        def after_iteration(self, model, epoch, evals_log):
            self.bar.update(1)
            return False

        def after_training(self, model):
            self.bar.close()
            return model

    return _Bar()
