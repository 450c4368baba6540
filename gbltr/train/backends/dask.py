"""Training on a Dask cluster: ``lightgbm.dask`` and ``xgboost.dask`` with gbltr's objectives.

``gbltr fit --engine dask [--scheduler ADDRESS|local] [--workers N]`` trains the same model as the
single-machine backends (:mod:`.lightgbm`, :mod:`.xgboost`) with the same parameters, on data
spread over Dask workers:

1. The training rows (already sorted by query by :class:`gbltr.train.dataset.RankingDataset`) are
   written as Parquet partitions, each holding whole queries in order (:func:`write_partitions`);
   :func:`check_partitions` refuses, with the query named, partitions where a query spans two
   files or rows are not sorted by query.
2. Each partition becomes one chunk of Dask arrays (features, labels, group sizes), so every
   worker holds whole queries: a ranking gradient never needs rows from another worker.
3. LightGBM: ``DaskLGBMRanker``; XGBoost: ``xgboost.dask.train`` on a ``DaskDMatrix``
   (``rank:ndcg``, or a custom objective).

Custom objectives (FAMOL, weighted LambdaRank) are :class:`~gbltr.train.backends.custom.RankingObjective`
objects holding the labels of every training row. On a worker, the objective sees only its own
rows; so each row carries its global row number (XGBoost: as the label; LightGBM: as the
weight), and the worker uses the objective restricted to those rows and their queries
(:meth:`~gbltr.train.backends.custom.RankingObjective.restrict`). Row numbers travel as float32,
exact up to 2**24 rows; more is refused.

Distributed tree learning bins features per worker and merges histograms, so the model is not
bit-identical to single-machine training; ``tests/train/test_dask.py`` states the tolerance. It is
reproducible from fit to fit: XGBoost by itself; LightGBM because partition k is read on the k-th
worker by address and its machine ranks follow that order (:class:`_RankedClient`; unpinned, the
ranks came from a set iteration and identical data gave different models).

A scheduler that cannot be reached, or a worker that dies mid-fit, is a :class:`DeviceError`;
the run folder is written only after training returns, so no partial model is saved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from gbltr.errors import ConfigError, DataError, DeviceError, unknown_choice
from gbltr.folders import scratch_folder
from gbltr.groups import group_ptr_from_sizes
from gbltr.train.backends import get_backend, spec
from gbltr.train.backends.base import Backend, Capabilities, TrainRequest
from gbltr.train.model import FittedRanker

log = logging.getLogger("gbltr")

MAX_ROWS = 2**24  # row numbers travel as float32 labels
CONNECT_TIMEOUT = "10s"


# ---------------------------------------------------------------- partitions

@dataclass(frozen=True)
class Partition:
    path: Path
    rows: int
    queries: int


def write_partitions(folder: str | Path, X: np.ndarray, group_sizes: np.ndarray, n_parts: int, *,
                     label: np.ndarray, weight: np.ndarray | None = None) -> list[Partition]:
    """Write rows sorted by query as ``n_parts`` Parquet files of whole queries (about equal rows).

    Columns: ``qid`` (global query number, int64), ``row`` (global row number), ``label``,
    ``weight`` (if given), ``f0..f{d-1}`` (float32 features).
    """
    import polars as pl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = np.asarray(group_sizes, dtype=np.int64)
    gp = group_ptr_from_sizes(sizes)
    n_parts = max(1, min(int(n_parts), sizes.size))
    targets = np.linspace(0, gp[-1], n_parts + 1)[1:-1]
    cuts = np.unique(np.concatenate([[0], np.searchsorted(gp, targets), [sizes.size]]))  # query boundaries
    parts = []
    for k in range(cuts.size - 1):
        q0, q1 = int(cuts[k]), int(cuts[k + 1])
        r0, r1 = int(gp[q0]), int(gp[q1])
        cols = {"qid": np.repeat(np.arange(q0, q1), sizes[q0:q1]), "row": np.arange(r0, r1),
                "label": np.asarray(label[r0:r1], dtype=np.float64)}
        if weight is not None:
            cols["weight"] = np.asarray(weight[r0:r1], dtype=np.float64)
        frame = pl.DataFrame(cols).with_columns(
            [pl.Series(f"f{j}", np.ascontiguousarray(X[r0:r1, j], dtype=np.float32)) for j in range(X.shape[1])])
        path = folder / f"part-{k:05d}.parquet"
        frame.write_parquet(path)
        parts.append(Partition(path, r1 - r0, q1 - q0))
    return parts


def check_partitions(paths) -> None:
    """Refuse partitions in which a query spans two files or rows are not sorted by query."""
    import polars as pl

    seen: dict[int, str] = {}
    for path in paths:
        qid = pl.read_parquet(path, columns=["qid"])["qid"].to_numpy()
        if qid.size and np.any(np.diff(qid) < 0):
            i = int(np.argmax(np.diff(qid) < 0))
            raise DataError(f"partition {path}: rows are not sorted by query (query {qid[i]} is followed by "
                            f"{qid[i + 1]}); expected each partition's rows sorted by query")
        for q in np.unique(qid):
            if int(q) in seen:
                raise DataError(
                    f"query {int(q)} spans partitions {seen[int(q)]} and {path}; expected every query's rows in "
                    "one partition (a ranking gradient needs the whole query on one worker)"
                )
            seen[int(q)] = str(path)


# ---------------------------------------------------------------- cluster

def connect(scheduler: str, workers: int, threads: int):
    """A ``distributed.Client``: a new LocalCluster for ``local``, else the scheduler at ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise DeviceError("--engine dask needs Dask: pip install 'gbltr[dask]'") from exc
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=max(1, threads), processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(cluster)
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise DeviceError(
            f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); expected a running scheduler "
            "(dask scheduler / a cluster's address like tcp://host:8786), or --scheduler local"
        ) from None


class _RowObjective:
    """A custom objective for distributed workers. The global row numbers ride on the training
    rows: as XGBoost's labels, and as LightGBM's weights (row + 1; its labels stay the grades,
    which its ndcg metric checks, and a custom objective's gradients are not reweighted)."""

    def __init__(self, objective):
        self.objective = objective
        self._key = None
        self._local = None

    def local(self, rows: np.ndarray, group_ptr: np.ndarray):
        """The objective restricted to this worker's rows (:meth:`RankingObjective.restrict`)."""
        key = (rows.size, int(rows[0]) if rows.size else -1, int(rows[-1]) if rows.size else -1)
        if key != self._key:
            self._local, self._key = self.objective.restrict(rows, group_ptr), key
        return self._local

    def lightgbm(self, y_true, y_pred, weight, group):
        rows = np.rint(np.asarray(weight, dtype=np.float64)).astype(np.int64) - 1
        gp = group_ptr_from_sizes(group)
        return self.local(rows, gp)(np.asarray(y_pred, dtype=np.float64), gp)

    def xgboost(self, preds, dtrain):
        rows = np.rint(np.asarray(dtrain.get_label(), dtype=np.float64)).astype(np.int64)
        gp = np.asarray(dtrain.get_uint_info("group_ptr"), dtype=np.int64)
        return self.local(rows, gp)(np.asarray(preds, dtype=np.float64).reshape(-1), gp)


def _lgb_objective(obj):
    def objective(y_true, y_pred, weight, group):
        return obj.lightgbm(y_true, y_pred, weight, group)
    return objective


# ---------------------------------------------------------------- training

class DaskBackend(Backend):
    """The backend ``name`` (a key of :data:`gbltr.train.backends.REGISTRY`) trained on a Dask
    cluster: the same :class:`TrainRequest`, the same parameters; its :attr:`capabilities` are
    the single-machine backend's less what the cluster cannot do (positions, continued
    training, a bin reference). Predicting, saving and loading are the single-machine backend's:
    the booster is the library's own."""

    def __init__(self, name: str, scheduler: str = "local", workers: int = 2, partitions: int | None = None,
                 client=None):
        """``client``: an open ``distributed.Client`` to use (and leave open) instead of connecting."""
        if name not in _FITS:
            raise unknown_choice("backend for --engine dask", name, _FITS)
        self.name = name
        self.scheduler = scheduler
        self.workers = workers
        self.partitions = partitions or workers
        self.client = client
        self._owned = None  # a client this backend opened (closed by close())

    @property
    def capabilities(self) -> Capabilities:
        return replace(spec(self.name).capabilities, positions=False, continue_training=False, bin_reference=False,
                       gpu=False)

    # the boosters are the library's own: the single-machine backend uses them
    def load(self, path):
        return get_backend(self.name).load(path)

    def predict(self, model, X):
        return get_backend(self.name).predict(model, X)

    def contributions(self, model, X):
        return get_backend(self.name).contributions(model, X)

    def kept_booster(self, model):
        return get_backend(self.name).kept_booster(model)

    def save(self, model, folder):
        return get_backend(self.name).save(model, folder)

    def split_gains(self, model):
        return get_backend(self.name).split_gains(model)

    def forest(self, model):
        return get_backend(self.name).forest(model)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the client (and LocalCluster) this backend opened, if any."""
        if self._owned is not None:
            _close(self._owned)
            self._owned = None

    def _client(self, threads: int):
        if self.client is not None:
            return self.client
        if self._owned is None:
            self._owned = connect(self.scheduler, self.workers, threads)
        return self._owned

    def train(self, request: TrainRequest) -> FittedRanker:
        r = request
        n = r.n_rows
        if r.position is not None:
            raise ConfigError("click debiasing (--debias: displayed positions) is not supported with --engine dask; "
                              "use --engine single")
        if r.init_model is not None:
            raise ConfigError("--engine dask does not continue training from a model (data scheduling); "
                              "use --fusion famol or --engine single")
        r.refuse_unsupported(f"{self.name} (--engine dask)", self.capabilities)
        if r.objective is not None and n > MAX_ROWS:
            raise DataError(f"--engine dask with a custom objective carries row numbers as float32 labels: at most "
                            f"{MAX_ROWS} training rows, found {n}")
        fit, rows_ride_on = _FITS[self.name]
        # partitions in a folder named after this process; one left by a killed fit is removed here
        with scratch_folder("gbltr-dask") as work:
            weight = r.row_weight
            if r.group_weight is not None:  # one weight per query, carried on each row
                weight = np.repeat(np.asarray(r.group_weight, dtype=np.float64), np.asarray(r.train_groups))
            label = np.asarray(r.train_y, dtype=np.float64)
            if r.objective is not None:  # the row numbers the objective needs (see _RowObjective)
                rows = np.arange(n, dtype=np.float64)
                if rows_ride_on == "weight":
                    weight = rows + 1
                else:
                    label = rows
            parts = write_partitions(work / "train", np.asarray(r.train_X), r.train_groups, self.partitions,
                                     label=label, weight=weight)
            check_partitions([p.path for p in parts])
            client = self._client(r.cfg.threads or 1)
            try:
                return fit(client, parts, r, weighted=weight is not None)
            except DeviceError:
                raise
            except Exception as exc:
                if _is_lost_worker(exc):
                    raise DeviceError(f"a Dask worker was lost during training ({type(exc).__name__}: {exc}); "
                                      "no model was saved. Retry, or give workers more memory") from None
                raise


def _is_lost_worker(exc: Exception) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name in ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError") or \
        "worker" in text.lower() and ("lost" in text.lower() or "died" in text.lower() or "closed" in text.lower())


def _close(client) -> None:
    cluster = getattr(client, "cluster", None)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    except Exception:  # closing a cluster whose worker died may raise; the fit's error matters
        pass


def _dask_arrays(parts, n_features: int, *, weighted: bool, client=None):
    """Dask arrays over the partitions, one chunk per partition. With ``client``, partition k is
    read on worker k mod n (workers sorted by address) and kept there: one partition per worker
    (balanced), and with :class:`_RankedClient` LightGBM's rank k holds the same rows in every fit."""
    import dask
    import dask.array as da
    import polars as pl

    def read(path, what):
        frame = pl.read_parquet(path)
        if what == "X":
            return frame.select([f"f{j}" for j in range(n_features)]).to_numpy().astype(np.float32)
        if what == "group":
            return frame.group_by("qid", maintain_order=True).len()["len"].to_numpy().astype(np.int64)
        return frame[what].to_numpy()

    workers = sorted(client.scheduler_info()["workers"]) if client is not None else []

    def column(what, shape, dtype):
        chunks = []
        for k, p in enumerate(parts):
            if workers:
                value = client.submit(read, p.path, what, workers=[workers[k % len(workers)]],
                                      allow_other_workers=True, pure=False)
            else:
                value = dask.delayed(read)(p.path, what)
            chunks.append(da.from_delayed(value, shape=shape(p), dtype=dtype))
        return da.concatenate(chunks)

    X = column("X", lambda p: (p.rows, n_features), np.float32)
    y = column("label", lambda p: (p.rows,), np.float64)
    g = column("group", lambda p: (p.queries,), np.int64)
    w = column("weight", lambda p: (p.rows,), np.float64) if weighted else None
    if workers:
        arrays = client.persist([a for a in (X, y, g, w) if a is not None])
        X, y, g = arrays[:3]
        w = arrays[3] if weighted else None
    return X, y, g, w


def _fit_lightgbm(client, parts, r: TrainRequest, *, weighted: bool):
    import lightgbm as lgb

    from gbltr.train.backends.lightgbm import BACKEND, params_for

    vX, vy, vgroups = np.asarray(r.valid_X), np.asarray(r.valid_y), np.asarray(r.valid_groups)
    objective, eval_at, feature_names = r.objective, r.eval_at, r.feature_names
    params = params_for(r.cfg, seed=r.seed, label_gain=r.label_gain, eval_at=eval_at, device="cpu",
                        weighted=weighted or objective is not None)
    if r.min_data_in_leaf is not None:
        params["min_data_in_leaf"] = r.min_data_in_leaf
    params.pop("num_threads", None)  # lightgbm.dask sets threads per worker
    params.pop("eval_at", None)  # given to fit()
    if objective is not None:
        params["objective"] = _lgb_objective(_RowObjective(objective))
    n_features = vX.shape[1]
    X, y, g, w = _dask_arrays(parts, n_features, weighted=weighted, client=client)
    # No eval set and no early stopping inside the cluster: lightgbm.dask evaluates on each worker's
    # own part only, so workers would decide to stop at different rounds and the others would wait
    # for them forever. All rounds are trained, then the best iteration is chosen here on the whole
    # validation set with LightGBM's early-stopping rule (see _best_iteration).
    model = lgb.DaskLGBMRanker(client=_RankedClient(client), n_estimators=r.n_rounds, tree_learner="data", **params)
    names = list(feature_names) if feature_names is not None else "auto"
    model.fit(X, y, group=g, sample_weight=w, feature_name=names)
    booster = model.booster_
    curve = _validation_curve(booster, vX, vy, vgroups, eval_at)
    best = _best_iteration(curve, r.stop)
    return BACKEND.fitted(booster, int(best), curve[:best])


class _RankedClient:
    """The client, except that ``who_has`` lists the parts by worker address (sorted).

    lightgbm.dask gives LightGBM's machine ranks in the order of ``client.who_has(parts)``, which
    iterates a set of keys: a random order per fit. The model depends on which rows each rank
    holds (distributed binning), so identical data gave different models from fit to fit (5 fits,
    2 models). With partition k read on the k-th worker by address (:func:`_dask_arrays`) and the
    ranks in address order, rank k always holds partition k: the same model every fit."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def who_has(self, *args, **kw):
        found = self._client.who_has(*args, **kw)
        return dict(sorted(found.items(), key=lambda item: min(item[1]) if item[1] else ""))


def _validation_curve(booster, vX, vy, vgroups, eval_at: int) -> list[float]:
    """nDCG@eval_at of the validation queries after each boosting round, as LightGBM's ndcg
    metric scores it with gbltr's exponential gain table (a query without a relevant document
    scores 1)."""
    from gbltr.evaluate.metrics import ndcg_per_query

    gp = group_ptr_from_sizes(vgroups)
    scores = np.zeros(vX.shape[0])
    curve = []
    for k in range(booster.current_iteration()):
        scores += booster.predict(vX, start_iteration=k, num_iteration=1, raw_score=True)
        per_query = ndcg_per_query(scores, vy, gp, ks=(eval_at,))[:, 0]
        curve.append(float(np.mean(np.nan_to_num(per_query, nan=1.0))))
    return curve


def _best_iteration(curve: list[float], patience: int) -> int:
    """LightGBM's early stopping on a finished curve: the best round seen before ``patience``
    rounds pass without improvement (1-based); the last round when ``patience`` is 0."""
    if not curve:
        return 0
    if not patience:
        return len(curve)
    best, best_i = -np.inf, 0
    for i, v in enumerate(curve):
        if v > best:
            best, best_i = v, i
        elif i - best_i >= patience:
            break
    return best_i + 1


def _fit_xgboost(client, parts, r: TrainRequest, *, weighted: bool):
    import dask.array as da
    from xgboost import dask as dxgb

    from gbltr.train.backends.xgboost import BACKEND, _check_labels, params_for

    vX, vy, vgroups = np.asarray(r.valid_X), np.asarray(r.valid_y), np.asarray(r.valid_groups)
    objective, eval_at, feature_names, label_gain = r.objective, r.eval_at, r.feature_names, r.label_gain
    group_weight, rounds, early_stopping = r.group_weight, r.n_rounds, r.stop
    params = {k: v for k, v in params_for(r.cfg, seed=r.seed, eval_at=eval_at, device="cpu").items()
              if v is not None}
    params.pop("nthread", None)
    n_features = vX.shape[1]
    X, y, g, w = _dask_arrays(parts, n_features, weighted=weighted, client=client)
    # qid per row, chunked like the features: partitions hold whole queries, sorted
    sizes = g.compute()
    qid = da.from_array(np.repeat(np.arange(sizes.size), sizes), chunks=(X.chunks[0],))
    names = list(feature_names) if feature_names is not None else None
    obj = None
    if objective is not None:
        obj = _RowObjective(objective).xgboost
        params.pop("objective")
        params["base_score"] = 0.0
    else:
        _check_labels(y.compute(), label_gain)
    weight = None
    if group_weight is not None:
        weight = da.from_array(np.asarray(group_weight, dtype=np.float32), chunks=(tuple(p.queries for p in parts),))
    dtrain = dxgb.DaskDMatrix(client, X, y, qid=qid, weight=weight, feature_names=names)
    vq = np.repeat(np.arange(len(vgroups)), vgroups)
    dvalid = dxgb.DaskDMatrix(client, da.from_array(vX.astype(np.float32)), da.from_array(np.asarray(vy, dtype=np.float64)),
                              qid=da.from_array(vq), feature_names=names)
    out = dxgb.train(client, params, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")], obj=obj,
                     early_stopping_rounds=early_stopping or None, verbose_eval=False)
    booster, history = out["booster"], out["history"]
    curve = list(history.get("valid", {}).get(f"ndcg@{eval_at}", []))
    best = booster.best_iteration + 1 if early_stopping and hasattr(booster, "best_iteration") else booster.num_boosted_rounds()
    return BACKEND.fitted(booster, int(best), curve)


#: How each backend trains on the cluster, and where a custom objective's row numbers ride
#: (LightGBM's dask objective sees the weights; XGBoost's sees the DMatrix labels).
_FITS = {"lightgbm": (_fit_lightgbm, "weight"), "xgboost": (_fit_xgboost, "label")}
