#!/usr/bin/env bash
# The annotator benchmark on the GPU host's 16 CPU cores (no GPU used), to separate the design's
# throughput from the 2-core dev box's CPU contention. openai/httpx2/pydantic/polars carried in .whl3/.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl3/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . || exit 1
nproc
PYTHONUNBUFFERED=1 python3 benchmarks/bench_annotator.py 2>&1 | tee "${OUT:-/tmp}/bench_annotator.log"
