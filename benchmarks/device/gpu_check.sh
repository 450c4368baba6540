#!/usr/bin/env bash
# Device call 1 (GPU machine, Python 3.12, CuPy and numba in the image; xgboost carried as a wheel
# in .whl/): FAMOL CuPy kernel vs CPU kernel, then XGBoost device="cuda" built-in vs FAMOL per round.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import xgboost, numba, cupy; print('xgboost', xgboost.__version__, 'numba', numba.__version__, 'cupy', cupy.__version__)"
PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py 2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
