"""``schema.validate`` on a 15M-row impressions table and a 600k-row labels table: old vs new.

The old ``validate`` is read from git (``--baseline-rev``, default the commit before the fast
duplicate-key check) into a throw-away module; both run on the same frames, alternately,
``--repeats`` times (medians). The tables look like the x10 simulated world: string session ids
with positions 1..10 (key ``session_id, position``), and query/doc id pairs (key
``query_id, doc_id``). Both must accept the clean tables and raise the same error on a table with
one duplicated key.

    python benchmarks/bench_schema.py              # 15M impressions (~2 GB, a few minutes on 2 cores)
    python benchmarks/bench_schema.py --rows 2000000

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types

import numpy as np
import polars as pl

from gbltr import schema as new_schema
from gbltr.errors import SchemaError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def old_schema(rev: str):
    src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:gbltr/schema.py"], check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("gbltr_schema_old")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, f"{rev}:gbltr/schema.py", "exec"), mod.__dict__)
    return mod


def tables(rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    sess = np.repeat(np.arange(rows // 10), 10)
    imp = pl.DataFrame({
        "session_id": "s" + pl.Series(sess).cast(pl.String).str.zfill(8),
        "query_id": "q" + pl.Series(rng.integers(0, 30_000, sess.size)).cast(pl.String).str.zfill(5),
        "position": np.tile(np.arange(1, 11, dtype=np.int32), rows // 10),
        "doc_id": "d" + pl.Series(rng.integers(0, 600_000, sess.size)).cast(pl.String).str.zfill(7),
        "clicked": rng.random(sess.size) < 0.1,
    })
    n_lab = max(10, rows // 25)
    q = np.repeat(np.arange(n_lab // 20 + 1), 20)[:n_lab]
    lab = pl.DataFrame({
        "query_id": "q" + pl.Series(q).cast(pl.String).str.zfill(5),
        "doc_id": "d" + pl.Series(np.arange(n_lab)).cast(pl.String).str.zfill(7),
        "label": rng.integers(0, 5, n_lab).astype(float),
        "source": "llm",
    })
    return imp, lab


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def error_of(fn):
    try:
        fn()
    except SchemaError as exc:
        return str(exc)
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=15_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-rev", default="d7ccc7b")
    args = ap.parse_args(argv)
    old = old_schema(args.baseline_rev)
    old.SchemaError = SchemaError  # the same error class, for comparing messages
    imp, lab = tables(args.rows)
    load0 = os.getloadavg()
    print(f"impressions {imp.height} rows, labels {lab.height} rows; load average "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    result = {"rows": imp.height, "label_rows": lab.height, "repeats": args.repeats,
              "baseline_rev": args.baseline_rev, "load_before": round(load0[0], 2)}
    for name, frame, contract in (("impressions", imp, "IMPRESSIONS"), ("labels", lab, "LABELS")):
        t_old, t_new = [], []
        for _ in range(args.repeats):
            t_old.append(timed(lambda: old.validate(frame, getattr(old, contract))))
            t_new.append(timed(lambda: new_schema.validate(frame, getattr(new_schema, contract))))
        o, n = float(np.median(t_old)), float(np.median(t_new))
        dup = pl.concat([frame, frame.head(1)])
        e_old = error_of(lambda: old.validate(dup, getattr(old, contract)))
        e_new = error_of(lambda: new_schema.validate(dup, getattr(new_schema, contract)))
        same = e_old is not None and e_old == e_new
        result[name] = {"old_s": o, "new_s": n, "ratio": n / o, "same_error": same,
                        "old_all_s": t_old, "new_all_s": t_new}
        print(f"{name:12s} validate: old {o:7.2f} s | new {n:7.2f} s | new/old {n / o:.2f}x | "
              f"same error on a duplicate: {same}")
        if not same:
            print(f"  old: {e_old}\n  new: {e_new}")
    load1 = os.getloadavg()
    result["load_after"] = round(load1[0], 2)
    result["goal_ratio"] = 0.5
    result["goal_met"] = all(result[k]["ratio"] <= 0.5 and result[k]["same_error"]
                             for k in ("impressions", "labels"))
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
