"""Notebooks run top to bottom (they call only the public API and assert their own claims)."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted(p for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_committed_notebook_carries_its_outputs():
    """The committed analysis notebook is executed (figures and the printed reading are in the
    file), and says which world its outputs come from."""
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "authority_vs_semantic.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "world: " in text and "True negatives reach the top 10" in text
