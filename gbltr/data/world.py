"""The parameters of the built-in simulated world (:mod:`gbltr.data.simulate` documents each).

A light module (no numpy, no Polars): configs (:mod:`gbltr.config`) and ``gbltr fit --help``
read :class:`WorldParams` without loading the simulator's data libraries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from gbltr.buckets import DEFAULT_HIGH_MIN, DEFAULT_MEDIUM_MIN, BucketSpec
from gbltr.errors import ConfigError

__all__ = ["WORLD_FILE", "WorldParams", "control_world", "read_world_params"]

WORLD_FILE = "world.json"


@dataclass(frozen=True)
class WorldParams:
    """Parameters of the simulated world (all documented in the module docstring)."""

    seed: int = 0
    queries: int = 3000
    sessions: int = 150_000
    frequency_exponent: float = 1.1
    frequency_range: float = 1e4
    vocab_size: int = 5000
    topics: int = 40
    term_zipf_exponent: float = 1.05
    domains: int = 400
    candidates_min: int = 10
    candidates_max: int = 30
    title_length: float = 8.0
    body_length: float = 80.0
    intent_bias: float = -0.6
    intent_coupling: float = 1.5
    authority_weight_nav: float = 0.6
    authority_weight_info: float = 0.15
    retrieval_noise: float = 0.6
    judge_noise: float = 0.08
    human_thresholds: tuple[float, ...] = (0.3, 0.48, 0.64, 0.8)
    llm_noise: float = 0.15
    llm_leniency: float = 0.1
    display_k: int = 10
    session_noise: float = 0.3
    examination_eta: float = 1.2
    click_bias: float = -3.5
    click_relevance: float = 5.0
    brand_bias: float = 0.6
    click_noise: float = 0.5
    test_queries_per_bucket: int = 100
    valid_queries_per_bucket: int = 50
    min_train_queries_per_bucket: int = 20
    high_min: int = DEFAULT_HIGH_MIN
    medium_min: int = DEFAULT_MEDIUM_MIN

    def __post_init__(self):
        checks = [
            ("seed", 0 <= self.seed < 2**32, "in [0, 2**32 - 1]"),
            ("queries", self.queries >= 10, ">= 10"),
            ("sessions", self.sessions >= 0, ">= 0"),
            ("frequency_exponent", self.frequency_exponent > 0, "> 0"),
            ("frequency_range", self.frequency_range > 1, "> 1"),
            ("vocab_size", self.vocab_size >= 100, ">= 100"),
            ("topics", 1 <= self.topics <= self.vocab_size // 50, f"in [1, vocab_size/50={self.vocab_size // 50}]"),
            ("candidates_min", 2 <= self.candidates_min <= self.candidates_max, "in [2, candidates_max]"),
            ("display_k", self.display_k >= 1, ">= 1"),
            ("human_thresholds", list(self.human_thresholds) == sorted(self.human_thresholds)
             and len(self.human_thresholds) == 4, "4 increasing numbers"),
            ("test_queries_per_bucket", self.test_queries_per_bucket >= 1, ">= 1"),
            ("valid_queries_per_bucket", self.valid_queries_per_bucket >= 1, ">= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"world parameter {name}={getattr(self, name)!r}; expected {expected}")
        BucketSpec(self.high_min, self.medium_min)

    def to_json(self) -> dict:
        d = asdict(self)
        d["human_thresholds"] = list(self.human_thresholds)
        return d

    @classmethod
    def from_json(cls, data: dict) -> "WorldParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown world parameter(s) {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "human_thresholds" in data:
            data["human_thresholds"] = tuple(data["human_thresholds"])
        return cls(**data)


def control_world(params: WorldParams) -> WorldParams:
    """The same world with intent independent of frequency (``intent_coupling = 0``)."""
    return replace(params, intent_coupling=0.0)


def read_world_params(folder: str | Path) -> WorldParams:
    from gbltr.inputs import read_document  # here: gbltr.config imports this module, and not Polars

    path = Path(folder) / WORLD_FILE
    return WorldParams.from_json(read_document(path, "world file", "the world.json of a folder written by 'gbltr simulate'",
                                               fmt="json"))
