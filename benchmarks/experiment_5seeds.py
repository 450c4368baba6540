"""Record the 5-seed experiment with auto-FAMOL (issue 10) from per-seed checkpoints.

The experiment itself is ``gbltr experiment`` (one or several processes, each with its own
``--seeds`` list and ``--out``); this script summarises their ``OUT-seeds/seed-N.*`` checkpoints
into one report (:func:`gbltr.experiment.from_checkpoints`) and writes it to
``benchmarks/results/experiment-5seeds-auto.{md,json,png}``. Usage::

    gbltr experiment --seeds 0,1 --setups click,llm,fused:schedule,fused:schedule:frequency-staged,\\
        fused:famol,fused:famol-sigmoid,fused:famol-bucket,fused:famol-log --out /tmp/exp-01   # etc.
    python benchmarks/experiment_5seeds.py /tmp/exp-01 /tmp/exp-23 /tmp/exp-4

Ends with one line ``RESULT {json}``: per bucket, auto-FAMOL's mean and its paired tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gbltr.experiment import ALWAYS, from_checkpoints, plot_experiment

SETUPS = ["click", "llm", "fused:schedule", "fused:schedule:frequency-staged", "fused:famol", "fused:famol-sigmoid",
          "fused:famol-bucket", "fused:famol-log", *ALWAYS]
OUT = Path(__file__).resolve().parent / "results" / "experiment-5seeds-auto"


def main(folders: list[str]) -> None:
    res = from_checkpoints(folders, SETUPS)
    header = sys.stdin.read() if not sys.stdin.isatty() else ""
    OUT.with_suffix(".md").write_text(header + res.to_markdown() + "\n")
    OUT.with_suffix(".json").write_text(json.dumps(res.summary, indent=1))
    plot_experiment(res).figure.savefig(OUT.with_suffix(".png"), dpi=110, bbox_inches="tight")
    print(res.to_markdown())
    out = {b: {"auto": round(r["fused:famol"]["mean"], 4),
               **{k: {"delta": round(r["fused:famol"][k]["delta"], 4), "rand_p": r["fused:famol"][k]["rand_p"]}
                  for k in ("vs_best", "vs_constant", "vs_schedule") if k in r["fused:famol"]}}
           for b, r in res.summary["results"].items()}
    print("RESULT " + json.dumps({"seeds": res.summary["seeds"], "auto_famol": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
