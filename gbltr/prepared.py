"""What :func:`gbltr.pipeline.prepare` hands to training and reports: :class:`Prepared` and its records.

Each fact the preparation learns is a small frozen record, returned by the helper that computes
it, and read by name (never a dict filled in as it goes):

``buckets``   :class:`gbltr.buckets.BucketSpec`, the thresholds *resolved* for this log (fixed, or
              ``[buckets] quantiles`` of its query frequencies). FAMOL's weights, the weight plot,
              the reports and the bucket column of every frame use this one spec.
``split``     :class:`Split`: the mode (:data:`gbltr.config.SPLIT_MODES`), whether the source's split
              column was used, and the query ids of train / valid / test (``split.parquet``).
``coverage``  :class:`LabelCoverage`: queries per bucket in each split, by label source, rows.
``features``  :class:`FeatureRecord`: built features skipped (and why), empty groups, constant features.
``dropped``   :class:`Dropped`: the validation pass's counts of rows and queries left out or defaulted.
``log``       :class:`LogSummary`: how the search log was read, and the click model fitted on it
              (:class:`ClickSummary`).
``human_grades``  :class:`gbltr.labels.human.HumanGrades` when ``--labels human`` changed grades (negative, fractional).

:meth:`Prepared.training_record` is the run report's ``training`` table (``report.json``), built
from these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import polars as pl

from gbltr.buckets import BucketSpec
from gbltr.errors import ConfigError, unknown_choice
from gbltr.labels.human import HumanGrades
from gbltr.schema import SPLITS

if TYPE_CHECKING:
    from gbltr.config import FitConfig
    from gbltr.labels.clicks import ClickLabels
    from gbltr.labels.clicks.priors import PriorChoice
    from gbltr.train.dataset import RankingDataset


@dataclass(frozen=True, eq=False)
class Split:
    """The query split. ``frame``: query_id, split (one of :data:`gbltr.schema.SPLITS`), every query
    once. ``mode``: ``--split`` (:data:`gbltr.config.SPLIT_MODES`); ``from_source``: the source's own
    split column was used (else a seeded draw)."""

    mode: str
    from_source: bool
    frame: pl.DataFrame

    def ids(self, name: str) -> pl.Series:
        """The query ids of split ``name`` (train, valid or test)."""
        if name not in SPLITS:
            raise unknown_choice("split", name, SPLITS)
        return self.frame.filter(pl.col("split") == name)["query_id"]

    def counts(self) -> dict[str, int]:
        return {s: self.ids(s).len() for s in SPLITS}


@dataclass(frozen=True)
class LabelCoverage:
    """Queries per bucket: ``train`` (training queries), ``labelled_train`` (source -> per bucket),
    ``valid``, ``test`` and ``all_queries`` (every query of the dataset); ``train_rows``; ``notes``:
    what building each ranking dataset left out (:meth:`gbltr.train.dataset.RankingDataset.build`)."""

    train: dict[str, int]
    labelled_train: dict[str, dict[str, int]]
    valid: dict[str, int]
    test: dict[str, int]
    all_queries: dict[str, int]
    train_rows: int
    notes: dict[str, dict]


@dataclass(frozen=True)
class FeatureRecord:
    """What the feature build left out: ``skipped`` (built feature -> the missing input),
    ``empty_groups``, and ``constant_within_queries`` (features that cannot rank on their own)."""

    skipped: dict[str, str] = field(default_factory=dict)
    empty_groups: tuple[str, ...] = ()
    constant_within_queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dropped:
    """The validation pass's counts (:mod:`gbltr.validate`): name -> rows or queries left out or defaulted."""

    counts: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    def nonzero(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v}

    def to_json(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass(frozen=True)
class ClickSummary:
    """The click model behind the click labels, for reports (:func:`click_summary`)."""

    click_model: str
    propensities: tuple[float, ...]
    click_fit: dict
    click_grading: dict
    click_sessions: dict
    no_gradient_click_queries: dict[str, dict[str, int]]
    click_prior: PriorChoice | None = None  # the fitted model's record: which prior, learnt or fixed, and why


@dataclass(frozen=True)
class LogSummary:
    """How the search log was read: ``streamed`` (scanned lazily, :mod:`gbltr.data.log`), the
    queries with at least one session, and the click model fitted on it (``click``, when click
    labels were prepared)."""

    streamed: bool
    queries_in_log: int
    click: ClickSummary | None = None


@dataclass
class Prepared:
    """Everything one configuration's models train and evaluate on (:func:`gbltr.pipeline.prepare`)."""

    config: FitConfig
    dataset_path: str
    stats: pl.DataFrame  # query_id, frequency, bucket (by :attr:`buckets`) of every query
    feature_names: tuple[str, ...]
    feature_groups: dict[str, tuple[str, ...]]
    train: RankingDataset
    valid: RankingDataset
    test: RankingDataset
    buckets: BucketSpec
    split: Split
    coverage: LabelCoverage
    features: FeatureRecord
    dropped: Dropped
    log: LogSummary
    click: ClickLabels | None = None  # the click labels, when prepared (``click_labels.parquet``)
    manifest: dict = field(default_factory=dict)
    catalogue: str | None = None
    train_labels: dict[str, pl.DataFrame] = field(default_factory=dict)
    human_grades: HumanGrades | None = None
    prepare_seconds: float = 0.0

    def without_features(self, names) -> "Prepared":
        """The same prepared data without the feature columns ``names`` (ablation; the rows,
        labels and groups are shared, nothing is rebuilt). Removing every feature is an error."""
        drop = set(names)
        kept = tuple(f for f in self.feature_names if f not in drop)
        if not kept:
            raise ConfigError(
                f"removing {sorted(drop)} leaves no feature; expected at least one of {list(self.feature_names)} "
                "to remain (remove fewer groups)"
            )
        return replace(self, train=self.train.without_features(drop), valid=self.valid.without_features(drop),
                       test=self.test.without_features(drop), feature_names=kept)

    def without_groups(self, groups) -> "Prepared":
        """:meth:`without_features` for feature groups or subgroups named in :attr:`feature_groups`."""
        for g in groups:
            if g not in self.feature_groups:
                raise unknown_choice("feature group", g, self.feature_groups)
        return self.without_features([f for g in groups for f in self.feature_groups[g]])

    def weight_context(self) -> dict:
        """What a FAMOL weight function reads (:meth:`gbltr.labels.fusion.FusionConfig.weights`): the
        bucket thresholds resolved for this log and the largest training-query frequency."""
        freq = self.train.frequency_or_zero()
        return dict(high_min=self.buckets.high_min, medium_min=self.buckets.medium_min,
                    f_max=float(max(freq.max(initial=0), 1)))

    def bucket_record(self) -> dict:
        """The resolved thresholds for reports: high_min, medium_min, and the quantiles they came from (or None)."""
        return {"high_min": self.buckets.high_min, "medium_min": self.buckets.medium_min,
                "quantiles": list(self.config.buckets.quantiles) or None}

    def training_record(self) -> dict:
        """The run report's ``training`` table (``report.json``), from the typed fields."""
        cfg = self.config
        out: dict = {
            "dataset": self.dataset_path, "protocol": cfg.protocol, "split": self.split.mode,
            "split_from_source": self.split.from_source, "split_queries": self.split.counts(),
            "buckets": self.bucket_record(),
            "missing": dict(self.manifest.get("missing", {})), "stream": self.log.streamed,
            "queries_in_log": self.log.queries_in_log,
            "skipped": dict(self.features.skipped), "empty_groups": list(self.features.empty_groups),
        }
        if self.log.click is not None:
            click = asdict(self.log.click)
            click["propensities"] = list(click["propensities"])
            prior = self.log.click.click_prior
            click["click_prior"] = None if prior is None else prior.to_json()
            out.update(click)
        if self.human_grades is not None:
            out["human_training_grades"] = asdict(self.human_grades)
        if self.features.constant_within_queries:
            out["constant_within_queries"] = list(self.features.constant_within_queries)
        c = self.coverage
        out.update({"n_train_queries": c.train, "n_labelled_train_queries": c.labelled_train,
                    "n_valid_queries": c.valid, "n_test_queries": c.test, "train_rows": c.train_rows,
                    "notes": c.notes, "dropped": self.dropped.to_json(), "prepare_seconds": self.prepare_seconds,
                    "n_queries_per_bucket": c.all_queries})
        return out

    def split_frame(self) -> pl.DataFrame:
        """query_id, split: every query of the split (``split.parquet`` of a run folder)."""
        return self.split.frame.sort("split", "query_id")
