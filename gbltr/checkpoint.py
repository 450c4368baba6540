"""Where a command's checks end and its work begins.

Every command calls :func:`checkpoint` once, at the point where everything it can check cheaply
(flags, config, the files it names, its outputs) has been checked and the expensive work (reading
logs, training, writing) begins. With ``GBLTR_STOP_AFTER_CHECKS=1`` in the environment the
command stops there: :func:`gbltr.cli.main` prints ``checks passed: COMMAND`` and exits 0, having
written nothing. The CLI harness (``tests/reliability/test_cli_harness.py``) runs every bad-input
mutation that way, so a refusal must happen before the checkpoint to count, and a new command
without a checkpoint fails the harness.

Light on purpose: the only import is ``os``.
"""

from __future__ import annotations

import os

STOP_ENV = "GBLTR_STOP_AFTER_CHECKS"
STOPPED_LINE = "checks passed: "
"""The line :func:`gbltr.cli.main` prints (followed by the command) when a command stops here."""


class ChecksPassed(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by :func:`checkpoint` when ``GBLTR_STOP_AFTER_CHECKS=1``; carries the command name."""

    def __init__(self, command: str):
        super().__init__(command)
        self.command = command


def checkpoint(command: str) -> None:
    """Mark the end of ``command``'s checks; stop here when ``GBLTR_STOP_AFTER_CHECKS=1``."""
    if os.environ.get(STOP_ENV, "").strip() == "1":
        raise ChecksPassed(command)
