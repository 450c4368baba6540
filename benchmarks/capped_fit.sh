#!/bin/bash
# Train on a log larger than the memory a process may use: `gbltr fit --engine dask` with the
# streaming preparation (default with dask) and with --no-stream, each under the same memory cap.
#
#   bash benchmarks/capped_fit.sh DATASET_DIR [CAP_MB=1500]
#
# The cap is a fresh memory cgroup (cgroup v1, /sys/fs/cgroup/memory; needs root) holding the fit
# and its Dask workers, swap included. Prints, per side, the exit status, the cgroup's peak memory
# and whether a run folder was written. A fit killed by the cap must leave no run folder.
set -u
data=$1; cap=${2:-1500}
root=/sys/fs/cgroup/memory
if [ ! -w "$root" ]; then
  echo "error: needs a writable cgroup v1 memory hierarchy at $root (root in a container); found none" >&2
  exit 2
fi
out=$(mktemp -d)
echo "dataset $data: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/dataset.json'))['tables'])" "$data")"
echo "cap ${cap} MB; $(uptime)"
for side in stream no-stream; do
  cg=$root/gbltr-cap-$side-$$
  mkdir "$cg"
  echo $((cap * 1048576)) > "$cg/memory.limit_in_bytes"
  echo $((cap * 1048576)) > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
  t0=$(date +%s.%N)
  bash -c "echo \$\$ > $cg/cgroup.procs; exec gbltr fit --data '$data' --labels fused --engine dask --workers 2 --$side --out '$out/$side'" \
    > "$out/$side.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  peak=$(( $(cat "$cg/memory.max_usage_in_bytes") / 1048576 ))
  folder=$([ -f "$out/$side/report.json" ] && echo "written" || echo "none")
  printf '%-10s exit %3d  %6.1f s  cgroup peak %5d MB  run folder: %s\n' "$side" "$rc" "$(echo "$t1 - $t0" | bc)" "$peak" "$folder"
  [ $rc -eq 0 ] && grep -m1 '^RESULT' "$out/$side.log" | cut -c1-200
  rmdir "$cg" 2>/dev/null
done
echo "$(uptime)"
rm -rf "$out"
