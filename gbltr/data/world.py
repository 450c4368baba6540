"""The parameters of the built-in simulated world (:mod:`gbltr.data.simulate` documents each).

A light module (no numpy, no Polars): configs (:mod:`gbltr.config`) and ``gbltr fit --help``
read :class:`WorldParams` without loading the simulator's data libraries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from gbltr.buckets import DEFAULT_HIGH_MIN, DEFAULT_MEDIUM_MIN, BucketSpec
from gbltr.errors import ConfigError
from gbltr.ranges import Range, check_fields, count, non_negative, number, positive, probability, real, seed_range

__all__ = ["WORLD_FILE", "WorldParams", "control_world", "read_world_params"]

WORLD_FILE = "world.json"


@dataclass(frozen=True)
class WorldParams:
    """Parameters of the simulated world (all documented in the module docstring)."""

    seed: int = number(0, seed_range())
    queries: int = number(3000, count(10))
    sessions: int = number(150_000, count(0))
    frequency_exponent: float = number(1.1, positive())
    frequency_range: float = number(1e4, Range(low=1.0, low_open=True))
    vocab_size: int = number(5000, count(100))
    topics: int = number(40, count(1))
    term_zipf_exponent: float = number(1.05, non_negative())
    domains: int = number(400, count(1))
    candidates_min: int = number(10, count(2))
    candidates_max: int = number(30, count(2))
    title_length: float = number(8.0, non_negative())
    body_length: float = number(80.0, non_negative())
    intent_bias: float = number(-0.6, real())
    intent_coupling: float = number(1.5, real())
    authority_weight_nav: float = number(0.6, probability())
    authority_weight_info: float = number(0.15, probability())
    retrieval_noise: float = number(0.6, non_negative())
    judge_noise: float = number(0.08, non_negative())
    human_thresholds: tuple[float, ...] = number((0.3, 0.48, 0.64, 0.8), real())
    llm_noise: float = number(0.15, non_negative())
    llm_leniency: float = number(0.1, real())
    display_k: int = number(10, count(1))
    session_noise: float = number(0.3, non_negative())
    examination_eta: float = number(1.2, non_negative())
    click_bias: float = number(-3.5, real())
    click_relevance: float = number(5.0, real())
    brand_bias: float = number(0.6, real())
    click_noise: float = number(0.5, non_negative())
    test_queries_per_bucket: int = number(100, count(1))
    valid_queries_per_bucket: int = number(50, count(1))
    min_train_queries_per_bucket: int = number(20, count(0))
    high_min: int = number(DEFAULT_HIGH_MIN, count(2))
    medium_min: int = number(DEFAULT_MEDIUM_MIN, count(1))

    def __post_init__(self):
        check_fields(self, "world")  # every number's declared range (gbltr.ranges), NaN and inf refused
        checks = [
            ("topics", self.topics <= self.vocab_size // 50, f"at most vocab_size/50={self.vocab_size // 50}"),
            ("candidates_min", self.candidates_min <= self.candidates_max, "<= candidates_max"),
            ("human_thresholds", list(self.human_thresholds) == sorted(self.human_thresholds)
             and len(self.human_thresholds) == 4, "4 increasing numbers"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"world.{name}={getattr(self, name)!r}; expected {expected}")
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
