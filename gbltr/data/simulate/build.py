"""The simulated world assembled: the order of its random draws, its tables, and where they go.

:func:`_simulate` calls each mechanism's module in the one order that defines the world (one
generator seeded by ``seed``; another order would be another world): vocabulary
(:mod:`~gbltr.data.simulate.text`), queries and split (:mod:`~gbltr.data.simulate.queries`),
domains and documents (:mod:`~gbltr.data.simulate.documents`), text, authority signals,
first-stage scores, human and LLM judges (:mod:`~gbltr.data.simulate.judges`), then sessions
and clicks (:mod:`~gbltr.data.simulate.sessions`), dwell times last. :func:`simulate_world` keeps
the world in memory; :func:`write_world` writes it as a dataset folder with ``world.json`` and
``latent/``, holding a chunk of the impressions at a time.

The ``latent/`` folder holds the truths (intent, match, authority, utility) for analysis; no
feature or label reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from gbltr.checkpoint import checkpoint
from gbltr.data.simulate import resolution
from gbltr.data.simulate.documents import _authority_signals, _domains, _draw_documents, _first_stage, _ranks
from gbltr.data.simulate.ids import _ids
from gbltr.data.simulate.judges import _human_judges, _label_sets, _llm_annotator
from gbltr.data.simulate.queries import _assign_splits, _draw_queries
from gbltr.data.simulate.sessions import _Log, _simulate_sessions
from gbltr.data.simulate.text import _render_text, _vocabulary
from gbltr.data.store import SearchDataset, check_dataset_out, write_dataset
from gbltr.data.world import WORLD_FILE, WorldParams
from gbltr.schema import IMPRESSIONS


def simulate_world(params: WorldParams | None = None) -> tuple[SearchDataset, dict[str, pl.DataFrame]]:
    """Generate a world: the dataset and the latent truth tables ``queries`` (intent, topic,
    popularity, frequency) and ``pairs`` (match, authority, utility; each document belongs to one
    query, so its authority is on its pair). Everything is in memory; :func:`write_world` writes
    the same world holding only a chunk of the impressions at a time."""
    tables, latent, log = _simulate(params or WorldParams())
    frames = list(log.frames())
    impressions = pl.concat(frames) if frames else pl.DataFrame(schema=IMPRESSIONS.columns)
    return SearchDataset(impressions=impressions, **tables), latent


def _simulate(p: WorldParams) -> tuple[dict, dict[str, pl.DataFrame], _Log]:
    """The world's :class:`SearchDataset` arguments but impressions, its latent tables, and the
    :class:`~gbltr.data.simulate.sessions._Log` that makes its impressions."""
    stored = resolution.stored  # looked up per call: a test may replace it in ``resolution``
    rng = np.random.default_rng(p.seed)
    topic_terms, term_cdf = _vocabulary(p, rng)
    q = _draw_queries(p, rng, topic_terms)
    split = _assign_splits(p, rng, q["freq"])
    domain_rep, domain_cdf = _domains(p, rng)
    d = _draw_documents(p, rng, q, domain_rep, domain_cdf)
    title, body = _render_text(p, rng, q, d, topic_terms, term_cdf)
    signals = _authority_signals(p, rng, d)
    retrieval = _first_stage(p, rng, d)
    utility, human = _human_judges(p, rng, q, d)
    llm = _llm_annotator(p, rng, d)

    # ids as Polars strings ("q00042", "d0001234"), gathered by index: no per-row Python objects
    qid = _ids("q", p.queries, 5)
    did = _ids("d", d["qidx"].size, 7)
    q_of_doc = qid.gather(d["qidx"])

    queries = pl.DataFrame(
        {
            "query_id": qid,
            "text": [" ".join(f"t{t}" for t in terms) for terms in q["terms"]],
            "split": split.astype(str),
        }
    )
    documents = pl.DataFrame(
        {
            "doc_id": did,
            "title": title,
            "body": body,
            "url": signals["url"],
            "inlinks": signals["inlinks"].astype(np.int64),
            "pagerank": stored(signals["pagerank"]),
            "domain": signals["domain"],
        }
    )
    candidates = pl.DataFrame(
        {"query_id": q_of_doc, "doc_id": did, "rank": _ranks(retrieval, d), "retrieval_score": stored(retrieval)}
    ).sort(["query_id", "rank"])
    del title, body
    log = _simulate_sessions(p, rng, q, d, retrieval, utility, d["authority"], qid, did)
    tables = {
        "queries": queries,
        "documents": documents,
        "candidates": candidates,
        "labels": _label_sets(split, d, q_of_doc, did, human, llm),
        "metadata": {"simulated": True, "seed": p.seed},
    }
    latent = {
        "queries": pl.DataFrame(
            {
                "query_id": qid,
                "intent": np.where(q["nav"], "navigational", "informational"),
                "topic": q["topic"],
                "popularity": stored(q["pop"]),
                "frequency": q["freq"],
            }
        ),
        "pairs": pl.DataFrame(
            {
                "query_id": q_of_doc,
                "doc_id": did,
                "match": stored(d["match"]),
                "authority": stored(d["authority"]),
                "utility": stored(utility),
            }
        ),
    }
    return tables, latent, log


def write_world(params: WorldParams, out: str | Path, *, overwrite: bool = False) -> Path:
    """Simulate and write a dataset folder with ``world.json`` and ``latent/``, atomically
    (an existing folder only with ``overwrite``: :func:`gbltr.data.store.write_dataset`)."""
    check_dataset_out(out, command="simulate", overwrite=overwrite)  # before the simulation
    checkpoint("simulate")
    tables, latent, log = _simulate(params)
    return write_dataset(SearchDataset(**tables), out, extra_json={WORLD_FILE: params.to_json()},
                         extra_parquet={f"latent/{name}": frame for name, frame in latent.items()},
                         overwrite=overwrite, impression_chunks=log.frames(), command="simulate")
