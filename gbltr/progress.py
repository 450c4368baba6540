"""Progress bars for long steps (tqdm on stderr).

Bars show on an interactive terminal and stay quiet in logs and tests; ``GBLTR_PROGRESS=1``
forces them on and ``GBLTR_PROGRESS=0`` off.
"""

from __future__ import annotations

import os


def progress(iterable=None, **kwargs):
    """A ``tqdm`` bar; ``kwargs`` go to tqdm (``total``, ``desc``, ``unit`` ...)."""
    from tqdm.auto import tqdm

    flag = os.environ.get("GBLTR_PROGRESS")
    disable = None if flag is None else flag == "0"
    kwargs.setdefault("disable", disable)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
