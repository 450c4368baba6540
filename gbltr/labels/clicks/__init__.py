"""Click models and click labels from a search log.

Models, one module each, chosen by name from :data:`MODELS` (registry in ``registry.py``; it
drives ``gbltr fit --click-model`` and ``gbltr clicks fit --models``); every one follows the
contract in ``base.py`` (per-pair relevance on a pinned scale, examination by position,
``predict_click_probs``, save/load) and cites its source in Chuklin, Markov & de Rijke, *Click
Models for Web Search* (2015):

``ctr``     rank-based CTR (sec. 3.1); relevance = Beta-smoothed per-pair CTR (``ctr.py``)
``dctr``    document-based CTR (sec. 3.1), the baseline (``ctr.py``)
``pbm``     position-based model (sec. 3.3; ``pbm.py``)
``cascade`` cascade model (sec. 3.2; ``dbn.py``)
``ubm``     user browsing model (sec. 3.5; ``ubm.py``)
``dbn``     dynamic Bayesian network (sec. 3.7; ``dbn.py``) and ``sdbn``, its simplified form

Held-out log-likelihood, perplexity and conditional perplexity: ``evaluate.py``. Grades and inverse-propensity weights:
``grades.py``. ``gbltr clicks fit`` (report over several models): ``report.py``.

Labels (:func:`click_labels`, used by :func:`gbltr.pipeline.prepare`): the chosen model is fitted
on the training queries' sessions; its relevance becomes grades (``grades.py``). Candidates never
shown to any user have no click evidence. ``unshown`` chooses how they enter training: ``zero``
(default) gives them label 0: they ranked below every shown document in first-stage retrieval, so
0 is the honest prior; ``drop`` gives them a missing label, and they take no part in the click
loss. They are never smoothed towards a mean CTR: that would rank them above documents that were
shown and skipped, and the model would learn to invert the ranking.

A query whose click labels are all equal (no clicks at all, say) contributes no ranking
gradient; :func:`zero_click_report` counts them per bucket.
"""

from __future__ import annotations

from gbltr.labels.clicks.config import GRADINGS, UNSHOWN_POLICIES, ClickLabelConfig, ClickPriors
from gbltr.labels.clicks.priors import BetaPrior, EMSettings, Priors
from gbltr.labels.clicks.registry import CLICK_MODELS, MODELS, get_model, parse_models

__all__ = [
    "CLICK_MODELS", "MODELS", "GRADINGS", "UNSHOWN_POLICIES", "ClickLabelConfig", "ClickPriors", "ClickLabels",
    "FittedClickModel", "FitInfo", "Priors", "BetaPrior", "EMSettings", "SessionLog", "click_labels",
    "fit_click_model", "get_model", "parse_models", "sessions_from_impressions", "zero_click_report",
]

# Heavier names (polars, numba) load on first use, so that the config and ``--help`` stay light.
_LAZY = {
    "ClickLabels": "labels", "click_labels": "labels", "fit_click_model": "labels", "zero_click_report": "labels",
    "FittedClickModel": "base", "FitInfo": "base", "SessionLog": "sessions", "sessions_from_impressions": "sessions",
}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"gbltr.labels.clicks.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'gbltr.labels.clicks' has no attribute {name!r}")
