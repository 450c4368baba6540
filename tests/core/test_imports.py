"""Import lightness, tested once: `import gbltr`, `gbltr --help` and the modules a light command
needs at start-up load none of the heavy optional libraries (they load when used)."""

import subprocess
import sys

import pytest

HEAVY = {"openai", "xgboost", "lightgbm", "matplotlib", "numba", "xllamacpp"}

HELP = "from gbltr.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass"


@pytest.mark.parametrize("code", [
    "import gbltr",
    HELP,
    # the annotator and its CLI: openai only when a request is sent, xllamacpp only with --local
    "import gbltr.labels.llm, gbltr.labels.llm.annotate, gbltr.labels.llm.run, gbltr.cli.annotate",
    # reports and plots: matplotlib only when a figure is drawn
    "import gbltr.evaluate.compare, gbltr.plots",
], ids=["import-gbltr", "gbltr-help", "annotator", "compare-and-plots"])
def test_start_up_loads_no_heavy_library(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    assert not HEAVY & set(out.split())
