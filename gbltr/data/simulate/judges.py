"""The simulated judges: human assessors (label set ``human``) and an LLM annotator (``llm``).

Human labels (0-4)
    Utility ``u = (1 - w_auth) m + w_auth sigmoid(a) + N(0, judge_noise)``, cut at
    ``human_thresholds``; ``w_auth`` is ``authority_weight_nav`` on navigational and
    ``authority_weight_info`` on informational queries (:mod:`gbltr.data.simulate.queries`),
    ``m`` and ``a`` the document's latent match and authority
    (:mod:`gbltr.data.simulate.documents`). Only for validation and test queries, whose split is
    drawn per frequency bucket so that every bucket has ``test_queries_per_bucket`` test queries.
    The same utility drives click attractiveness (:mod:`gbltr.data.simulate.sessions`).
Simulated LLM annotator
    Sees only text: ``(1 - w) m + w / 2 + N(0, llm_noise)``, ``w`` the mean of the two authority
    weights (it cannot see authority or intent, so it assumes an average page), cut at
    ``human_thresholds - llm_leniency`` (lenient: fewer zeros than humans). It labels every
    candidate pair; the evaluation protocol decides which pairs enter training.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.data.simulate.laws import _sigmoid
from gbltr.data.world import WorldParams


def _grades(u: np.ndarray, thresholds) -> np.ndarray:
    """Grade 0..len(thresholds) of each value: how many thresholds it reaches."""
    return np.searchsorted(np.asarray(thresholds), u, side="right").astype(np.int64)


def _human_judges(p: WorldParams, rng: np.random.Generator, q: dict, d: dict):
    """(utility ``u`` unrounded, human grade) of every document, in document order."""
    w_auth = np.where(q["nav"][d["qidx"]], p.authority_weight_nav, p.authority_weight_info)
    utility = (1 - w_auth) * d["match"] + w_auth * _sigmoid(d["authority"]) + rng.normal(0, p.judge_noise, d["qidx"].size)
    return utility, _grades(utility, p.human_thresholds)


def _llm_annotator(p: WorldParams, rng: np.random.Generator, d: dict) -> np.ndarray:
    """The simulated annotator's grade of every document, in document order."""
    # The annotator reads text only: it sees m, not authority nor intent, and takes the page's
    # authority as average (sigmoid(a) ~ 0.5) under an average authority weight.
    w_bar = 0.5 * (p.authority_weight_nav + p.authority_weight_info)
    llm_score = (1 - w_bar) * d["match"] + w_bar * 0.5 + rng.normal(0, p.llm_noise, d["qidx"].size)
    return _grades(llm_score, np.asarray(p.human_thresholds) - p.llm_leniency)


def _label_sets(split: np.ndarray, d: dict, q_of_doc: pl.Series, did: pl.Series, human: np.ndarray,
                llm: np.ndarray) -> dict[str, pl.DataFrame]:
    """The label sets ``human`` (validation and test queries only) and ``llm`` (every pair)."""
    judged = np.isin(split[d["qidx"]], ["valid", "test"])
    human_labels = pl.DataFrame(
        {
            "query_id": q_of_doc.filter(judged),
            "doc_id": did.filter(judged),
            "label": human[judged].astype(float),
            "source": "human",
        }
    )
    llm_labels = pl.DataFrame(
        {
            "query_id": q_of_doc,
            "doc_id": did,
            "label": llm.astype(float),
            "source": "llm",
            "annotator": "simulated",
        }
    )
    return {"human": human_labels, "llm": llm_labels}
