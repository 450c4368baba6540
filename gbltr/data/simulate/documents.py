"""Documents of the simulated world: latent match and authority, domains, the signals that show
authority, and the first-stage candidate ranking. Their text is :mod:`gbltr.data.simulate.text`.

Documents
    Each query gets 10-30 candidate documents of its own. A document has a latent semantic match
    ``m`` in [0, 1] to its query (Beta-distributed) and a latent authority ``a`` (standard normal,
    partly shared by its domain: popular domains, Zipf-distributed, are reputable brands).
    Authority is seen only through noisy attributes: inlinks, a PageRank-like score, URL depth,
    the domain.
Candidates
    Ranked by a production-like noisy first-stage score ``m + 0.35 a + N(0, retrieval_noise)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.data.simulate.laws import _zipf_cdf
from gbltr.data.world import WorldParams


def _domains(p: WorldParams, rng: np.random.Generator):
    """(reputation per domain, most popular first; cumulative Zipf popularity of the domains)."""
    domain_cdf = _zipf_cdf(p.domains, 1.0)
    domain_rep = np.sort(rng.standard_normal(p.domains))[::-1] * 0.7 + 0.3 * rng.standard_normal(p.domains)
    return domain_rep, domain_cdf


def _draw_documents(p: WorldParams, rng: np.random.Generator, q: dict, domain_rep: np.ndarray, domain_cdf):
    n_cand = rng.integers(p.candidates_min, p.candidates_max + 1, p.queries)
    qidx = np.repeat(np.arange(p.queries), n_cand)
    nd = qidx.size
    match = rng.beta(0.7, 1.3, nd)
    domain = np.searchsorted(domain_cdf, rng.random(nd))
    authority = 0.6 * domain_rep[domain] + 0.8 * rng.standard_normal(nd)
    on_topic = rng.random(nd) < 0.3 + 0.7 * match
    doc_topic = np.where(on_topic, q["topic"][qidx], rng.integers(0, p.topics, nd))
    return {
        "qidx": qidx,
        "n_cand": n_cand,
        "match": match,
        "domain": domain,
        "authority": authority,
        "topic": doc_topic,
    }


def _authority_signals(p: WorldParams, rng: np.random.Generator, d: dict) -> dict:
    """What shows a document's authority ``a``: URL depth (fewer parts for higher ``a``), inlinks
    and a PageRank-like score (log-normal around ``a``), and the domain's name. Returns
    ``inlinks``, ``pagerank`` (unrounded), ``url`` and ``domain`` (names), in document order."""
    nd = d["qidx"].size
    a = d["authority"]
    depth = rng.poisson(np.clip(2.2 - 0.9 * a, 0.05, None))
    inlinks = rng.poisson(np.exp(1.0 + 1.3 * a + rng.normal(0, 0.6, nd)))
    pagerank = np.exp(0.8 * a + rng.normal(0, 0.5, nd)) / 10.0
    domain_names = np.array([f"site{i:04d}.example" for i in range(p.domains)], dtype=object)
    url = _urls(rng, domain_names, d["domain"], depth)
    return {"inlinks": inlinks, "pagerank": pagerank, "url": url, "domain": domain_names[d["domain"]].astype(str)}


def _urls(rng, domain_names, domain: np.ndarray, depth: np.ndarray) -> pl.Series:
    """``https://<domain>/p<i>/p<j>/...``: ``depth[k]`` path parts for document k, each
    ``p`` + a uniform integer in [0, 10000). One vectorised draw gives the same integers as one
    scalar ``rng.integers(0, 10_000)`` per part in document order (each is one bounded 32-bit
    draw either way; tested)."""
    nd = depth.size
    part = "p" + pl.Series(rng.integers(0, 10_000, int(depth.sum()))).cast(pl.String)
    paths = (pl.DataFrame({"doc": np.repeat(np.arange(nd), depth), "part": part})
             .group_by("doc", maintain_order=True).agg(pl.col("part").str.join("/")))
    path = (pl.DataFrame({"doc": np.arange(nd)}).join(paths, on="doc", how="left", maintain_order="left")
            ["part"].fill_null(""))
    return "https://" + pl.Series(domain_names[domain].astype(str)) + "/" + path


def _first_stage(p: WorldParams, rng: np.random.Generator, d: dict) -> np.ndarray:
    """The production-like retrieval score of every document (unrounded), in document order."""
    return d["match"] + 0.35 * d["authority"] + rng.normal(0.0, p.retrieval_noise, d["qidx"].size)


def _ranks(retrieval: np.ndarray, d: dict) -> np.ndarray:
    """Rank of each document within its query by ``retrieval`` score (1 = best), int32."""
    nd = d["qidx"].size
    order = np.lexsort((-retrieval, d["qidx"]))
    rank = np.empty(nd, np.int32)
    start = np.concatenate([[0], np.cumsum(d["n_cand"])])
    rank[order] = (np.arange(nd) - start[d["qidx"][order]] + 1).astype(np.int32)
    return rank
