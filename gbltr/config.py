"""Typed, frozen run configuration: defaults < config file (TOML or JSON) < CLI flags.

:func:`load_config` validates once: unknown keys anywhere are errors that list the known ones,
and values are checked by each section's ``__post_init__``. The resolved config is saved with
every run (``config.json``) and reloads to the same object.

Sections (keys in a config file use the same names)::

    seed, data, labels, llm_labels, protocol, split, out
    [world]     parameters of the built-in simulated world (gbltr.data.simulate.WorldParams)
    [buckets]   high_min, medium_min, or quantiles = [q_medium, q_high] of the log's query frequency
    [click]     gbltr.labels.clicks.ClickLabelConfig
    [fusion]    gbltr.labels.fusion.FusionConfig
    [features]  catalogue (TOML file grouping a dataset's precomputed columns), drop_groups, bm25_k1, bm25_b, lm_mu, lm_lambda
    [train]     backend, device, rounds, learning_rate, ... (TrainConfig)
    [eval]      ks
    [mlflow]    where to track the run (gbltr.track.TrackingConfig): read by gbltr.track.tracking_config,
                not part of the result, so not a FitConfig section and not saved in config.json
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gbltr.buckets import DEFAULT_HIGH_MIN, DEFAULT_MEDIUM_MIN, BucketSpec, check_quantiles
from gbltr.data.world import WorldParams
from gbltr.errors import ConfigError, unknown_choice
from gbltr.labels.clicks import ClickLabelConfig
from gbltr.labels.fusion import FusionConfig
from gbltr.ranges import check_fields, count, non_negative, number, positive, probability, seed_range
from gbltr.settings import build, merge, read_config_file, to_jsonable
from gbltr.threads import MAX_THREADS, THREADS
from gbltr.train.backends import DEFAULT as DEFAULT_BACKEND
from gbltr.train.backends import NAMES as BACKEND_NAMES
from gbltr.train.backends import spec as backend_spec

LABEL_SOURCES_OF = {"click": ("click",), "llm": ("llm",), "fused": ("click", "llm"), "human": ("human",)}
"""Each ``--labels`` choice and the label sources (:data:`gbltr.schema.LABEL_SOURCES`) it trains on.
``human`` trains on the human labels of the training queries: the supervised reference that
click and LLM training are read against (real datasets, ``gbltr simulate --over``)."""
LABEL_KINDS = tuple(LABEL_SOURCES_OF)
FUSED_SOURCES = LABEL_SOURCES_OF["fused"]
DEFAULT_SETUPS = ("click", "llm", "fused:schedule", "fused:famol")
"""The label setups ``gbltr experiment`` compares unless told otherwise (:mod:`gbltr.experiment`)."""
PROTOCOLS = ("held_out", "log_covered")
SPLIT_MODES = ("source", "random")
"""``source``: the queries' own split column (a seeded random split when the source has none,
with a warning); ``random``: always a seeded 70/15/15 query split, valid/test drawn among the
queries with human labels."""
BACKENDS = BACKEND_NAMES
"""``train.backend``: the registry's names (:data:`gbltr.train.backends.REGISTRY`)."""
DEVICES = ("cpu", "cuda")
ENGINES = ("single", "dask")
STREAM_MODES = ("auto", "on", "off")
"""``train.stream``: read the search log lazily (:mod:`gbltr.data.stream`); ``auto`` = on with
``--engine dask``, off otherwise."""
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
"""Address schemes ``train.scheduler`` may name (``distributed``'s comm backends); no scheme = tcp."""


def check_scheduler(value) -> str:
    """``train.scheduler``: ``local`` or a Dask scheduler address ``[SCHEME://]HOST:PORT`` (port 1-65535).

    Checked with the config, before any data is read: ``distributed`` itself only fails (with a
    ValueError traceback) when the fit connects, after data preparation."""
    import re

    form = (f"'local' or a scheduler address [SCHEME://]HOST:PORT such as tcp://10.0.0.5:8786 "
            f"(SCHEME one of {', '.join(SCHEDULER_SCHEMES)})")
    if not isinstance(value, str):
        raise ConfigError(f"train.scheduler: expected {form}, found {value!r} ({type(value).__name__})")
    if value == "local":
        return value
    m = re.fullmatch(r"(?:([a-z]+)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):([0-9]{1,5})", value)
    if m is None or (m.group(1) is not None and m.group(1) not in SCHEDULER_SCHEMES) or not 1 <= int(m.group(3)) <= 65535:
        raise ConfigError(f"--scheduler (train.scheduler) {value!r}: expected {form}; start one with `dask scheduler`, "
                          "or use --scheduler local")
    return value



@dataclass(frozen=True)
class FeatureConfig:
    """Feature parameters; ``drop_groups`` removes catalogue groups or subgroups (ablation)."""

    drop_groups: tuple[str, ...] = ()
    catalogue: str | None = None
    bm25_k1: float = number(1.2, non_negative())
    bm25_b: float = number(0.75, probability())
    lm_mu: float = number(2000.0, positive())
    lm_lambda: float = number(0.1, probability())

    def __post_init__(self):
        check_fields(self, "features")


@dataclass(frozen=True)
class TrainConfig:
    """Booster settings. Each backend maps them to its own names (``params_for`` in
    :mod:`gbltr.train.backends.lightgbm` / ``.xgboost``): learning_rate (``eta``), num_leaves
    (``max_leaves``, lossguide growth), max_depth (XGBoost only; LightGBM's leaves bound the tree),
    feature_fraction (``colsample_bytree``), lambda_l2 (``lambda``), truncation_level
    (``lambdarank_num_pair_per_sample``). ``min_data_in_leaf`` is LightGBM's only: XGBoost's
    nearest knob, ``min_child_weight``, bounds a leaf's hessian sum, and lambdarank hessians are
    pair-dependent, so no count maps onto it; :class:`FitConfig` refuses a non-default value with
    the xgboost backend rather than ignore it.
    """

    backend: str = DEFAULT_BACKEND
    device: str = "cpu"
    rounds: int = number(300, count(1))
    learning_rate: float = number(0.05, probability(low_open=True))
    num_leaves: int = number(31, count(2, 131072))  # LightGBM's own limit
    max_depth: int = number(6, count(1, 64))
    min_data_in_leaf: int = number(20, count(0))
    feature_fraction: float = number(1.0, probability(low_open=True))
    lambda_l2: float = number(0.0, non_negative())
    early_stopping: int = number(30, count(0, note="0 = no early stopping"))
    truncation_level: int = number(30, count(1, 100_000))
    threads: int = number(0, THREADS)
    engine: str = "single"  # "dask": train on a Dask cluster (gbltr.train.backends.dask)
    scheduler: str = "local"  # with engine dask: "local" (a LocalCluster) or a scheduler address
    workers: int = number(2, count(1, MAX_THREADS))  # with engine dask and scheduler local: worker processes
    stream: str = "auto"  # STREAM_MODES: scan the log lazily (logs larger than memory); auto = on with dask

    def __post_init__(self):
        check_fields(self, "train")
        if self.engine not in ENGINES:
            raise unknown_choice("engine", self.engine, ENGINES)
        check_scheduler(self.scheduler)
        if self.stream not in STREAM_MODES:
            raise unknown_choice("train.stream mode", self.stream, STREAM_MODES)
        if self.engine == "dask" and self.device != "cpu":
            raise ConfigError("--engine dask trains on CPU workers; expected --device cpu")
        backend_spec(self.backend)  # an unknown name is a ConfigError listing the registry's
        if self.device not in DEVICES:
            raise unknown_choice("device", self.device, DEVICES)


@dataclass(frozen=True)
class EvalConfig:
    ks: tuple[int, ...] = number((1, 3, 5, 10), count(1))

    def __post_init__(self):
        check_fields(self, "eval")
        if not self.ks:
            raise ConfigError(f"eval.ks={list(self.ks)}; expected one or more positive cut-offs")
        object.__setattr__(self, "ks", tuple(sorted(set(self.ks))))


@dataclass(frozen=True)
class BucketConfig:
    """Fixed thresholds, or (when ``quantiles`` is given) quantiles of the log's query frequency."""

    high_min: int = number(DEFAULT_HIGH_MIN, count(2))
    medium_min: int = number(DEFAULT_MEDIUM_MIN, count(1))
    quantiles: tuple[float, ...] = number((), probability(low_open=True, high_open=True))

    def __post_init__(self):
        check_fields(self, "buckets")
        BucketSpec(self.high_min, self.medium_min)
        object.__setattr__(self, "quantiles", check_quantiles(self.quantiles))

    def spec(self) -> BucketSpec:
        return BucketSpec(self.high_min, self.medium_min)


@dataclass(frozen=True)
class FitConfig:
    """Everything that changes the result of ``gbltr fit``."""

    seed: int = number(0, seed_range())
    data: str | None = None
    labels: str = "click"
    llm_labels: str | None = None
    protocol: str = "held_out"
    split: str = "source"
    out: str | None = None
    world: WorldParams = field(default_factory=WorldParams)
    buckets: BucketConfig = field(default_factory=BucketConfig)
    click: ClickLabelConfig = field(default_factory=ClickLabelConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        check_fields(self)
        if self.labels not in LABEL_KINDS:
            raise unknown_choice("--labels value", self.labels, LABEL_KINDS)
        if self.protocol not in PROTOCOLS:
            raise unknown_choice("protocol", self.protocol, PROTOCOLS)
        if self.split not in SPLIT_MODES:
            raise unknown_choice("split", self.split, SPLIT_MODES)
        if self.train.engine == "dask" and self.labels == "fused" and self.fusion.method == "schedule":
            raise ConfigError(
                "--engine dask cannot run --fusion schedule (its stages continue boosting from the previous "
                "stage's model, which lightgbm.dask/xgboost.dask do not take); use --fusion famol or --engine single"
            )
        if self.streams and "click" in LABEL_SOURCES_OF[self.labels]:
            from gbltr.labels.clicks.config import check_streamable

            check_streamable(self.click)
        default_min_data = TrainConfig.__dataclass_fields__["min_data_in_leaf"].default
        backend = backend_spec(self.train.backend)
        if not backend.capabilities.min_data_in_leaf and self.train.min_data_in_leaf != default_min_data:
            takes = [n for n in BACKENDS if backend_spec(n).capabilities.min_data_in_leaf]
            raise ConfigError(
                f"train.min_data_in_leaf={self.train.min_data_in_leaf} with the {backend.name} backend, which has "
                "no rows-per-leaf bound (XGBoost's min_child_weight bounds a hessian sum). Leave it at "
                f"{default_min_data} or use --backend {' / '.join(takes)}"
            )

    @property
    def streams(self) -> bool:
        """The pipeline scans the log lazily (``train.stream``; ``auto``: with ``--engine dask``)."""
        return self.train.stream == "on" or (self.train.stream == "auto" and self.train.engine == "dask")

    def inputs(self) -> list:
        """The files and folders a run with this config reads (:class:`gbltr.folders.Input`), for
        the output policy (:func:`gbltr.folders.check_outputs`): the dataset folder, the LLM
        label set, a catalogue or schedule file. Packaged names (``letor4``) are not paths."""
        from gbltr.folders import Input

        named = [(self.data, "dataset folder"), (self.llm_labels, "LLM label set"),
                 (self.features.catalogue, "catalogue"), (self.fusion.schedule, "schedule")]
        return [Input(path, what) for path, what in named
                if path and (what in ("dataset folder", "LLM label set") or Path(path).exists())]

    def to_json(self) -> dict:
        """The config as ``config.json`` saves it (reloads with :func:`load_config`); the ``fusion``
        table only with ``--labels fused``, the only labels it applies to."""
        data = to_jsonable(self)
        if self.labels != "fused":
            del data["fusion"]
        return data


TRACKING_TABLE = "mlflow"
"""The config-file table :func:`gbltr.track.tracking_config` reads; :func:`load_config` leaves it out."""


def load_config(file: str | Path | None = None, overrides: dict | None = None) -> FitConfig:
    """Defaults < ``file`` < ``overrides`` (a nested dict, e.g. ``{"train": {"backend": "xgboost"}}``).

    Checked on the raw settings, before building: ``[fusion]`` settings (a file's table or a
    ``--fusion``/``--weight-fn`` flag) need ``--labels fused``. A ``config.json`` saved by an older
    run carries ``fusion.explicit`` (a parser flag that once lived in the config): it is dropped,
    with its fusion table when it says none was given."""
    data = read_config_file(file) if file else {}
    data = {k: v for k, v in data.items() if k != TRACKING_TABLE}  # gbltr.track reads it: where, not what
    data = merge(_without_explicit(data, file), overrides or {})
    check_fusion_given(data)
    return build(FitConfig, data)


def check_fusion_given(data: dict) -> None:
    """Refuse ``[fusion]`` settings in the raw settings ``data`` unless ``labels`` is ``fused``."""
    labels = data.get("labels", FitConfig.__dataclass_fields__["labels"].default)
    given = data.get("fusion")
    if given and labels != "fused":
        keys = sorted(given) if isinstance(given, dict) else given
        raise ConfigError(
            f"fusion settings {keys} were given with --labels {labels}; fusion applies only to --labels fused "
            "(pass --labels fused, or remove the [fusion] settings / --fusion flags)"
        )


def _without_explicit(data: dict, file) -> dict:
    """``data`` without the ``fusion.explicit`` key of older ``config.json`` files (logged)."""
    fusion = data.get("fusion")
    if not isinstance(fusion, dict) or "explicit" not in fusion:
        return data
    import logging

    logging.getLogger("gbltr").info("%s: dropping fusion.explicit, a parser flag older runs saved "
                                    "(fusion settings need --labels fused)", file)
    fusion = {k: v for k, v in fusion.items() if k != "explicit"}
    if data.get("labels", "click") != "fused":  # a saved non-fused run: its fusion table is the unused defaults
        return {k: v for k, v in data.items() if k != "fusion"}
    return {**data, "fusion": fusion}


def dotted(pairs: dict[str, object]) -> dict:
    """``{"train.backend": "xgboost"}`` -> ``{"train": {"backend": "xgboost"}}``, skipping None values."""
    out: dict = {}
    for key, value in pairs.items():
        if value is None:
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out
