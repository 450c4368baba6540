"""Execute notebooks in place, keeping their outputs (what is committed is what this wrote).

    GBLTR_NOTEBOOK_WORLD=default python notebooks/execute.py notebooks/authority_vs_semantic.ipynb

``GBLTR_NOTEBOOK_WORLD`` (tiny | mid | default) is read by the notebook itself to pick the world.
Needs the test extras (nbclient, nbformat, ipykernel). Fails (exit 1) if a cell raises.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat


def execute(path: Path, timeout: int = 3600) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        path = Path(name)
        try:
            nb = execute(path)
        except nbclient.exceptions.CellExecutionError as exc:
            print(f"{path}: a cell failed:\n{exc}", file=sys.stderr)
            return 1
        nbformat.write(nb, path)
        print(f"executed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
