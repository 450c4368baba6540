"""The annotation plan: which pairs (or whole query windows) to give the LLM, in what order, at what cost.

:func:`candidates` lists the training candidates without an LLM label (validation candidates with
their human grades go to ``auto``; test queries are never read). :func:`make_plan` scores them
with a planner (:mod:`gbltr.labels.budget`), groups them into units (a pair for ``point``; a
query's pairs, annotated as its windows, for the listwise strategies), orders the units by the
planner's score (the mean of their pairs' scores; for ``point``, a query without any LLM label
yet gets its two best pairs as one unit: a ranking loss learns nothing from one label alone in a
query) and takes them, in that order, until the next
unit would exceed the budget.

The plan file (Parquet, one row per pair, :data:`PLAN_COLUMNS` then ``part_NAME`` reason columns):
``query_id, doc_id, unit`` (0-based, in priority order), ``priority`` (1 = first), ``score``,
``bucket``, ``frequency``, ``rank``, ``expected_prompt_tokens``, ``expected_completion_tokens``,
``expected_usd`` (each pair's equal share of its unit's estimate; null without a price table),
and constants ``planner``, ``chosen`` (the planner ``auto`` chose), ``strategy``, ``seed``,
``dataset`` (:func:`gbltr.data.store.fingerprint` of the dataset planned). The estimates come
from the annotator's own dry run (:func:`gbltr.labels.llm.cost.unit_usage`; for ``point``
:func:`gbltr.labels.llm.cost.point_tokens`, the same numbers without rendering each request):
the same requests that ``gbltr annotate --plan --dry-run`` renders, so the dollars agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.buckets import BUCKETS
from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.inputs import read_parquet
from gbltr.labels.budget import get_planner
from gbltr.labels.budget.base import PAIR_COLUMNS, PlanInput
from gbltr.words import counted

log = logging.getLogger("gbltr")

PLAN_COLUMNS = ("query_id", "doc_id", "unit", "priority", "score", "bucket", "frequency", "rank",
                "expected_prompt_tokens", "expected_completion_tokens", "expected_usd",
                "planner", "chosen", "strategy", "seed", "dataset")
LISTWISE = ("list", "listrank", "listsel")


@dataclass(frozen=True)
class Budget:
    """How much to buy: ``labels`` (pairs), ``usd`` (dollars at the price table) or ``share``
    (a fraction of the pairs left, for budget curves). Exactly one is set."""

    labels: int | None = None
    usd: float | None = None
    share: float | None = None

    def describe(self) -> str:
        if self.labels is not None:
            return counted(self.labels, "label")
        if self.usd is not None:
            return f"${self.usd:g}"
        return f"{self.share:g} of the pairs left"


@dataclass(frozen=True)
class Plan:
    """A plan: ``frame`` (the plan file's rows), the ``budget`` asked, how many pairs were left
    to plan and whether all of them fit (``all_planned``)."""

    frame: pl.DataFrame
    budget: Budget
    pairs_left: int
    all_planned: bool
    planner: str  # the planner asked for (the frame's ``chosen`` column says what ``auto`` chose)
    strategy: str
    prior: tuple[float, float]  # the click model's attractiveness Beta the planner read (Candidates.prior)

    def spend_per_bucket(self) -> pl.DataFrame:
        """bucket, pairs, queries, expected tokens and dollars."""
        return (self.frame.group_by("bucket").agg(
            pl.len().alias("pairs"), pl.col("query_id").n_unique().alias("queries"),
            (pl.col("expected_prompt_tokens") + pl.col("expected_completion_tokens")).sum().alias("tokens"),
            pl.col("expected_usd").sum().alias("usd"))
            .with_columns(pl.col("bucket").replace_strict({b: i for i, b in enumerate(BUCKETS)}, default=99).alias("_o"))
            .sort("_o").drop("_o"))

    def notes(self) -> list[str]:
        out = []
        if self.pairs_left == 0:
            return ["every training pair already has an LLM label: nothing is left to plan"]
        if self.all_planned:
            out.append(f"the budget ({self.budget.describe()}) covers every one of the {counted(self.pairs_left, 'pair')} "
                       "left without an LLM label: all of them are planned")
        return out

    def to_markdown(self) -> str:
        f = self.frame
        chosen = f["chosen"][0] if f.height else ""
        head = self.planner + (f" (chose {chosen})" if chosen and chosen != self.planner else "")
        usd = f["expected_usd"].sum() if f.height and f["expected_usd"].null_count() < f.height else None
        lines = [f"# Annotation plan: {head}", "",
                 f"Budget {self.budget.describe()}; strategy {self.strategy}; "
                 f"{counted(f.height, 'pair')} of {self.pairs_left} left, in {counted(f['unit'].n_unique(), 'unit')}; "
                 f"expected cost {'n/a (no --prices)' if usd is None else f'${usd:.4f}'}; "
                 f"click model's attractiveness prior Beta({self.prior[0]:.4g}, {self.prior[1]:.4g}).", ""]
        lines += [f"Note: {n}." for n in self.notes()]
        lines += ["", "| bucket | pairs | queries | tokens | USD |", "|---|---:|---:|---:|---:|"]
        for row in self.spend_per_bucket().iter_rows(named=True):
            u = "n/a" if row["usd"] is None or usd is None else f"{row['usd']:.4f}"
            lines.append(f"| {row['bucket']} | {row['pairs']} | {row['queries']} | {row['tokens']:.0f} | {u} |")
        return "\n".join(lines) + "\n"


def require_log(search) -> None:
    """Refuse a dataset without a click log: every planner but the random ones reads it, and the
    buckets the plan reports are frequency buckets."""
    if not search.has_sessions():
        raise DataError("gbltr plan reads the click log to choose pairs (frequencies, buckets, click evidence); "
                        "the dataset has no impressions (impressions.parquet). Import a log with 'gbltr import', "
                        "or simulate one")


@dataclass(frozen=True)
class Candidates:
    """What :func:`candidates` found, and the one place planners read the click prior from.

    ``train``: the pairs a plan may buy; ``valid``: validation pairs with their ``human`` grade
    (None without human labels); ``prior``: the attractiveness Beta pseudo-counts (a, b) of the
    click model that scored them: learnt from the log with ``click.priors.choice = "auto"``, the
    configured ones with ``fixed`` (:class:`gbltr.labels.clicks.priors.PriorChoice`). Passed on as
    :attr:`PlanInput.prior`, so a plan's posterior spreads use the prior its click scores were
    fitted with."""

    train: pl.DataFrame
    valid: pl.DataFrame | None
    prior: tuple[float, float]


def candidates(ds, search, stats: pl.DataFrame, train_ids: pl.Series, valid_ids: pl.Series | None, click_cfg,
               *, exclude_labelled: bool = True, second_click_model: bool = False) -> Candidates:
    """Training pairs and validation pairs with ``human`` in :data:`PAIR_COLUMNS`, sorted by query and
    rank, and the click model's attractiveness prior (:class:`Candidates`); the training pairs also
    have ``query_llm_labels`` (the LLM labels their query already has).

    ``stats``: query_id, frequency, bucket. Training pairs that already have a non-null LLM label
    (``ds.labels['llm']``) are left out when ``exclude_labelled``. ``second_click_model``: also
    fit the click model :func:`~gbltr.labels.budget.disagreement.second_model` sets beside
    ``click_cfg.model`` and add its relevance as ``click_score_alt`` (both frames), for planners
    with ``needs_second_click_model``."""
    from dataclasses import replace

    from gbltr.labels.budget.disagreement import ALT_COLUMN, second_model

    require_log(search)
    ids = train_ids if valid_ids is None else pl.concat([train_ids, valid_ids])
    labels = search.click_labels(ds.candidates, ids, click_cfg)
    attractiveness = labels.model.priors.attractiveness
    cl = labels.frame
    click = cl.select("query_id", "doc_id", pl.col("score").alias("click_score"),
                      pl.col("impressions").cast(pl.Int64), pl.col("clicks").cast(pl.Int64),
                      pl.col("propensity").cast(pl.Float64))
    extra: tuple[str, ...] = ()
    if second_click_model:
        alt = search.click_labels(ds.candidates, ids, replace(click_cfg, model=second_model(click_cfg.model))).frame
        click = click.join(alt.select("query_id", "doc_id", pl.col("score").alias(ALT_COLUMN)),
                           on=["query_id", "doc_id"], how="left")
        extra = (ALT_COLUMN,)
    base = (ds.candidates.select("query_id", "doc_id", pl.col("rank").cast(pl.Int64),
                                 pl.col("retrieval_score").cast(pl.Float64))
            .join(stats.select("query_id", pl.col("frequency").cast(pl.Int64), "bucket"), on="query_id", how="left")
            .join(click, on=["query_id", "doc_id"], how="left")
            .with_columns(pl.col("impressions").fill_null(0), pl.col("clicks").fill_null(0)))
    train = base.join(pl.DataFrame({"query_id": train_ids}), on="query_id", how="semi")
    if exclude_labelled and "llm" in ds.labels:
        have = ds.labels["llm"].filter(pl.col("label").is_not_null()).select("query_id", "doc_id")
        train = (train.join(have, on=["query_id", "doc_id"], how="anti")
                 .join(have.group_by("query_id").len("query_llm_labels"), on="query_id", how="left"))
    if "query_llm_labels" not in train.columns:
        train = train.with_columns(pl.lit(0).alias("query_llm_labels"))
    train = train.with_columns(pl.col("query_llm_labels").fill_null(0).cast(pl.Int64))
    train = train.sort("query_id", "rank", "doc_id").select(*PAIR_COLUMNS, *extra, "query_llm_labels")
    valid = None
    if valid_ids is not None and "human" in ds.labels:
        human = ds.labels["human"].select("query_id", "doc_id", pl.col("label").alias("human"))
        valid = (base.join(pl.DataFrame({"query_id": valid_ids}), on="query_id", how="semi")
                 .join(human, on=["query_id", "doc_id"], how="inner").sort("query_id", "rank", "doc_id")
                 .select(*PAIR_COLUMNS, *extra, "human"))
    return Candidates(train, valid, (float(attractiveness.a), float(attractiveness.b)))


def _units(pairs: pl.DataFrame, strategy: str, score: np.ndarray | None) -> np.ndarray:
    """Unit index of every pair: its query for the listwise strategies; for ``point`` the pair
    itself, except that the two best-scored pairs of a query without any LLM label yet form one
    unit. A ranking loss learns from pairs of documents: one LLM label alone in a query teaches
    it nothing, so a query's first label is bought with a second."""
    if strategy in LISTWISE:
        return pairs.select(pl.col("query_id").rank("dense") - 1)["query_id"].to_numpy().astype(np.int64)
    n = pairs.height
    unit = np.arange(n, dtype=np.int64)
    if n == 0 or score is None:  # None: every pair alone (what each pair's estimate is rendered for)
        return unit
    existing = (pairs["query_llm_labels"].fill_null(0).to_numpy() if "query_llm_labels" in pairs.columns
                else np.zeros(n, dtype=np.int64))
    best = (pairs.select("query_id").with_row_index("_r").with_columns(pl.Series("_s", score), pl.Series("_e", existing))
            .filter(pl.col("_e") == 0)
            .sort("_s", "_r", descending=[True, False])
            .group_by("query_id", maintain_order=True).head(2)
            .group_by("query_id", maintain_order=True).agg(pl.col("_r")))
    for rows in best["_r"].to_list():
        if len(rows) == 2:
            unit[rows[1]] = unit[rows[0]]
    _, dense = np.unique(unit, return_inverse=True)
    return dense.astype(np.int64)


def _take(order: np.ndarray, size: np.ndarray, usd: np.ndarray | None, budget: Budget, n_pairs: int) -> int:
    """How many units of ``order`` fit the budget (a prefix: stop before the first that would exceed it)."""
    if budget.usd is not None:
        if usd is None:
            raise ConfigError("--budget-usd needs expected dollars: pass --prices FILE and --price-model NAME")
        spent = np.cumsum(usd[order])
        return int(np.searchsorted(spent, budget.usd * (1 + 1e-12), side="right"))
    cap = budget.labels if budget.labels is not None else int(round(budget.share * n_pairs))
    return int(np.searchsorted(np.cumsum(size[order]), cap, side="right"))


def make_plan(train: pl.DataFrame, valid: pl.DataFrame | None, *, planner: str, budget: Budget, strategy: str,
              seed: int, dataset: str, prior: tuple[float, float], usage=None, prices=None, model: str = "",
              batch: bool = False, trial_fit=None) -> Plan:
    """Score ``train``'s pairs (from :func:`candidates`) with ``planner`` and take units until ``budget``.

    ``prior``: the click model's attractiveness pseudo-counts (:attr:`Candidates.prior`).

    ``usage``: a function ``(train, unit, n_units) -> Tokens`` estimating each unit's tokens
    (:func:`gbltr.labels.budget.run.usage_of`: the annotator's dry-run estimate bound to the
    pairs' text and the strategy; :class:`gbltr.labels.llm.cost.Tokens`), or None
    (no estimates: budgets in labels or shares only). ``prices``/``model``: dollars from the
    price table. ``trial_fit``: a function ``keep (query_id, doc_id) -> validation score`` that
    trains on only ``keep``'s LLM labels (:func:`gbltr.labels.budget.trial.masked_trial`), which
    ``auto`` uses to try each candidate's plan at this budget; None: no masked trials.
    Reproducible: the same inputs and ``seed`` give the same plan."""
    p = get_planner(planner)
    rng = np.random.default_rng(seed)
    unit = _units(train, strategy, None)  # the units each estimate is rendered for
    n_units = int(unit.max()) + 1 if unit.size else 0
    size = np.bincount(unit, minlength=n_units).astype(np.int64)
    prompt = np.zeros(n_units)
    completion = np.zeros(n_units)
    usd = None
    if usage is not None and n_units:
        found = usage(train, unit, n_units)
        prompt = np.asarray(found.prompt, float)
        completion = np.asarray(found.completion, float)
        if prices is not None:
            usd = np.asarray(prices.costs(found, model, batch=batch), float)
    pair_cost = None
    if usage is not None:
        per_unit = usd if usd is not None else prompt + completion
        pair_cost = (per_unit / np.maximum(size, 1))[unit]
    first, first_prompt, first_completion, first_usd = unit, prompt, completion, usd

    def choose(s: np.ndarray, tie_rng: np.random.Generator):
        """Units, their estimates and the budget's prefix of their order under the scores ``s``."""
        unit, prompt, completion, usd = first, first_prompt, first_completion, first_usd
        if strategy not in LISTWISE:  # point: a fresh query's two best pairs by this planner's score go together
            unit = _units(train, strategy, s)
            n = int(unit.max()) + 1 if unit.size else 0
            # a pair's estimate is its own (point: one request per pair); a unit's is the sum of its pairs'
            prompt = np.bincount(unit, weights=first_prompt[first], minlength=n)
            completion = np.bincount(unit, weights=first_completion[first], minlength=n)
            if usd is not None:
                usd = np.bincount(unit, weights=first_usd[first], minlength=n)
        n = int(unit.max()) + 1 if unit.size else 0
        size = np.bincount(unit, minlength=n).astype(np.int64)
        unit_score = np.bincount(unit, weights=s, minlength=n) / np.maximum(size, 1)
        # ties in a seeded random order, so that equal scores do not favour the id order
        order = np.lexsort((tie_rng.permutation(n), -unit_score))
        k = _take(order, size, usd, budget, train.height)
        return unit, n, size, prompt, completion, usd, order, k

    trial_seed = int(rng.integers(2**32)) if trial_fit is not None else 0

    def trial(s: np.ndarray) -> float:
        """Validation score of the model trained on the plan the scores ``s`` make at this budget."""
        unit, n, _, _, _, _, order, k = choose(np.asarray(s, float), np.random.default_rng(trial_seed))
        taken = np.zeros(n, dtype=bool)
        taken[order[:k]] = True
        return trial_fit(train.filter(pl.Series(taken[unit])).select("query_id", "doc_id"))

    scores = p.score(PlanInput(train, tuple(prior), pair_cost, valid, trial if trial_fit is not None else None), rng)
    s = np.asarray(scores.score, float)
    if s.shape != (train.height,) or (s.size and not np.isfinite(s).all()):
        raise SchemaError(f"planner {planner!r}: expected {train.height} finite scores, found shape {s.shape}")
    unit, n_units, size, prompt, completion, usd, order, k = choose(s, rng)
    taken = order[:k]
    priority = np.full(n_units, -1, dtype=np.int64)
    priority[taken] = np.arange(k)
    rows = priority[unit] >= 0
    share = 1.0 / np.maximum(size, 1)
    frame = train.with_columns(
        pl.Series("unit", priority[unit]), pl.Series("score", s),
        pl.Series("expected_prompt_tokens", (prompt * share)[unit]),
        pl.Series("expected_completion_tokens", (completion * share)[unit]),
        pl.Series("expected_usd", (usd * share)[unit] if usd is not None else [None] * train.height, dtype=pl.Float64),
        *[pl.Series(f"part_{name}", np.asarray(v, float)) for name, v in scores.parts.items()],
    ).filter(pl.Series(rows))
    frame = (frame.with_columns(
        (pl.col("unit") + 1).alias("priority"), pl.lit(planner).alias("planner"),
        pl.lit(scores.chosen or planner).alias("chosen"), pl.lit(strategy).alias("strategy"),
        pl.lit(seed, dtype=pl.Int64).alias("seed"), pl.lit(dataset).alias("dataset"))
        .sort("unit", "rank", "doc_id"))
    parts = [c for c in frame.columns if c.startswith("part_")]
    frame = frame.select(*PLAN_COLUMNS, *parts)
    all_planned = k == n_units
    if all_planned and train.height:
        log.warning("the budget (%s) covers every pair left (%d): all of them are planned", budget.describe(), train.height)
    return Plan(frame, budget, train.height, all_planned, planner, strategy, tuple(prior))


def read_plan(path: str | Path, dataset: str | None = None, where: str = "--plan") -> pl.DataFrame:
    """The plan file ``path`` (:data:`PLAN_COLUMNS`), refused when it was made for another dataset
    (``dataset``: the fingerprint of the one it is used with)."""
    frame = read_parquet(path, "plan file", expected="a Parquet plan written by 'gbltr plan'")
    missing = [c for c in PLAN_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"plan file {path}: missing column(s) {missing}; expected a plan written by 'gbltr plan' "
                          f"({', '.join(PLAN_COLUMNS)}), found {frame.columns}")
    made_for = frame["dataset"].unique().to_list()
    if dataset is not None and made_for and made_for != [dataset]:
        raise DataError(f"{where} {path} was made for dataset {made_for[0]}, but this dataset's fingerprint is "
                        f"{dataset}; expected a plan of this dataset. Run 'gbltr plan --data' on it again")
    return frame
