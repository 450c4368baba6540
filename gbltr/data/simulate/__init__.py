"""The built-in simulated search world: a seeded generative model of a web search engine.

It exists so that a new user can run gbltr with no data, no network and no API key, and so that
click-trained, LLM-trained and fused rankers can be compared where the truth is known. Every
mechanism is a parameter of :class:`WorldParams`, written to ``world.json`` beside the dataset;
none is tuned to make a training method win. Each module documents its mechanisms in full:

``queries``
    Popularity (a truncated power law), frequency (Poisson sessions), topic and terms; intent
    that depends on frequency (``intent_coupling = 0`` is the control world,
    :func:`control_world`); the train/valid/test split, drawn per frequency bucket.
``documents``
    10-30 candidates per query, each with a latent match ``m`` and authority ``a`` (shared in
    part by its domain), the noisy signals that show ``a`` (inlinks, PageRank-like score, URL
    depth, domain) and the noisy first-stage ranking that orders the candidates.
``text``
    Titles and bodies from a Zipfian vocabulary, on topic and containing the query's terms and
    phrase more often the better the match.
``judges``
    Human labels 0-4 from a utility that weighs match and authority by intent (validation and
    test queries only), and a simulated LLM annotator that sees only text (every pair).
``sessions``
    Position-based clicks on a per-session perturbation of the ranking, attractiveness from the
    human utility and the brand, and log-normal dwell times.
``resolution``
    Stored resolution: every simulated float is stored rounded (dwell times to the millisecond,
    others to 6 decimals), so one seed writes the same bytes on every CPU.
``chunking``
    Memory knobs (documents and sessions per chunk) that leave the world unchanged.
``build``
    The order of the random draws, the tables, and :func:`simulate_world` / :func:`write_world`.
    The ``latent/`` folder holds the truths (intent, match, authority, utility) for analysis; no
    feature or label reads it.
``over``
    ``gbltr simulate --over``: a simulated log and LLM labels around a real dataset's judgements
    (imported on its own: ``gbltr.data.simulate.over``).
"""

from gbltr.data.simulate.build import simulate_world, write_world
from gbltr.data.world import WORLD_FILE, WorldParams, control_world, read_world_params

__all__ = ["WORLD_FILE", "WorldParams", "control_world", "read_world_params", "simulate_world",
           "write_world"]
