"""GPU check for the FAMOL objective: CuPy kernel vs CPU kernel, then XGBoost on CUDA.

Run on the GPU host from the repository root (needs cupy, numpy, xgboost 3.x; numba is used
when installed, otherwise a pure-Python stand-in runs the CPU reference on a smaller problem):

    python benchmarks/gpu_check.py            # about 1-2 minutes on an H100
    python benchmarks/gpu_check.py --quick    # smaller XGBoost data

Parts (each guarded: a failure prints its error and the others still run):
  1. correctness: max |GPU - CPU| of grad and hess on random queries (sizes 1..300, score
     ties, -inf scores, missing LLM labels, zero weights), FAMOL and click-only;
  2. kernel alone: ms per call on --queries x --docs rows, GPU vs CPU;
  3. XGBoost device="cuda", tree_method="hist": seconds per round, built-in rank:ndcg vs the
     custom FAMOL objective with the CuPy gradient (CuPy arrays handed back to XGBoost, or
     NumPy when XGBoost refuses them); warm-up round excluded; ratio printed.
The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import types

import numpy as np

T0 = time.perf_counter()
RESULT: dict = {}


def _numba_or_stub() -> bool:
    """Use numba if importable; else install a stub (njit = identity, prange = range)."""
    try:
        import numba  # noqa: F401

        return True
    except Exception:
        stub = types.ModuleType("numba")

        def njit(*args, **kwargs):
            if args and callable(args[0]):
                return args[0]
            return lambda f: f

        stub.njit = njit
        stub.prange = range
        stub.set_num_threads = lambda n: None
        sys.modules["numba"] = stub
        return False


def _bypass_package_inits(repo: str) -> None:
    """Register bare ``gbltr`` / ``gbltr.train`` packages so their ``__init__`` files (which may
    import polars, lightgbm, ... absent on the GPU host) are not run; only errors.py,
    objectives.py and gpu_objectives.py get imported."""
    for name, sub in (("gbltr", "gbltr"), ("gbltr.train", os.path.join("gbltr", "train"))):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [os.path.join(repo, sub)]
            sys.modules[name] = mod


def _part(name):
    def deco(fn):
        def run(*a, **k):
            t = time.perf_counter()
            print(f"--- {name} ---", flush=True)
            try:
                fn(*a, **k)
            except Exception as exc:
                print(f"{name} FAILED: {exc.__class__.__name__}: {exc}")
                traceback.print_exc(limit=4)
                RESULT.setdefault("failed", []).append(name)
            print(f"({name}: {time.perf_counter() - t:.1f}s)", flush=True)

        return run

    return deco


def _random_problem(seed, n_queries, max_docs, fixed_docs=None):
    rng = np.random.default_rng(seed)
    if fixed_docs:
        sizes = np.full(n_queries, fixed_docs)
    else:
        sizes = rng.integers(1, max_docs + 1, size=n_queries)
    gp = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(gp[-1])
    scores = rng.normal(size=n)
    click = rng.integers(0, 5, size=n).astype(np.int32)
    llm = rng.integers(0, 4, size=n).astype(np.int32)
    llm[rng.uniform(size=n) < 0.2] = -1
    cw = rng.uniform(size=n_queries)
    lw = 1.0 - cw
    return scores, click, llm, gp, cw, lw


@_part("1 correctness")
def part_correctness(real_numba):
    import cupy as cp

    from gbltr.train.gpu_objectives import famol_grad_hess_gpu
    from gbltr.train.objectives import default_label_gain, famol_grad_hess

    gain = default_label_gain()
    llm_gain = np.array([0.0, 1.0, 3.0, 7.0])
    n_q = 2000 if real_numba else 150
    scores, click, llm, gp, cw, lw = _random_problem(1, n_q, 300)
    rng = np.random.default_rng(2)
    scores = np.round(scores, 1)  # many ties: the stable order matters
    scores[rng.uniform(size=scores.shape[0]) < 0.01] = -np.inf
    cw[::7] = 0.0
    lw[::11] = 0.0
    out = {}
    for name, w2, trunc, sig, norm in (("famol", lw, 30, 1.0, True),
                                        ("click_only", np.zeros_like(lw), 10, 2.0, True),
                                        ("famol_nonorm", lw, 5, 1.0, False)):
        g_cpu, h_cpu = famol_grad_hess(scores, click, llm, gp, cw, w2, click_gain=gain,
                                       llm_gain=llm_gain, truncation_level=trunc, sigmoid=sig,
                                       norm=norm)
        g_gpu, h_gpu = famol_grad_hess_gpu(scores, click, llm, gp, cw, w2, click_gain=gain,
                                           llm_gain=llm_gain, truncation_level=trunc,
                                           sigmoid=sig, norm=norm)
        g_gpu, h_gpu = cp.asnumpy(g_gpu), cp.asnumpy(h_gpu)
        dg = float(np.max(np.abs(g_gpu - g_cpu)))
        dh = float(np.max(np.abs(h_gpu - h_cpu)))
        scale = float(np.max(np.abs(g_cpu)))
        print(f"{name:13s} rows={scores.shape[0]:7d}  max|dgrad|={dg:.3e}  max|dhess|={dh:.3e}"
              f"  (max|grad|={scale:.3e})")
        out[name] = {"max_abs_diff_grad": dg, "max_abs_diff_hess": dh, "max_abs_grad": scale}
    RESULT["correctness"] = out
    RESULT["correct"] = all(v["max_abs_diff_grad"] <= 1e-9 * max(1.0, v["max_abs_grad"])
                            and v["max_abs_diff_hess"] <= 1e-9 * max(1.0, v["max_abs_grad"])
                            for v in out.values())
    print(f"correct (<= 1e-9 relative): {RESULT['correct']}")


@_part("2 kernel alone")
def part_kernel(args, real_numba):
    import cupy as cp

    from gbltr.train.gpu_objectives import FamolGpuObjective
    from gbltr.train.objectives import default_label_gain, famol_grad_hess

    gain = default_label_gain()
    scores, click, llm, gp, cw, lw = _random_problem(3, args.queries, 0, fixed_docs=args.docs)
    obj = FamolGpuObjective(click, llm, gp, cw, lw, click_gain=gain, llm_gain=gain)
    s_dev = cp.asarray(scores)
    obj(s_dev)
    cp.cuda.Device().synchronize()
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        obj(s_dev)
        cp.cuda.Device().synchronize()
        ts.append(time.perf_counter() - t)
    gpu_ms = 1e3 * float(np.median(ts))
    RESULT["kernel_gpu_ms"] = gpu_ms
    line = f"rows={scores.shape[0]}  GPU kernel {gpu_ms:8.2f} ms/call"
    if real_numba:
        famol_grad_hess(scores, click, llm, gp, cw, lw, click_gain=gain, llm_gain=gain)
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            famol_grad_hess(scores, click, llm, gp, cw, lw, click_gain=gain, llm_gain=gain)
            ts.append(time.perf_counter() - t)
        cpu_ms = 1e3 * float(np.median(ts))
        RESULT["kernel_cpu_ms"] = cpu_ms
        RESULT["kernel_cpu_threads"] = os.cpu_count()
        line += f" | CPU numba kernel {cpu_ms:8.2f} ms/call ({os.cpu_count()} cores)"
        line += f" | CPU/GPU = {cpu_ms / gpu_ms:.1f}x"
    print(line)


@_part("3 xgboost cuda")
def part_xgboost(args):
    import cupy as cp
    import xgboost as xgb

    from gbltr.train.gpu_objectives import FamolGpuObjective
    from gbltr.train.objectives import default_label_gain

    gain = default_label_gain()
    nq, nd, nf = args.queries, args.docs, args.features
    n = nq * nd
    rs = cp.random.RandomState(0)
    X = rs.standard_normal((n, nf), dtype=cp.float32)
    signal = X[:, 0] + 0.7 * X[:, 1] + 0.5 * X[:, 2]
    click = cp.clip(cp.floor(signal + rs.standard_normal(n) + 1.5), 0, 4).astype(cp.int32)
    llm = cp.clip(cp.floor(signal + 0.5 * rs.standard_normal(n) + 1.5), 0, 4).astype(cp.int32)
    llm[rs.uniform(size=n) < 0.1] = -1
    sizes = np.full(nq, nd)
    gp = np.arange(nq + 1, dtype=np.int64) * nd
    w = np.random.default_rng(0).uniform(size=nq)
    click_h, llm_h = cp.asnumpy(click), cp.asnumpy(llm)
    dtrain = xgb.DMatrix(X, label=click.astype(cp.float32), group=sizes)
    params = dict(device="cuda", tree_method="hist", max_depth=6, eta=0.1, max_bin=256,
                  seed=0, disable_default_eval_metric=1)
    gobj = FamolGpuObjective(click_h, llm_h, gp, w, 1.0 - w, click_gain=gain, llm_gain=gain)
    print(f"data: {nq} queries x {nd} docs = {n} rows, {nf} features; rounds={args.rounds}"
          f" (+1 warm-up); xgboost {xgb.__version__}")

    class Timer(xgb.callback.TrainingCallback):
        def __init__(self):
            self.stamps = []

        def before_training(self, model):
            cp.cuda.Device().synchronize()
            self.stamps = [time.perf_counter()]
            return model

        def after_iteration(self, model, epoch, evals_log):
            cp.cuda.Device().synchronize()
            self.stamps.append(time.perf_counter())
            return False

        def per_round(self):
            return float(np.median(np.diff(self.stamps)[1:]))

    mode = {"return": "cupy"}

    def famol_obj(preds, dmat):
        g, h = gobj(preds if not isinstance(preds, np.ndarray) else preds.reshape(-1))
        if mode["return"] == "numpy":
            return cp.asnumpy(g), cp.asnumpy(h)
        return g, h

    # which return type does this XGBoost accept?
    try:
        xgb.train(params, dtrain, num_boost_round=1, obj=famol_obj)
    except Exception as exc:
        print(f"XGBoost refused CuPy gradients ({exc.__class__.__name__}: {exc}); using NumPy")
        mode["return"] = "numpy"
    RESULT["xgb_grad_return"] = mode["return"]

    tb = Timer()
    xgb.train(dict(params, objective="rank:ndcg", lambdarank_pair_method="topk",
                   lambdarank_num_pair_per_sample=30), dtrain, num_boost_round=args.rounds + 1,
              callbacks=[tb])
    RESULT["xgb_cuda_builtin_s"] = tb.per_round()
    tc = Timer()
    xgb.train(params, dtrain, num_boost_round=args.rounds + 1, obj=famol_obj, callbacks=[tc])
    RESULT["xgb_cuda_famol_s"] = tc.per_round()
    RESULT["xgb_cuda_ratio"] = RESULT["xgb_cuda_famol_s"] / RESULT["xgb_cuda_builtin_s"]
    print(f"XGBoost cuda s/round:  built-in rank:ndcg {RESULT['xgb_cuda_builtin_s']:.4f} | "
          f"FAMOL custom (CuPy grad, {mode['return']} return) {RESULT['xgb_cuda_famol_s']:.4f}"
          f" | ratio {RESULT['xgb_cuda_ratio']:.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--docs", type=int, default=100)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    args.queries = args.queries or (2000 if args.quick else 10000)
    args.rounds = args.rounds or (5 if args.quick else 20)
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    sys.path.insert(0, repo)
    _bypass_package_inits(repo)

    real_numba = _numba_or_stub()
    RESULT["numba"] = real_numba
    print(f"numba: {'yes' if real_numba else 'NO (pure-Python CPU reference, smaller check)'}")
    try:
        from gbltr.train.gpu_objectives import gpu_available

        RESULT["gpu_available"] = gpu_available()
        import cupy as cp

        props = cp.cuda.runtime.getDeviceProperties(0)
        RESULT["device"] = props["name"].decode() if isinstance(props["name"], bytes) \
            else str(props["name"])
        print(f"device: {RESULT['device']}  cupy {cp.__version__}")
    except Exception as exc:
        print(f"no usable GPU: {exc.__class__.__name__}: {exc}")
        RESULT["gpu_available"] = False
    if RESULT.get("gpu_available"):
        part_correctness(real_numba)
        part_kernel(args, real_numba)
        if time.perf_counter() - T0 < 150:
            part_xgboost(args)
        else:
            print("skipping XGBoost part: over the time budget")
    RESULT["total_s"] = time.perf_counter() - T0
    print("RESULT " + json.dumps(RESULT, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
