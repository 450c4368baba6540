"""Training on fused supervision: FAMOL (two forms) and data scheduling.

The labels side of fusion (weight functions, the ``[fusion]`` settings) is :mod:`gbltr.labels.fusion`;
this module trains on it.

FAMOL (Yu, Bi, Guo et al., arXiv 2511.06635): per query q, loss
``a_q L_click(q) + b_q L_llm(q)`` with ``(a_q, b_q)`` from the frequency weight function
(:mod:`gbltr.labels.fusion`). Two implementations of the same objective:

``objective``
    A custom objective (:func:`gbltr.train.backends.custom.make_famol_objective`): one pass per
    query computes both sources' LambdaRank gradients (LightGBM's, exactly) and mixes them.
``stacked``
    The built-in objective on stacked groups: each training query appears twice, once with click
    labels and weight ``a_q``, once with LLM labels and weight ``b_q``. LightGBM takes per-row
    weights, applied after its per-query normalisation, so the gradient sums equal the custom
    objective's and the trees are the same once ``min_data_in_leaf`` is doubled (each document
    is two rows). XGBoost takes one weight per group and renormalises the weights, and its
    rank:ndcg gradient is not LightGBM's, so the XGBoost stacked form is a different (still
    frequency-weighted) model, not the same one.

Data scheduling: stage-wise boosting that continues from the previous stage's model. A schedule
is a list of stages ``{source, rounds, queries, early_stopping}`` where ``queries`` is ``all`` or
a list of frequency buckets. Named schedules ship as package data in ``gbltr/train/schedules/``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gbltr.buckets import BUCKETS
from gbltr.config import FUSED_SOURCES
from gbltr.errors import ConfigError, InputError, unknown_choice
from gbltr.inputs import field, read_document
from gbltr.labels.fusion import AUTO, gain_for, named_schedules
from gbltr.ranges import check_fields, count, number
from gbltr.train.backends import Backend, TrainSettings, custom
from gbltr.train.weight_search import search_weights

log = logging.getLogger("gbltr")



@dataclass(frozen=True)
class Stage:
    source: str
    rounds: int = number(dataclasses.MISSING, count(1))
    queries: tuple[str, ...] = ("all",)
    early_stopping: int = number(0, count(0, note="0 = no early stopping"))

    def __post_init__(self):
        if self.source not in FUSED_SOURCES:
            raise unknown_choice("stage source", self.source, FUSED_SOURCES)
        check_fields(self, "stage")
        allowed = {"all", *BUCKETS}
        bad = [q for q in self.queries if q not in allowed]
        if bad or not self.queries:
            raise ConfigError(f"stage queries={list(self.queries)}; expected 'all' or buckets from {sorted(allowed - {'all'})}")


def load_schedule(name_or_path: str) -> list[Stage]:
    """A schedule by name (``gbltr/train/schedules/NAME.toml``) or from a TOML file with ``[[stage]]`` tables."""
    path = Path(name_or_path)
    if not (path.exists() or name_or_path.endswith((".toml", ".json")) or "/" in name_or_path):
        named = named_schedules()
        if name_or_path not in named:
            raise unknown_choice("schedule (a packaged name or a TOML file)", name_or_path, named)
        path = named[name_or_path]
    data = read_document(path, "schedule", "[[stage]] tables (source, rounds; optional queries, early_stopping)")
    unknown = set(data) - {"stage", "description"}
    if unknown or "stage" not in data:
        raise ConfigError(f"schedule {path}: expected [[stage]] tables (and a description); found keys {sorted(data)}")
    stage_list = field(data, "stage", "list", f"schedule {path}")
    if not stage_list:
        raise InputError(f"schedule {path}: expected at least one [[stage]] table, found none")
    stages = []
    for i, st in enumerate(stage_list):
        where = f"schedule {path} stage {i + 1}"
        if not isinstance(st, dict):
            raise InputError(f"{where}: expected a [[stage]] table, found {st!r}")
        extra = set(st) - {"source", "rounds", "queries", "early_stopping"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
        q = field(st, "queries", "string|list", where, default="all")
        queries = (q,) if isinstance(q, str) else tuple(q)
        if not all(isinstance(b, str) for b in queries):
            raise InputError(f"{where}: queries = {q!r}; expected 'all' or a list of bucket names (strings)")
        stages.append(Stage(field(st, "source", "string", where), field(st, "rounds", "integer", where), queries,
                            field(st, "early_stopping", "integer", where, default=0)))
    return stages


def llm_labelled_queries(train) -> np.ndarray:
    """bool (n_queries,): the training queries with at least one LLM label (an LLM budget may
    label only some pairs: :mod:`gbltr.labels.budget`)."""
    if "llm" not in train.labels:
        return np.zeros(train.n_queries, dtype=bool)
    rows = ~np.isnan(train.labels["llm"])
    return np.bincount(train.row_query()[rows], minlength=train.n_queries) > 0


def click_only(a: np.ndarray, b: np.ndarray, has_llm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAMOL weights on partial LLM labels: a query without any LLM label trains on clicks alone,
    whatever its weight function says: click weight 1, LLM weight 0, so its gradient is the
    click-only run's (a weight ``a_q < 1`` would only shrink it; its LLM part is empty anyway).
    Queries with some LLM labels keep ``(a_q, b_q)``; their unlabelled rows take no part in the
    LLM loss (label -1 in :func:`gbltr.train.objectives.famol_grad_hess`)."""
    return np.where(has_llm, a, 1.0), np.where(has_llm, b, 0.0)


def famol_weights(prep, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Per training query (click weight a_q, LLM weight b_q), by ``cfg.fusion``'s weight function
    at the thresholds resolved for this log (``prep.buckets``: the buckets every report shows,
    quantile ones included; never ``cfg.buckets``' configured defaults); queries without any LLM
    label train on clicks alone (:func:`click_only`)."""
    a, b = cfg.fusion.loss_weights(prep.train.frequency_or_zero(), **prep.weight_context())
    return click_only(a, b, llm_labelled_queries(prep.train))


def partial_llm_record(train) -> dict:
    """Per bucket: training queries, those with and without any LLM label, rows and rows with an
    LLM label (``training.partial_llm`` of a fused run's report)."""
    has = llm_labelled_queries(train)
    rows_llm = ~np.isnan(train.labels["llm"]) if "llm" in train.labels else np.zeros(train.n_rows, bool)
    per_q_rows = np.bincount(train.row_query()[rows_llm], minlength=train.n_queries)
    bucket = train.bucket if train.bucket is not None else np.array(["all"] * train.n_queries)
    out = {}
    for name in dict.fromkeys(bucket.astype(str).tolist()):
        m = bucket.astype(str) == name
        out[name] = {"queries": int(m.sum()), "queries_with_llm": int(has[m].sum()),
                     "click_only_queries": int((~has[m]).sum()), "rows": int(train.group_sizes[m].sum()),
                     "rows_with_llm": int(per_q_rows[m].sum())}
    return {b: out[b] for b in sorted(out, key=lambda x: (BUCKETS.index(x) if x in BUCKETS else 99, x))}


def famol_weight_table(prep, fusion):
    """query_id, frequency, bucket, click_weight, llm_weight, has_llm_label: each training query's
    FAMOL weights under ``fusion`` as trained (click-only for queries without any LLM label:
    :func:`click_only`) (``famol_weights.parquet`` of a run folder)."""
    import polars as pl

    train = prep.train
    has = llm_labelled_queries(train)
    a, b = click_only(*fusion.loss_weights(train.frequency_or_zero(), **prep.weight_context()), has)
    return pl.DataFrame({
        "query_id": train.query_ids.astype(str), "frequency": train.frequency_or_zero().astype(np.int64),
        "bucket": train.bucket.astype(str),
        "click_weight": a, "llm_weight": b, "has_llm_label": has,
    })


def _gain(cfg, source: str) -> tuple[float, ...]:
    return cfg.fusion.click_gain if source == "click" else cfg.fusion.llm_gain


def train_fused(prep, cfg, backend: Backend, valid_y, settings: TrainSettings, *, reuse: dict | None = None):
    """Train on fused labels: a schedule, FAMOL with a fixed weight function, or FAMOL with
    ``weight_fn = "auto"`` (the validation search, :mod:`gbltr.train.weight_search`; ``reuse``:
    full-rung models already trained on the same data, by candidate key)."""
    if cfg.fusion.method == "schedule":
        return _train_schedule(prep, cfg, backend, valid_y, settings)
    if cfg.fusion.weight_fn == AUTO:
        subsets: dict = {}  # one training subset per rung sample: the same array, so its bins are reused

        def train_one(c, *, rounds: int | None = None, init=None, sample=None):
            part = None
            if sample is not None and not sample.all():
                key = sample.tobytes()
                if key not in subsets:
                    subsets[key] = (sample, prep.train.subset_queries(sample))
                part = subsets[key]
            return _train_famol(prep, c, backend, valid_y, dataclasses.replace(settings, cfg=c.train), rounds=rounds,
                                init_model=None if init is None else init.kept_booster(), sample=part)

        with backend.bins_reused():  # the candidates differ in their loss weights only: bin the features once
            return search_weights(prep, cfg, settings, train_one=train_one, reuse=reuse,
                                  continue_training=backend.capabilities.continue_training)
    return _train_famol(prep, cfg, backend, valid_y, settings)


def _train_famol(prep, cfg, backend: Backend, valid_y, settings: TrainSettings, *, rounds: int | None = None,
                 init_model=None, sample=None):
    """One FAMOL model. ``sample``: (mask [n_training_queries], ``prep.train.subset_queries(mask)``)
    to train on those queries only (the weight search's cheap rungs), their weights as on the
    whole training set (the weight functions read the whole set's largest frequency)."""
    train = prep.train
    a, b = famol_weights(prep, cfg)
    if sample is not None:
        mask, train = sample
        a, b = a[mask], b[mask]
    human_gain = gain_for(valid_y)
    if cfg.fusion.form == "objective":
        click_gain, llm_gain = _gain(cfg, "click"), _gain(cfg, "llm")
        args = (train.grades("click", max_grade=len(click_gain) - 1), train.grades("llm", max_grade=len(llm_gain) - 1),
                train.group_ptr, a, b)
        kw = dict(click_gain=click_gain, llm_gain=llm_gain, truncation_level=cfg.train.truncation_level)
        objective = _gpu_objective(cfg, args, kw) or custom.make_famol_objective(*args, **kw)
        return backend.train(settings.request(train.X, np.zeros(train.n_rows), train.group_sizes, prep.valid.X,
                                              valid_y, prep.valid.group_sizes, label_gain=human_gain,
                                              objective=objective, rounds=rounds, init_model=init_model))
    # stacked form
    if tuple(cfg.fusion.click_gain) != tuple(cfg.fusion.llm_gain):
        raise ConfigError(
            "the stacked FAMOL form trains one built-in objective with one gain table, but "
            f"click_gain={list(cfg.fusion.click_gain)} differs from llm_gain={list(cfg.fusion.llm_gain)}; "
            "use fusion.form='objective'"
        )
    st = train.stacked("click", "llm", a, b)
    y = st.data.grades("stacked", max_grade=len(cfg.fusion.click_gain) - 1)
    gain = tuple(cfg.fusion.click_gain)
    if len(gain) < len(human_gain):
        gain = human_gain
    caps = backend.capabilities
    if caps.row_weights:  # per-row weights a_q / b_q: the same gradients as the objective form
        weights = dict(row_weight=st.row_weight)
        if caps.bin_reference:  # the unstacked rows' bins (doubling every row changes count-based binning)
            weights["bin_reference"] = train.X
        if caps.min_data_in_leaf:  # each document is two rows
            weights["min_data_in_leaf"] = 2 * cfg.train.min_data_in_leaf
    else:  # one weight per stacked group (a different, still frequency-weighted, model)
        weights = dict(group_weight=st.group_weight)
    return backend.train(settings.request(st.data.X, y, st.data.group_sizes, prep.valid.X, valid_y,
                                          prep.valid.group_sizes, label_gain=gain, rounds=rounds, init_model=init_model, **weights))


def _gpu_objective(cfg, args, kw):
    """With ``--device cuda``, the FAMOL gradient on the GPU (CuPy) when it can run there (an
    objective for one machine: :class:`gbltr.train.backends.custom.KernelObjective`)."""
    if cfg.train.device != "cuda":
        return None
    from gbltr.train.gpu_objectives import FamolGpuObjective, gpu_available

    if not gpu_available():
        log.warning("FAMOL gradient runs on the CPU: CuPy or a CUDA device is not available")
        return None
    gpu = FamolGpuObjective(*args, **kw)
    log.info("FAMOL gradient runs on the GPU (CuPy kernel)")
    return custom.KernelObjective(lambda scores, group_ptr: gpu(scores), args[2])


def _train_schedule(prep, cfg, backend: Backend, valid_y, settings: TrainSettings):
    stages = load_schedule(cfg.fusion.schedule)
    model = None
    train = prep.train
    for i, stage in enumerate(stages):
        part = train
        if stage.queries != ("all",):
            part = train.subset_queries(np.isin(train.bucket, stage.queries))
        part = part.labelled_by(stage.source)
        if part.n_queries == 0:
            log.warning("schedule stage %d (%s on %s) has no queries: skipped", i + 1, stage.source, stage.queries)
            continue
        y = part.grades(stage.source)
        gain = gain_for(y, valid_y)
        prev_rounds = 0 if model is None else model.best_iteration
        init = None if model is None else model.kept_booster()
        model = backend.train(settings.request(part.X, y, part.group_sizes, prep.valid.X, valid_y,
                                               prep.valid.group_sizes, label_gain=gain, init_model=init,
                                               rounds=stage.rounds, early_stopping=stage.early_stopping))
        log.info("schedule stage %d: %s on %s, %d rounds after %d", i + 1, stage.source, stage.queries,
                 model.best_iteration - prev_rounds, prev_rounds)
    if model is None:
        raise ConfigError(f"schedule {cfg.fusion.schedule!r} trained nothing: every stage had no queries")
    return model
