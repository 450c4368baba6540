"""Click-model priors side by side on one log (issue 23): learnt (``auto``, empirical Bayes) against
the fixed pseudo-counts (1, 3) (the default before) and (1, 1) (flat).

The log is read and split once (:func:`gbltr.labels.clicks.report.load_log` and
:func:`~gbltr.labels.clicks.report.held_out_split`: the log's own split, else a seeded 20% of
sessions held out); each model is fitted on the training sessions with each prior and scored on the
held-out sessions of seen queries (:func:`gbltr.labels.clicks.evaluate.evaluate_held_out`): held-out
log-likelihood per session, full perplexity, conditional perplexity, mean attractiveness over the
training pairs, and, for a simulated log (``world.json``), examination against the truth (max
relative error over positions). Choosing a prior never looks at the held-out sessions.

Run: ``python benchmarks/bench_click_priors.py --log DIR [--models pbm,ubm,dbn]``; the last line is
``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from gbltr.labels.clicks import ClickLabelConfig, ClickPriors, fit_click_model
from gbltr.labels.clicks.evaluate import evaluate_held_out, split_seen_queries
from gbltr.labels.clicks.report import held_out_split, load_log
from gbltr.labels.clicks.sessions import sessions_from_impressions

PRIORS = {
    "learnt (auto)": ClickPriors(),
    "fixed (1, 3)": ClickPriors(choice="fixed", attractiveness=(1.0, 3.0)),
    "fixed (1, 1)": ClickPriors(choice="fixed", attractiveness=(1.0, 1.0)),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--format", default="auto")
    ap.add_argument("--models", default="pbm,ubm,dbn")
    ap.add_argument("--test-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    loaded = load_log(args.log, args.format)
    train_imp, test_imp, note = held_out_split(loaded, test_share=args.test_share, seed=args.seed)
    train = sessions_from_impressions(train_imp, max_positions=10, where="training sessions")
    test, left_out = split_seen_queries(train, sessions_from_impressions(test_imp, max_positions=train.n_positions,
                                                                        where="held-out sessions"))
    truth = loaded.truth
    print(f"{loaded.name}: {train.n_sessions:,} training sessions, {test.n_sessions:,} held-out sessions scored "
          f"({left_out} of unseen queries left out); {note}; load average {load0:.2f}")
    if truth is not None:
        print("truth examination:", " ".join(f"{x:.3f}" for x in truth.examination[1:]), f"({truth.source})")
    rows = []
    print(f"{'model':6} {'prior':16} {'learnt':28} {'held-out LL/s':>13} {'perplexity':>10} {'cond. perp.':>11} "
          f"{'mean attr.':>10} {'max |exam/truth - 1|':>20} {'fit s':>6}")
    for model in args.models.split(","):
        for label, priors in PRIORS.items():
            t0 = time.perf_counter()
            f = fit_click_model(train, ClickLabelConfig(priors=priors, model=model))
            secs = time.perf_counter() - t0
            s = evaluate_held_out(f, test)
            ex = f.examination()
            err = None if truth is None else float(np.nanmax(np.abs(np.asarray(truth.compare(ex), float) - 1)))
            row = {"model": model, "prior": label, "learnt": f.prior.describe(), "held_out_ll": s.log_likelihood,
                   "perplexity": s.perplexity, "conditional_perplexity": s.conditional_perplexity,
                   "mean_attractiveness": float(f.pairs["attractiveness"].mean()),
                   "examination": [round(float(x), 4) for x in ex], "max_examination_error": err,
                   "continuation": f.params.get("continuation"), "fit_seconds": round(secs, 2),
                   "iterations": f.info.iterations, "converged": f.info.converged}
            rows.append(row)
            print(f"{model:6} {label:16} {row['learnt'][:28]:28} {s.log_likelihood:13.4f} {s.perplexity:10.4f} "
                  f"{s.conditional_perplexity:11.4f} {row['mean_attractiveness']:10.3f} "
                  f"{'-' if err is None else f'{err:.3f}':>20} {secs:6.1f}")
            print("       examination:", " ".join(f"{x:.3f}" for x in ex[1:]),
                  "" if row["continuation"] is None else f"continuation {row['continuation']:.4f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print("RESULT " + json.dumps({"log": loaded.name, "held_out": note, "train_sessions": train.n_sessions,
                                  "held_out_sessions": test.n_sessions, "load_average": [load0, os.getloadavg()[0]],
                                  "truth": None if truth is None else list(truth.examination), "rows": rows}))


if __name__ == "__main__":
    main()
