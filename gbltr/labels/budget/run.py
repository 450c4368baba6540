"""One ``gbltr plan`` run: a dataset with a log in, a plan file and its Markdown summary out.

:class:`PlanRequest` holds what the command was given (its numbers declared once, in
:mod:`gbltr.ranges`); :func:`run_plan` checks it, reads the dataset, stops at the checkpoint when
asked (:mod:`gbltr.checkpoint`), then plans (:mod:`gbltr.labels.budget.plan`) and writes
``OUT`` (Parquet) and ``OUT`` with suffix ``.md`` atomically.

The log is scanned lazily when the click model can stream (:func:`plan_streams`). The click
model, buckets and split are those of ``--config`` (a ``gbltr fit`` config; its
defaults without one). The queries planned are the training queries of the split that
``gbltr fit --seed S`` draws with the same ``--seed`` and config (a dataset's own ``split`` column when it has one): labels on validation or
test queries would not train anything. Validation queries feed ``auto``'s choice; test queries
are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import ConfigError
from gbltr.ranges import check_fields, count, number, positive, seed_range


@dataclass(frozen=True)
class PlanRequest:
    """What ``gbltr plan`` was asked: exactly one of ``budget`` (labels) and ``budget_usd``."""

    data: str
    out: str
    budget: int | None = number(None, count(1))
    budget_usd: float | None = number(None, positive())
    strategy: str = "point"
    planner: str = "value-per-dollar"
    seed: int = number(0, seed_range())
    prices: str | None = None
    price_model: str | None = None
    config: str | None = None  # a gbltr fit config: its [click] model and priors, [buckets] and split

    def __post_init__(self):
        check_fields(self)
        if (self.budget is None) == (self.budget_usd is None):
            raise ConfigError("gbltr plan: expected exactly one of --budget N (labels) and --budget-usd X (dollars), "
                              f"found {'both' if self.budget is not None else 'neither'}")
        if (self.prices is None) != (self.price_model is None):
            raise ConfigError("gbltr plan: --prices FILE and --price-model NAME go together (the price of which model "
                              f"in which table); found only {'--prices' if self.prices else '--price-model'}")
        if self.budget_usd is not None and self.prices is None:
            raise ConfigError("gbltr plan --budget-usd needs dollars per token: pass --prices FILE --price-model NAME")

    def markdown_path(self) -> Path:
        return Path(self.out).with_suffix(".md")

    def outputs(self) -> list:
        from gbltr.folders import Output

        return [Output(self.out, "--out", "plan file", folder=False),
                Output(self.markdown_path(), "--out (its .md summary)", "plan summary", folder=False)]

    def inputs(self) -> list:
        from gbltr.folders import Input

        return [Input(p, what) for p, what in ((self.data, "dataset folder (--data)"),
                                               (self.prices, "price table (--prices)"),
                                               (self.config, "fit config (--config)")) if p]


def usage_of(pairs_text, strategy_cfg, client_cfg):
    """A ``usage(train, unit, n_units) -> Tokens`` function for
    :func:`~gbltr.labels.budget.plan.make_plan`: each unit's requests as the annotator's dry run
    estimates them (``pairs_text``: the dataset's pairs with text,
    :func:`gbltr.labels.llm.pairs.pairs_from_dataset`). Pointwise units are single pairs, estimated
    all at once (:func:`gbltr.labels.llm.cost.point_tokens`); listwise units (whole queries) are
    rendered by :func:`gbltr.labels.llm.cost.unit_usage`."""
    import numpy as np
    import polars as pl

    from gbltr.labels.llm.annotate import group_pairs
    from gbltr.labels.llm.cost import Tokens, point_tokens, unit_usage

    def usage(train, unit, n_units):
        rows = train.select("query_id", "doc_id", "rank").with_columns(pl.Series("_unit", unit))
        if strategy_cfg.strategy == "point" and np.array_equal(unit, np.arange(n_units)):
            # one pair per unit: estimate every pair of the dataset where its text lies, join the numbers
            # (not the texts) to the units
            tokens = point_tokens(pairs_text["query"], pairs_text["text"], strategy_cfg, client_cfg)
            est = pairs_text.select("query_id", "doc_id").with_columns(
                pl.Series("_p", tokens.prompt), pl.Series("_c", tokens.completion))
            got = rows.join(est, on=["query_id", "doc_id"], how="left").sort("_unit")
            if got["_p"].null_count():  # a pair without text: as the dry run renders it (no query, no text)
                none = point_tokens([None], [None], strategy_cfg, client_cfg)
                got = got.with_columns(pl.col("_p").fill_null(int(none.prompt[0])),
                                       pl.col("_c").fill_null(int(none.completion[0])))
            return Tokens(got["_p"].to_numpy(), got["_c"].to_numpy(), np.zeros(n_units, dtype=np.int64))
        text = rows.join(pairs_text.select("query_id", "doc_id", "query", "text"), on=["query_id", "doc_id"], how="left")
        text = text.sort("_unit", "rank", "doc_id")
        parts = text.partition_by("_unit", maintain_order=True, as_dict=True)
        units = [group_pairs(parts[(u,)]) for u in range(n_units)]
        return Tokens.of(unit_usage(units, strategy_cfg, client_cfg))

    return usage


def plan_streams(cfg) -> bool:
    """Whether ``gbltr plan`` scans the log lazily (:mod:`gbltr.data.stream`): as ``train.stream``
    says when it is ``on`` or ``off``; with ``auto``, whenever the click model can stream. A plan
    reads the log only for query frequencies and click counts, which streaming computes equal to
    the in-memory path (tests/data/test_stream.py) in a fraction of the memory: on the x10 world
    (15M impressions) the in-memory log alone took 2.1 GB (benchmarks/bench_plan.py)."""
    from gbltr.labels.clicks.config import can_stream, check_streamable

    if cfg.train.stream == "on":
        check_streamable(cfg.click, "gbltr plan with train.stream = 'on'")
        return True
    return cfg.train.stream == "auto" and can_stream(cfg.click)


def run_plan(req: PlanRequest, echo=print):
    """Plan as ``req`` asks; write the plan and its summary; return the :class:`Plan`."""
    from gbltr.checkpoint import checkpoint
    from gbltr.config import load_config
    from gbltr.data.log import open_dataset
    from gbltr.data.store import fingerprint
    from gbltr.folders import check_outputs, write_file
    from gbltr.labels.budget import get_planner
    from gbltr.labels.budget.plan import Budget, candidates, make_plan, require_log
    from gbltr.labels.llm.client import ClientConfig
    from gbltr.labels.llm.cost import PriceTable
    from gbltr.labels.llm.pairs import pairs_from_dataset
    from gbltr.labels.llm.strategies import StrategyConfig
    from gbltr.pipeline import draw_split, resolve_buckets

    get_planner(req.planner)
    strategy = StrategyConfig(strategy=req.strategy)
    check_outputs("plan", req.outputs(), req.inputs())
    # labels: fused, so that the fit config of a fused run (with its [fusion] table) is accepted
    cfg = load_config(req.config, {"data": req.data, "seed": req.seed, "labels": "fused"})
    prices = PriceTable.load(req.prices) if req.prices else None
    if prices is not None:
        prices.price(req.price_model)
    ds, search = open_dataset(req.data, plan_streams(cfg))
    texts = pairs_from_dataset(req.data)
    require_log(search)
    checkpoint("plan")
    frequency = search.frequency(ds.queries["query_id"])
    stats = frequency.with_columns(resolve_buckets(cfg, frequency["frequency"]).expr())
    split = draw_split(ds, stats, cfg.seed, cfg.split)
    found = candidates(ds, search, stats, split.ids("train"), split.ids("valid"), cfg.click,
                       second_click_model=get_planner(req.planner).needs_second_click_model)
    client = ClientConfig(model=req.price_model or "")
    budget = Budget(labels=req.budget, usd=req.budget_usd)
    plan = make_plan(found.train, found.valid, planner=req.planner, budget=budget, strategy=req.strategy,
                     seed=req.seed, dataset=fingerprint(req.data)["sha1"], prior=found.prior,
                     usage=usage_of(texts, strategy, client), prices=prices, model=req.price_model or "")
    write_file(req.out, plan.frame.write_parquet, what="plan file")
    md = plan.to_markdown()
    write_file(req.markdown_path(), lambda tmp: tmp.write_text(md, encoding="utf-8"), what="plan summary")
    return plan
