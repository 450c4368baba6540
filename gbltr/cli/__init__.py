"""The ``gbltr`` command: a thin click group.

Each sub-command lives in its own module of this package, parses its flags, calls one library
function and prints. Sub-commands are registered here by name so that ``gbltr --help`` lists
them without importing their heavy dependencies.
"""

from __future__ import annotations

import logging
import sys

import click

from gbltr.checkpoint import STOPPED_LINE, ChecksPassed
from gbltr.errors import GbltrError
from gbltr.threads import prepare_openmp

# name -> "module:attribute"; modules are imported only when the command runs.
COMMANDS = {
    "simulate": "gbltr.cli.simulate:simulate",
    "fit": "gbltr.cli.fit:fit",
    "compare": "gbltr.cli.compare:compare",
    "experiment": "gbltr.cli.experiment:experiment",
    "ablation": "gbltr.cli.ablation:ablation",
    "annotate": "gbltr.cli.annotate:annotate",
    "clicks": "gbltr.cli.clicks:clicks",
    "import": "gbltr.cli.importer:importer",
    "rerank": "gbltr.cli.rerank:rerank",
    "export": "gbltr.cli.export:export",
    "plan": "gbltr.cli.plan:plan",
}

_HELP = {
    "simulate": "Write a simulated search world (dataset folder + world.json).",
    "fit": "Train a ranker on click, LLM or fused labels and evaluate it per frequency bucket.",
    "compare": "Compare run folders per bucket with paired significance tests.",
    "experiment": "Run several label setups over several seeds and report per bucket.",
    "ablation": "Feature-group ablation: retrain without each feature group and report.",
    "annotate": "Label query-document pairs with an LLM through an OpenAI-compatible API.",
    "clicks": "Fit click models on a log and compare them on held-out sessions.",
    "import": "Import real data (click log, feature file, corpus, qrels) as a dataset folder.",
    "rerank": "Score new candidates with a trained run; write a TREC run file and a Parquet.",
    "plan": "Choose which pairs to annotate with an LLM under a budget (labels or dollars).",
    "export": "Write a run's model and feature definitions for OpenSearch, Solr or Elasticsearch LTR.",
}


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""Values of ``GBLTR_LOG`` (case does not matter)."""


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        import importlib

        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="gbltr")
def cli():
    """gbltr: train rankers on clicks, LLM labels or both, and see where each wins."""


def main(argv=None):
    """Entry point: GbltrError becomes a one-line message and exit status 2.

    Log lines of the ``gbltr`` logger (INFO and up) go to stderr; ``GBLTR_LOG=WARNING`` quiets them
    (:data:`LOG_LEVELS`, any case; another value is an error, exit 2).
    With ``GBLTR_STOP_AFTER_CHECKS=1`` a command stops where its checks end
    (:func:`gbltr.checkpoint.checkpoint`): ``checks passed: COMMAND`` and exit 0.
    """
    import os

    logger = logging.getLogger("gbltr")
    level = os.environ.get("GBLTR_LOG", "INFO").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        click.echo(f"error: GBLTR_LOG={os.environ['GBLTR_LOG']!r}; expected one of {', '.join(LOG_LEVELS)} "
                   "(any case)", err=True)
        sys.exit(2)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("gbltr: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
    prepare_openmp(decide=False)  # opens the window on other processes' CPU use (gbltr.threads)
    try:
        cli.main(args=argv, standalone_mode=False)
    except ChecksPassed as stop:
        click.echo(STOPPED_LINE + stop.command)
        sys.exit(0)
    except GbltrError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
