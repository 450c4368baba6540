"""The backend contract (:mod:`gbltr.train.backends`): one registry, capabilities that each
backend honours or refuses (never ignores), no caller outside ``gbltr/train/backends/`` that names
a backend, and ranking objectives that restrict themselves to a worker's rows exactly as the Dask
engine's old slicing by array shape did."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gbltr
from gbltr.config import BACKENDS, TrainConfig
from gbltr.errors import ConfigError, SchemaError
from gbltr.groups import group_ptr_from_sizes
from gbltr.train.backends import NAMES, REGISTRY, TrainRequest, get_backend
from gbltr.train.backends.custom import (
    KernelObjective,
    make_famol_objective,
    make_lambdarank_objective,
)

PACKAGE = Path(gbltr.__file__).parent
BACKENDS_DIR = PACKAGE / "train" / "backends"
GAIN = [2.0**i - 1 for i in range(5)]


# ---------------------------------------------------------------- nobody else names a backend

def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _backend_mentions(source: str, where: str) -> list[str]:
    """Code (not docstrings) in ``source`` that names a registered backend or compares a ``.backend``."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if node.value in NAMES:
                found.append(f"{where}:{node.lineno}: the string {node.value!r}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "backend" for s in sides):
                found.append(f"{where}:{node.lineno}: a comparison of .backend")
    return found


def test_no_module_outside_the_backends_names_a_backend():
    """Callers ask the backend object for a capability; only gbltr/train/backends/ knows names."""
    found = [m for path in sorted(PACKAGE.rglob("*.py")) if BACKENDS_DIR not in path.parents
             for m in _backend_mentions(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert not found, "backend named outside gbltr/train/backends/:\n" + "\n".join(found)


def test_the_check_sees_a_branch_on_a_backend_name():
    """The check above is not vacuous: it flags the shapes that main had."""
    source = ('def f(model, cfg):\n    """lightgbm in a docstring is fine."""\n'
              '    if model.backend == "lightgbm":\n        return 1\n'
              '    return cfg.train.backend in ("xgboost",)\n')
    found = _backend_mentions(source, "probe.py")
    assert len(found) == 4, found  # two strings, two comparisons of .backend; not the docstring


# ---------------------------------------------------------------- one registry

def test_the_registry_feeds_config_cli_and_docs():
    from gbltr.cli.fit import fit as fit_command

    assert tuple(BACKENDS) == NAMES
    option = next(p for p in fit_command.params if p.name == "backend")
    assert sorted(option.type.choices) == sorted(NAMES)
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\[--backend ([a-z|\\]+)\]", readme).group(1).replace("\\", "").split("|")
    assert sorted(shown) == sorted(NAMES)
    for name in NAMES:
        backend = get_backend(name)
        assert backend.name == name
        assert backend.model_file == REGISTRY[name].model_file
        assert backend.capabilities == REGISTRY[name].capabilities
    with pytest.raises(ConfigError, match="unknown backend 'catboost'.*lightgbm.*xgboost"):
        get_backend("catboost")


def test_the_registry_loads_no_library():
    """Config, registry and capabilities are known without importing LightGBM or XGBoost."""
    code = ("import sys, gbltr.config, gbltr.train.backends as b; b.spec('xgboost').capabilities; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightgbm', 'xgboost')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- capabilities: honoured or refused

def _data(seed: int = 0, n_queries: int = 12, per: int = 8):
    rng = np.random.default_rng(seed)
    X = rng.random((n_queries * per, 4))
    y = np.clip(np.rint(X[:, 0] * 4 + rng.normal(0, 0.3, X.shape[0])), 0, 4)
    return X, y, np.full(n_queries, per)


def _fields(name: str, X, y, groups) -> dict:
    """A value for each optional TrainRequest field, by the capability that governs it."""
    n, q = X.shape[0], groups.size
    pos = np.tile(np.arange(groups[0], dtype=np.int32), q)
    return {
        "row_weights": dict(row_weight=np.linspace(0.5, 1.5, n)),
        "group_weights": dict(group_weight=np.linspace(0.5, 1.5, q)),
        "positions": dict(position=pos),
        "custom_objective": dict(objective=make_lambdarank_objective(y.astype(np.int32), group_ptr_from_sizes(groups),
                                                                     label_gain=GAIN)),
        "bin_reference": dict(bin_reference=X),
        "min_data_in_leaf": dict(min_data_in_leaf=3),
    }


@pytest.mark.parametrize("name", NAMES)
def test_each_capability_is_honoured_or_refused(name):
    """Every request field is either used (the model differs from the plain one) or refused with a
    ConfigError: a backend never silently ignores what it was asked."""
    X, y, groups = _data()
    vX, vy, vg = _data(1, 6)
    cfg = TrainConfig(backend=name, rounds=8, early_stopping=0, num_leaves=7, threads=1, learning_rate=0.3,
                      **({"min_data_in_leaf": 5} if REGISTRY[name].capabilities.min_data_in_leaf else {}))
    backend = get_backend(name)
    caps = backend.capabilities

    def request(**kw):
        return TrainRequest(X, y, groups, vX, vy, vg, cfg, seed=0, label_gain=GAIN, **kw)

    plain = backend.train(request()).predict(vX)
    for cap, kw in _fields(name, X, y, groups).items():
        if getattr(caps, cap):
            model = backend.train(request(**kw))
            assert model.best_iteration >= 1, cap
            if cap != "bin_reference":  # the same matrix's bins: the same model
                assert not np.array_equal(model.predict(vX), plain), f"{name} ignored {cap}"
        else:
            with pytest.raises(ConfigError):
                backend.train(request(**kw))
    assert caps.continue_training
    more = backend.train(request(init_model=backend.train(request()).kept_booster()))
    assert more.best_iteration == 16  # 8 rounds continued by 8


def test_declared_capabilities():
    lgb, xgb = REGISTRY["lightgbm"].capabilities, REGISTRY["xgboost"].capabilities
    assert lgb.row_weights and not lgb.group_weights and lgb.bin_reference and lgb.min_data_in_leaf
    assert xgb.group_weights and not xgb.row_weights and not xgb.bin_reference and not xgb.min_data_in_leaf
    assert all(c.positions and c.custom_objective and c.gpu for c in (lgb, xgb))


def test_the_dask_engine_declares_what_it_cannot_do():
    from gbltr.train.backends.dask import DaskBackend

    X, y, groups = _data()
    for name in NAMES:
        dask = DaskBackend(name)
        cfg = TrainConfig(backend=name, rounds=3, early_stopping=0, threads=1)
        model = get_backend(name).train(TrainRequest(X, y, groups, X, y, groups, cfg, seed=0, label_gain=GAIN))
        np.testing.assert_array_equal(dask.predict(model, X), model.predict(X))  # the library's own booster
        assert not dask.capabilities.positions and not dask.capabilities.continue_training
        assert dask.capabilities.custom_objective and dask.model_file == REGISTRY[name].model_file
        with pytest.raises(ConfigError, match="not supported with --engine dask"):
            dask.train(TrainRequest(X, y, groups, X, y, groups, TrainConfig(backend=name), seed=0, label_gain=GAIN,
                                    position=np.zeros(X.shape[0], np.int32)))


# ---------------------------------------------------------------- objectives restrict themselves

def _famol_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, 30)
    gp = group_ptr_from_sizes(sizes)
    n = int(gp[-1])
    click = rng.integers(-1, 4, n).astype(np.int32)
    llm = rng.integers(-1, 4, n).astype(np.int32)
    a, b = rng.random(sizes.size), rng.random(sizes.size)
    scores = rng.normal(size=n)
    return sizes, gp, click, llm, a, b, scores


def _worker_rows(gp: np.ndarray, queries: np.ndarray):
    """A worker's rows (whole queries, in order) and their local group boundaries."""
    rows = np.concatenate([np.arange(gp[q], gp[q + 1]) for q in queries])
    return rows, group_ptr_from_sizes(np.diff(gp)[queries])


@pytest.mark.parametrize("queries", [np.arange(10, 21), np.array([0, 3, 4, 17, 29])])
def test_famol_objective_restricted_equals_the_sliced_inputs(queries):
    """``restrict`` gives the objective re-made on the sliced inputs (what the Dask engine did by
    array shape), and its gradients equal the full objective's at those rows."""
    sizes, gp, click, llm, a, b, scores = _famol_inputs()
    kw = dict(click_gain=GAIN, llm_gain=GAIN, truncation_level=5)
    full = make_famol_objective(click, llm, gp, a, b, **kw)
    rows, local_gp = _worker_rows(gp, queries)
    restricted = full.restrict(rows, local_gp)
    sliced = make_famol_objective(click[rows], llm[rows], local_gp, a[queries], b[queries], **kw)
    g_r, h_r = restricted(scores[rows], local_gp)
    g_s, h_s = sliced(scores[rows], local_gp)
    g_f, h_f = full(scores, gp)
    np.testing.assert_array_equal(g_r, g_s)
    np.testing.assert_array_equal(h_r, h_s)
    np.testing.assert_array_equal(g_r, g_f[rows])
    np.testing.assert_array_equal(h_r, h_f[rows])
    assert np.abs(g_r).sum() > 0


def test_lambdarank_objective_restricts_its_query_and_row_weights():
    sizes, gp, click, _, a, _, scores = _famol_inputs(1)
    labels = np.maximum(click, 0)
    rw = np.linspace(0.5, 2.0, labels.size)
    full = make_lambdarank_objective(labels, gp, label_gain=GAIN, query_weight=a, row_weight=rw)
    queries = np.arange(5, 19)
    rows, local_gp = _worker_rows(gp, queries)
    sliced = make_lambdarank_objective(labels[rows], local_gp, label_gain=GAIN, query_weight=a[queries],
                                       row_weight=rw[rows])
    g_r, h_r = full.restrict(rows, local_gp)(scores[rows], local_gp)
    g_s, h_s = sliced(scores[rows], local_gp)
    np.testing.assert_array_equal(g_r, g_s)
    np.testing.assert_array_equal(h_r, h_s)
    np.testing.assert_array_equal(g_r, full(scores, gp)[0][rows])


def test_restrict_refuses_rows_that_split_a_query_and_a_plain_kernel_refuses_to_restrict():
    sizes, gp, click, llm, a, b, _ = _famol_inputs()
    full = make_famol_objective(click, llm, gp, a, b, click_gain=GAIN, llm_gain=GAIN)
    q = int(np.argmax(sizes > 1))
    rows = np.arange(gp[q], gp[q + 1] - 1)  # the query without its last row
    with pytest.raises(SchemaError, match="whole queries"):
        full.restrict(rows, np.array([0, rows.size]))
    with pytest.raises(ConfigError, match="--engine single"):
        KernelObjective(full, gp).restrict(np.arange(gp[1]), gp[:2])
