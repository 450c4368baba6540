"""Ranking-objective kernels: LambdaRank-NDCG and FAMOL gradients (pure numba, CPU).

Both kernels take rows already sorted by query (the ranking dataset is the only place that
sorts rows, see ``gbltr.train.dataset``) and the query boundaries ``group_ptr``: an int64 array
of length ``n_queries + 1`` with ``group_ptr[0] == 0`` and ``group_ptr[-1] == n_rows``; query
``q`` owns rows ``group_ptr[q]:group_ptr[q + 1]``.

Modules:

* :mod:`~gbltr.train.objectives.checks`: input checks (gbltr errors, expected vs found);
* :mod:`~gbltr.train.objectives.tables`: discount and sigmoid lookup tables, default gains;
* :mod:`~gbltr.train.objectives.pairs`: the per-query sort, max DCG and pair loop shared by
  both kernels (and the float32 mode that reproduces LightGBM bit for bit);
* :mod:`~gbltr.train.objectives.lambdarank`: :func:`lambdarank_grad_hess` (LightGBM 4.7's
  built-in lambdarank, Burges 2010);
* :mod:`~gbltr.train.objectives.famol`: :func:`famol_grad_hess` (Yu, Bi, Guo et al.,
  arXiv:2511.06635), both sources in one pass per query.

The GPU FAMOL kernel is :mod:`gbltr.train.gpu_objectives`. The kernels are ``parallel=True``
over queries with numba's thread count, which :func:`gbltr.threads.use_threads` sets from
``train.threads``; importing this package first calls :func:`gbltr.threads.prepare_openmp`
(the OpenMP wait, unless the user chose one) because numba's ``omp`` threading layer
loads OpenMP on the first parallel call.
"""

from gbltr.threads import prepare_openmp

prepare_openmp()

from gbltr.train.objectives.checks import (  # noqa: E402 - after the OpenMP setting
    check_common,
    check_famol_inputs,
    check_gain,
    check_group_ptr,
    check_labels,
    check_query_weights,
    check_scores,
)
from gbltr.train.objectives.famol import famol_grad_hess  # noqa: E402
from gbltr.train.objectives.lambdarank import lambdarank_grad_hess  # noqa: E402
from gbltr.train.objectives.tables import (  # noqa: E402
    default_label_gain,
    discount_table,
    sigmoid_table,
)

__all__ = [
    "default_label_gain",
    "lambdarank_grad_hess",
    "famol_grad_hess",
    "check_group_ptr",
    "check_labels",
    "check_scores",
    "check_query_weights",
    "check_gain",
    "check_common",
    "check_famol_inputs",
    "discount_table",
    "sigmoid_table",
]
