#!/usr/bin/env bash
# Device call 2, right after call 1 on the same warm machine (xgboost already in /tmp/site):
# polars and lightgbm carried in .whl2/; gbltr fit --labels fused on the default built-in world,
# XGBoost with --device cuda (GPU trees + CuPy FAMOL gradient) and --device cpu (16 cores).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl2/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . || exit 1
python3 -c "import xgboost, polars, lightgbm; print('xgboost', xgboost.__version__, 'polars', polars.__version__)" || exit 1
export GBLTR_CACHE=/tmp/gc PYTHONUNBUFFERED=1
for labels in fused click; do
  for dev in cuda cpu; do
    start=$(date +%s.%N)
    python3 -m gbltr.cli fit --labels $labels --backend xgboost --device $dev --out "${OUT:-/tmp}/$labels-$dev" 2>&1 | grep -E "^\| (overall|high|medium|low)|rounds kept|FAMOL|error|Error"
    echo "$labels $dev wall $(awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN{printf \"%.1f\", b-a}") s"
    python3 -c "import json,sys; r=json.load(open('${OUT:-/tmp}/$labels-$dev/report.json')); print('train_seconds', r['train_seconds'], 'prepare', r['training']['prepare_seconds'])"
  done
done
