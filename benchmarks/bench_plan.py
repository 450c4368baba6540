"""``gbltr plan`` against one ``gbltr fit --labels fused`` on the same world (issue 19 goal: the
plan of the x10 world, 15M impressions, stays under 2 GB and takes less than one fit).

Side by side in one run, each command in its own process under ``/usr/bin/time`` (wall seconds,
user + system CPU seconds, peak RSS):

  * **plan**: ``gbltr plan --budget N`` (``--planner``, default ``value-per-dollar``) on the world
    without its LLM labels (a view of ``--world``: every file linked but ``labels/llm.parquet``,
    since a plan skips pairs that already have one and the simulator labels every pair);
  * **fit** (the anchor): ``gbltr fit --labels fused`` on ``--world`` itself (its LLM labels are
    what the plan's annotation would add), the default config and ``--seed``.

It prints both, ``plan / fit`` (wall and CPU) and the plan's peak RSS against 2 GB. The last line
is ``RESULT {json}``. Build the x10 world once (about a minute) and pass it::

    gbltr simulate --out /tmp/x10 --queries 30000 --sessions 1500000 --seed 0
    python benchmarks/bench_plan.py --world /tmp/x10 --budget 20000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GOAL_RSS_MB = 2048


def without_llm(world: Path, dst: Path) -> Path:
    """A view of ``world`` (links) without its LLM label set (the manifest says so too)."""
    dst.mkdir(parents=True)
    for f in world.iterdir():
        if f.name in ("labels", "dataset.json"):
            continue
        (dst / f.name).symlink_to(f.resolve())
    (dst / "labels").mkdir()
    for f in (world / "labels").iterdir():
        if f.name != "llm.parquet":
            (dst / "labels" / f.name).symlink_to(f.resolve())
    manifest = json.loads((world / "dataset.json").read_text())
    manifest.get("labels", {}).pop("llm", None)
    (dst / "dataset.json").write_text(json.dumps(manifest, indent=2))
    return dst


def timed(cmd: list[str]) -> dict:
    """Wall, CPU and peak RSS of ``cmd`` (GNU time); the command's last RESULT line, if any."""
    fmt = "TIME %e %U %S %M"
    env = {**os.environ, "GBLTR_PROGRESS": "0"}
    out = subprocess.run(["/usr/bin/time", "-f", fmt, *cmd], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    line = [x for x in out.stderr.splitlines() if x.startswith("TIME ")][-1].split()
    result = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    return {"wall_s": float(line[1]), "cpu_s": round(float(line[2]) + float(line[3]), 2),
            "peak_rss_mb": round(int(line[4]) / 1024), "result": json.loads(result[-1][7:]) if result else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", required=True, type=Path, help="a simulated world (gbltr simulate)")
    ap.add_argument("--budget", type=int, default=20_000, help="labels to plan")
    ap.add_argument("--planner", default="value-per-dollar")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-fit", action="store_true", help="plan only (no anchor: no ratio)")
    args = ap.parse_args()
    gbltr = shutil.which("gbltr") or "gbltr"
    load0 = os.getloadavg()
    res = {"world": args.world.name, "budget": args.budget, "planner": args.planner, "seed": args.seed,
           "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        tmp = Path(tmp)
        view = without_llm(args.world, tmp / "world-without-llm")
        res["plan"] = timed([gbltr, "plan", "--data", str(view), "--budget", str(args.budget), "--planner",
                             args.planner, "--seed", str(args.seed), "--out", str(tmp / "plan.parquet")])
        p = res["plan"]
        print(f"plan  wall {p['wall_s']:8.2f} s  cpu {p['cpu_s']:8.2f} s  peak RSS {p['peak_rss_mb']:6d} MB  "
              f"{p['result']['pairs']} of {p['result']['pairs_left']} pairs", flush=True)
        if not args.skip_fit:
            res["fit"] = timed([gbltr, "fit", "--data", str(args.world), "--labels", "fused", "--seed", str(args.seed),
                                "--out", str(tmp / "run")])
            f = res["fit"]
            print(f"fit   wall {f['wall_s']:8.2f} s  cpu {f['cpu_s']:8.2f} s  peak RSS {f['peak_rss_mb']:6d} MB",
                  flush=True)
            res["plan_over_fit_wall"] = round(p["wall_s"] / f["wall_s"], 3)
            res["plan_over_fit_cpu"] = round(p["cpu_s"] / f["cpu_s"], 3)
            print(f"plan / fit: wall {res['plan_over_fit_wall']:.2f}, cpu {res['plan_over_fit_cpu']:.2f} (goal < 1)")
    res["plan_rss_goal_met"] = res["plan"]["peak_rss_mb"] < GOAL_RSS_MB
    print(f"plan peak RSS {res['plan']['peak_rss_mb']} MB (goal < {GOAL_RSS_MB} MB): "
          f"{'met' if res['plan_rss_goal_met'] else 'NOT met'}")
    res["load_before"], res["load_after"] = round(load0[0], 2), round(os.getloadavg()[0], 2)
    print("RESULT " + json.dumps(res, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
