"""Import lightness, tested once: `import gbltr`, `gbltr --help` and the modules a light command
needs at start-up load none of the heavy optional libraries (they load when used)."""

import subprocess
import sys

import pytest

HEAVY = {"openai", "xgboost", "lightgbm", "matplotlib", "numba", "xllamacpp", "mlflow"}

HELP = "from gbltr.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass"
FIT_HELP = HELP.replace("['--help']", "['fit', '--help']")  # --mlflow and --register: MLflow loads only when used


@pytest.mark.parametrize("code", [
    "import gbltr",
    HELP,
    # the annotator and its CLI: openai only when a request is sent, xllamacpp only with --local
    "import gbltr.labels.llm, gbltr.labels.llm.annotate, gbltr.labels.llm.run, gbltr.cli.annotate",
    # reports and plots: matplotlib only when a figure is drawn
    "import gbltr.evaluate.compare, gbltr.plots",
    FIT_HELP,
    # the run-folder readers of rerank, export and compare: MLflow only for a models:/ URI
    "import gbltr.serve.run, gbltr.serve.rerank, gbltr.serve.export, gbltr.track, gbltr.track.runs, gbltr.cli.tracking",
], ids=["import-gbltr", "gbltr-help", "annotator", "compare-and-plots", "fit-help", "serve-and-track"])
def test_start_up_loads_no_heavy_library(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    assert not HEAVY & set(out.split())


# The help screens are what a user waits on most often: besides the heavy libraries above, they load
# no numpy or polars and no importlib.resources (the packaged schedule names are listed from the
# folder). Their speed is measured in benchmarks/bench_startup.py, not asserted here.
@pytest.mark.parametrize("code", [HELP, FIT_HELP], ids=["gbltr-help", "fit-help"])
def test_help_loads_no_array_library(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    assert not {"numpy", "polars", "importlib.resources", "zipfile"} & set(out.split())


# Imports run downhill (issue 18): a lower floor never loads a higher one. On main before it,
# importing the agreement module loaded 54 gbltr modules (plots -> analysis -> pipeline), the
# semi-synthetic simulator and ``rerank`` imported the pipeline, and plots the analysis package.
PIPELINE_AND_UP = ("gbltr.pipeline", "gbltr.analysis", "gbltr.experiment", "gbltr.train")


@pytest.mark.parametrize("module, forbidden", [
    ("gbltr.labels.llm.agreement", PIPELINE_AND_UP + ("gbltr.plots",)),
    ("gbltr.labels.llm.labelset", PIPELINE_AND_UP + ("gbltr.plots",)),
    ("gbltr.data.simulate", PIPELINE_AND_UP + ("gbltr.features", "gbltr.labels", "gbltr.plots")),
    ("gbltr.data.simulate.over", PIPELINE_AND_UP + ("gbltr.features", "gbltr.plots")),
    ("gbltr.plots", PIPELINE_AND_UP),
    ("gbltr.serve.rerank", ("gbltr.pipeline", "gbltr.analysis", "gbltr.experiment", "gbltr.plots")),
])
def test_imports_run_downhill(module, forbidden):
    """Importing ``module`` in a fresh interpreter loads none of the modules above it."""
    out = subprocess.run([sys.executable, "-c", f"import {module}\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert module in loaded
    uphill = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert not uphill, f"importing {module} loaded {uphill}"
