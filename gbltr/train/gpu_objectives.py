"""FAMOL gradient on an NVIDIA GPU (CuPy ``RawKernel``): the same numbers as the CPU kernel.

Yu, Bi, Guo et al., "Can LLM Annotations Replace User Clicks for Learning to Rank?",
arXiv:2511.06635: grad = ``click_weight[q] * g_click + llm_weight[q] * g_llm`` with each ``g``
the LambdaRank-NDCG gradient of LightGBM 4.7 (see :mod:`gbltr.train.objectives` for the
formulas). This module computes it with one CUDA block per query:

* the query's scores go to shared memory once; for each label source with a non-zero weight
  the block computes every labelled row's rank among the labelled rows by counting
  (``#{j: s_j > s_k or (s_j == s_k and j < k)}``, i.e. a stable descending sort, as LightGBM),
  and the inverse permutation ``ord[rank] = row``;
* max DCG at the truncation level is summed by one thread from per-label counts, in the CPU
  kernel's order, so it is bit-identical;
* pairs are split by row: the thread owning rank ``r`` sums the contributions of all partners
  ``u`` with ``min(r, u) < truncation_level`` (each pair is evaluated by both of its rows: twice
  the arithmetic, no atomics, deterministic);
* ``sum |2 lambda|`` is reduced over the block for the ``log2(1+S)/S`` normalisation.

The sigmoid uses LightGBM's 2^20-bin lookup table (uploaded once), so the result equals the
CPU float64 kernel up to summation order (~1e-15 relative). CuPy is imported lazily; without
CuPy or a device :func:`gpu_available` is False and the entry points raise
:class:`gbltr.errors.DeviceError`.

Shapes: ``scores`` float64 (n,), labels int32 (n,) (``< 0`` = missing for that source),
``group_ptr`` int64 (n_queries + 1,), weights float64 (n_queries,). Query size is limited by
shared memory: about 9,000 rows per query on an H100 (227 KiB per block).
"""

from __future__ import annotations

import numpy as np

from gbltr.errors import DataError, DeviceError
from gbltr.train.objectives import (
    check_famol_inputs,
    check_scores,
    discount_table,
    sigmoid_table,
)

__all__ = ["gpu_available", "FamolGpuObjective", "famol_grad_hess_gpu", "CUDA_SOURCE"]

_THREADS = 128  # power of two (block reduction)

CUDA_SOURCE = r"""
// -inf test without math headers (NVRTC): only -inf compares below -DBL_MAX
__device__ __forceinline__ bool is_neg_inf(double x) { return x < -1.7976931348623157e308; }

extern "C" __global__ void famol_grad_hess(
    const double* __restrict__ scores,
    const int* __restrict__ click_labels,
    const int* __restrict__ llm_labels,
    const long long* __restrict__ group_ptr,
    const double* __restrict__ click_weight,
    const double* __restrict__ llm_weight,
    const double* __restrict__ click_gain,
    const double* __restrict__ llm_gain,
    const int n_gain_max,
    const double* __restrict__ discount,
    const double* __restrict__ sig_table,
    const long long n_bins,
    const double sig_min,
    const double sig_max,
    const double sig_factor,
    const double sigmoid,
    const int trunc,
    const int norm,
    const int cap,
    double* __restrict__ grad,
    double* __restrict__ hess)
{
    extern __shared__ double smem[];
    const int q = blockIdx.x;
    const long long start = group_ptr[q];
    const int cnt = (int)(group_ptr[q + 1] - start);
    if (cnt < 2) return;  // uniform over the block

    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    // dynamic shared layout: doubles first (8-byte aligned), then ints
    double* sc  = smem;                // [cap]  scores
    double* gb  = sc + cap;            // [cap]  grad by labelled rank
    double* hb  = gb + cap;            // [cap]  hess by labelled rank
    double* red = hb + cap;            // [nt]   block reduction
    int* lab    = (int*)(red + nt);    // [cap]  labels of the current source
    int* ord    = lab + cap;           // [cap]  ord[rank] = local row
    int* counts = ord + cap;           // [n_gain_max] label counts

    __shared__ int s_m;
    __shared__ int s_min;
    __shared__ int s_max;
    __shared__ double s_inv;
    __shared__ double s_best;
    __shared__ double s_worst;
    __shared__ double s_nf;

    for (int k = tid; k < cnt; k += nt) sc[k] = scores[start + k];

    for (int src = 0; src < 2; ++src) {
        const double w = (src == 0) ? click_weight[q] : llm_weight[q];
        if (w == 0.0) continue;  // uniform over the block
        const int* L = (src == 0) ? click_labels : llm_labels;
        const double* gain = (src == 0) ? click_gain : llm_gain;

        __syncthreads();  // previous source finished with lab / ord / counts / scalars
        if (tid == 0) { s_m = 0; s_min = 0x7fffffff; s_max = -1; }
        for (int k = tid; k < n_gain_max; k += nt) counts[k] = 0;
        __syncthreads();
        for (int k = tid; k < cnt; k += nt) {
            const int l = L[start + k];
            lab[k] = l;
            if (l >= 0) {
                atomicAdd(&s_m, 1);
                atomicMin(&s_min, l);
                atomicMax(&s_max, l);
                atomicAdd(&counts[l], 1);
            }
        }
        __syncthreads();
        const int m = s_m;
        if (m < 2 || s_min == s_max) continue;  // uniform: read after the barrier

        // rank of each labelled row among the labelled rows: stable, descending score
        for (int k = tid; k < cnt; k += nt) {
            if (lab[k] < 0) continue;
            const double v = sc[k];
            int r = 0;
            for (int j = 0; j < cnt; ++j) {
                if (lab[j] < 0) continue;
                const double u = sc[j];
                r += (u > v) || (u == v && j < k);
            }
            ord[r] = k;
        }
        __syncthreads();
        if (tid == 0) {
            const int kmax = trunc < m ? trunc : m;
            double max_dcg = 0.0;
            int t = s_max;
            for (int k = 0; k < kmax; ++k) {
                while (t > 0 && counts[t] <= 0) --t;
                max_dcg += discount[k] * gain[t];
                counts[t] -= 1;
            }
            s_inv = (max_dcg > 0.0) ? 1.0 / max_dcg : max_dcg;
            s_best = sc[ord[0]];
            int wk = m - 1;
            if (wk > 0 && is_neg_inf(sc[ord[wk]])) wk -= 1;
            s_worst = sc[ord[wk]];
        }
        __syncthreads();
        const double inv = s_inv;
        const bool scale = norm && (s_best != s_worst);
        const double sq = sigmoid * sigmoid;
        const double neg_sig = -sigmoid;
        double local_sum = 0.0;
        for (int r = tid; r < m; r += nt) {
            const int k = ord[r];
            const double sr = sc[k];
            const int lr = lab[k];
            double g = 0.0;
            double h = 0.0;
            if (!is_neg_inf(sr)) {
                const double dr = discount[r];
                const double gr = gain[lr];
                // pair (a, b), a < b, counts iff a < trunc
                const int u_end = (r < trunc) ? m : trunc;
                for (int u = 0; u < u_end; ++u) {
                    if (u == r) continue;
                    const int ku = ord[u];
                    const int lu = lab[ku];
                    if (lu == lr) continue;
                    const double su = sc[ku];
                    if (is_neg_inf(su)) continue;
                    const bool r_high = lr > lu;
                    const double ds = r_high ? (sr - su) : (su - sr);
                    const double gap = r_high ? (gr - gain[lu]) : (gain[lu] - gr);
                    double delta = gap * fabs(dr - discount[u]) * inv;
                    if (scale) delta /= (0.009999999776482582 + fabs(ds));
                    double p;
                    if (ds <= sig_min) {
                        p = sig_table[0];
                    } else if (ds >= sig_max) {
                        p = sig_table[n_bins - 1];
                    } else {
                        p = sig_table[(long long)((ds - sig_min) * sig_factor)];
                    }
                    double ph = p * (1.0 - p);
                    const double lam = p * (neg_sig * delta);
                    ph = ph * (sq * delta);
                    if (r_high) {
                        g += lam;
                        local_sum -= 2.0 * lam;
                    } else {
                        g -= lam;
                    }
                    h += ph;
                }
            }
            gb[r] = g;
            hb[r] = h;
        }
        red[tid] = local_sum;
        __syncthreads();
        for (int step = nt / 2; step > 0; step >>= 1) {
            if (tid < step) red[tid] += red[tid + step];
            __syncthreads();
        }
        if (tid == 0) {
            const double S = red[0];
            s_nf = (norm && S > 0.0) ? log2(1.0 + S) / S : 1.0;
        }
        __syncthreads();
        const double nf = s_nf;
        for (int r = tid; r < m; r += nt) {
            const long long row = start + ord[r];
            grad[row] += w * (gb[r] * nf);
            hess[row] += w * (hb[r] * nf);
        }
    }
}
"""


def _import_cupy():
    try:
        import cupy  # noqa: PLC0415 - optional heavy dependency, loaded lazily
    except Exception as exc:  # ImportError, or a broken CUDA install
        raise DeviceError(
            "the GPU FAMOL objective needs CuPy and an NVIDIA GPU; found no usable cupy "
            f"({exc.__class__.__name__}: {exc}). Install cupy-cuda12x, or use the CPU kernel "
            "gbltr.train.objectives.famol_grad_hess."
        ) from exc
    try:
        n_dev = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise DeviceError(
            f"CuPy is installed but no CUDA device is usable ({exc}). Use the CPU kernel "
            "gbltr.train.objectives.famol_grad_hess."
        ) from exc
    if n_dev < 1:
        raise DeviceError("CuPy is installed but found 0 CUDA devices; use the CPU kernel.")
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and at least one CUDA device is visible."""
    try:
        _import_cupy()
    except DeviceError:
        return False
    return True


_KERNEL_CACHE: dict = {}


def _kernel(cp):
    key = cp.cuda.runtime.getDevice()
    k = _KERNEL_CACHE.get(key)
    if k is None:
        # --fmad=false: no fused multiply-add, so each operation rounds as on the CPU
        k = cp.RawKernel(CUDA_SOURCE, "famol_grad_hess", options=("--fmad=false",))
        _KERNEL_CACHE[key] = k
    return k


class FamolGpuObjective:
    """FAMOL gradient on the GPU, with labels, weights and tables uploaded once.

    ``obj(scores) -> (grad, hess)`` as CuPy float64 arrays (n,); ``scores`` may be a NumPy or
    CuPy array. Arguments as :func:`gbltr.train.objectives.famol_grad_hess`.
    """

    def __init__(self, click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                 click_gain, llm_gain, truncation_level: int = 30, sigmoid: float = 1.0,
                 norm: bool = True):
        cp = _import_cupy()
        cl, ll, gp, cw, lw, cg, lg = check_famol_inputs(
            click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain=click_gain,
            llm_gain=llm_gain, truncation_level=truncation_level, sigmoid=sigmoid)
        n = int(gp[-1])
        nq = gp.shape[0] - 1
        cap = int(np.max(np.diff(gp))) if nq else 0
        n_gain_max = max(cg.shape[0], lg.shape[0])
        self.smem_bytes = 8 * (3 * cap + _THREADS) + 4 * (2 * cap + n_gain_max)
        limit = int(cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice()).get(
            "sharedMemPerBlockOptin", 48 * 1024))
        if self.smem_bytes > limit:
            raise DataError(
                f"largest query has {cap} rows; the GPU kernel keeps a query in shared memory "
                f"and needs {self.smem_bytes} bytes, more than the device's {limit}. "
                "Truncate long queries or use the CPU kernel."
            )
        self._cp = cp
        self.n = n
        self.n_queries = nq
        self.cap = cap
        self.n_gain_max = n_gain_max
        self.trunc = int(truncation_level)
        self.sigmoid = float(sigmoid)
        self.norm = bool(norm)
        table, smin, smax, sfac = sigmoid_table(self.sigmoid)
        self._sig = (cp.asarray(table), int(table.shape[0]), float(smin), float(smax),
                     float(sfac))
        self._disc = cp.asarray(discount_table(cap))
        self._gp = cp.asarray(gp)
        self._cl = cp.asarray(cl)
        self._ll = cp.asarray(ll)
        self._cw = cp.asarray(cw)
        self._lw = cp.asarray(lw)
        self._cg = cp.asarray(cg)
        self._lg = cp.asarray(lg)
        self._k = _kernel(cp)
        if self.smem_bytes > 48 * 1024:
            self._k.max_dynamic_shared_size_bytes = self.smem_bytes

    def __call__(self, scores):
        cp = self._cp
        if isinstance(scores, np.ndarray):
            s = cp.asarray(check_scores(scores))
        else:
            s = cp.ascontiguousarray(cp.asarray(scores, dtype=cp.float64).reshape(-1))
            if bool(cp.isnan(s).any()):
                check_scores(cp.asnumpy(s))
        if s.shape[0] != self.n:
            raise DataError(f"GPU famol objective: expected {self.n} scores, found {s.shape[0]}.")
        grad = cp.zeros(self.n, dtype=cp.float64)
        hess = cp.zeros(self.n, dtype=cp.float64)
        if self.n_queries == 0:
            return grad, hess
        table, n_bins, smin, smax, sfac = self._sig
        self._k(
            (self.n_queries,), (_THREADS,),
            (s, self._cl, self._ll, self._gp, self._cw, self._lw, self._cg, self._lg,
             np.int32(self.n_gain_max), self._disc, table, np.int64(n_bins), np.float64(smin),
             np.float64(smax), np.float64(sfac), np.float64(self.sigmoid), np.int32(self.trunc),
             np.int32(self.norm), np.int32(self.cap), grad, hess),
            shared_mem=self.smem_bytes,
        )
        return grad, hess


def famol_grad_hess_gpu(scores, click_labels, llm_labels, group_ptr, click_weight, llm_weight,
                        *, click_gain, llm_gain, truncation_level: int = 30,
                        sigmoid: float = 1.0, norm: bool = True):
    """One-shot GPU FAMOL gradient (uploads everything); returns CuPy ``grad, hess`` (n,).

    For training loops build a :class:`FamolGpuObjective` once instead.
    """
    obj = FamolGpuObjective(click_labels, llm_labels, group_ptr, click_weight, llm_weight,
                            click_gain=click_gain, llm_gain=llm_gain,
                            truncation_level=truncation_level, sigmoid=sigmoid, norm=norm)
    return obj(scores)
