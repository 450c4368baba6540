"""The typed ``gbltr annotate`` config: defaults < config file (TOML or JSON) < CLI flags.

Every default lives once, on the dataclass field that holds it: run settings on
:class:`AnnotateConfig`, the questions asked on
:class:`~gbltr.labels.llm.strategies.StrategyConfig` (``[strategy]``), how they are sent on
:class:`~gbltr.labels.llm.client.ClientConfig` (``[client]``). The CLI reads its help defaults
from these fields. With ``local = true`` the client fields not given fall back to
:data:`gbltr.labels.llm.local.LOCAL_CLIENT_DEFAULTS` instead (one request at a time, a long
timeout: what the in-process llama.cpp server can serve). A file looks like::

    pairs = "pairs.jsonl"
    out = "labels.parquet"

    [strategy]
    strategy = "list"      # point, list, listrank, listsel
    window = 20

    [client]
    model = "gpt-4o-mini"
    concurrency = 8

Unknown keys anywhere are errors that list the known ones (the same loader as ``gbltr fit``'s,
:mod:`gbltr.config`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from gbltr.settings import build, merge, read_config_file, to_jsonable
from gbltr.errors import ConfigError
from gbltr.labels.llm.client import ClientConfig, redact_url
from gbltr.labels.llm.local import LOCAL_CLIENT_DEFAULTS, LOCAL_MODEL_NAME
from gbltr.labels.llm.strategies import StrategyConfig
from gbltr.ranges import check_fields, count, number, positive


@dataclass(frozen=True)
class AnnotateConfig:
    """Every setting of one ``gbltr annotate`` run (see the CLI help for each)."""

    data: str | None = None  # gbltr dataset folder; exactly one of data / pairs
    pairs: str | None = None  # pairs file (.parquet/.jsonl/.tsv/.csv)
    plan: str | None = None  # a plan from 'gbltr plan' (with data): annotate exactly its pairs
    out: str | None = None  # the Parquet label set to write
    local: bool = False  # start the in-process llama.cpp server (SmolLM2)
    qrels_out: str | None = None
    cache: str | None = None  # SQLite answer cache; None = OUT.cache.sqlite
    limit_queries: int | None = number(None, count(1))
    batch: bool = False  # OpenAI Batch API
    batch_dir: str | None = None  # None = OUT.batch/
    poll_s: float = number(30.0, positive())
    prices: str | None = None
    dry_run: bool = False
    compare_to: str | None = None  # human TREC qrels -> agreement report
    report_dir: str | None = None  # None = OUT.agreement/
    progress: bool = True
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    client: ClientConfig = field(default_factory=ClientConfig)

    def __post_init__(self):
        if (self.data is None) == (self.pairs is None):
            raise ConfigError("give exactly one of --data DIR or --pairs FILE; found " + ("both" if self.data else "neither"))
        check_fields(self)
        if self.plan is not None and self.data is None:
            raise ConfigError("--plan needs --data DIR, the dataset the plan was made for (its text, and its "
                              "fingerprint to check the plan against); found --pairs")
        if self.plan is not None and self.limit_queries is not None:
            raise ConfigError("--plan annotates exactly the plan; drop --limit-queries (plan a smaller budget instead)")
        if self.local:
            if self.client.base_url:
                raise ConfigError("--local starts its own server; drop --base-url (or drop --local)")
            if self.batch:
                raise ConfigError("--batch needs the OpenAI Batch API; the --local server has none")
            if not self.client.model:
                object.__setattr__(self, "client", dataclasses.replace(self.client, model=LOCAL_MODEL_NAME))
        if not self.client.model:
            raise ConfigError("--model is required (the model name at the endpoint); found none")
        if not self.dry_run and self.out is None:
            raise ConfigError("--out is required (the Parquet label set to write); found none")

    def paths(self) -> dict[str, Path]:
        """Output paths with their defaults resolved (``out`` must be set)."""
        out = Path(self.out)
        return {
            "out": out,
            "cache": Path(self.cache) if self.cache else out.with_name(out.name + ".cache.sqlite"),
            "batch_dir": Path(self.batch_dir) if self.batch_dir else out.with_name(out.name + ".batch"),
            "report_dir": Path(self.report_dir) if self.report_dir else out.with_name(out.name + ".agreement"),
            "run_record": out.with_name(out.name + ".run.json"),
        }

    def outputs(self) -> list:
        """What a run writes (:class:`gbltr.folders.Output`): the label set, the qrels, the run
        record, and the cache, Batch folder and agreement folder, which later runs reuse."""
        from gbltr.folders import Output

        paths = self.paths()
        out = [Output(paths["out"], "--out", "label set", folder=False),
               Output(paths["run_record"], "--out (its .run.json)", "run record", folder=False)]
        if self.qrels_out:
            out.append(Output(self.qrels_out, "--qrels-out", "qrels file", folder=False))
        out.append(Output(paths["cache"], "--cache", "answer cache", folder=False, reused=True))
        # a folder named explicitly is checked even when this run would not use it
        if self.batch or self.batch_dir:
            out.append(Output(paths["batch_dir"], "--batch-dir", "Batch folder", reused=True))
        if self.compare_to or self.report_dir:
            out.append(Output(paths["report_dir"], "--report-dir", "agreement folder", reused=True))
        return out

    def inputs(self) -> list:
        """What a run reads (:class:`gbltr.folders.Input`)."""
        from gbltr.folders import Input

        named = [(self.data, "dataset folder (--data)"), (self.pairs, "pairs file (--pairs)"),
                 (self.plan, "plan file (--plan)"),
                 (self.prices, "price table (--prices)"), (self.compare_to, "qrels (--compare-to)")]
        return [Input(p, what) for p, what in named if p]

    def to_json(self) -> dict:
        """The config as JSON, credentials in ``client.base_url`` redacted (:func:`redact_url`)."""
        data = to_jsonable(self)
        data["client"]["base_url"] = redact_url(data["client"]["base_url"])
        return data


def load_annotate_config(file: str | Path | None = None, overrides: dict | None = None) -> AnnotateConfig:
    """Defaults < ``file`` < ``overrides`` (a nested dict, e.g. ``{"client": {"model": "m"}}``).
    With ``local`` true, :data:`~gbltr.labels.llm.local.LOCAL_CLIENT_DEFAULTS` fill the
    ``[client]`` keys that neither the file nor the overrides give."""
    data = read_config_file(file) if file else {}
    data = merge(data, overrides or {})
    local = data.get("local")
    if (local is True or str(local).lower() in ("true", "1", "yes")) and isinstance(data.get("client", {}), dict):
        data["client"] = {**LOCAL_CLIENT_DEFAULTS, **data.get("client", {})}
    return build(AnnotateConfig, data)
