"""Output folders written atomically: run folders, multi-run reports, dataset folders.

:func:`run_folder` claims a folder before any work and yields an empty temporary sibling
``.NAME.tmp-XXXXXXXX`` to fill; when the work ends normally the sibling is renamed into place, so
a reader sees the old folder or the whole new one, never a mix (the way build tools and MLflow
write outputs). An existing non-empty folder is refused unless ``overwrite=True``, which replaces
it whole, and even then only when it holds ``marker`` (``report.json``, ``dataset.json``, ...): a
folder gbltr did not write is never deleted. While the work runs, ``.NAME.lock`` (the process id)
beside it makes a second writer fail at once; a lock whose process is gone is taken over and the
dead run's temporary folders are removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from gbltr.errors import ConfigError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _take_lock(lock: Path, out: Path, kind: str) -> None:
    """Create ``lock`` holding this process id. The id is written to a private file first and
    hard-linked into place (atomic, fails if the lock exists), so a lock is never seen empty: a
    half-written lock must not pass for a stale one and be taken over."""
    for _ in range(2):
        mine = lock.with_name(f"{lock.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            mine.write_text(f"{os.getpid()}\n")
            os.link(mine, lock)
        except FileExistsError:
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if pid > 0 and _pid_alive(pid):
                raise ConfigError(
                    f"{kind} {str(out)!r} is being written by another gbltr process (pid {pid}, lock "
                    f"{lock}); expected one run per folder: wait for it or choose another --out"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        except OSError as exc:
            raise ConfigError(
                f"{kind} {str(out)!r}: cannot write in {str(out.parent)!r} ({exc.strerror}); "
                "expected a writable output folder (choose another --out)"
            ) from None
        finally:
            mine.unlink(missing_ok=True)
        return
    raise ConfigError(f"{kind} {str(out)!r}: could not take the lock {lock}; is another run starting?")


def check_run_folder(folder, *, overwrite: bool = False, marker: str = "report.json", kind: str = "run folder") -> Path:
    """Check, before any work, that run folder ``folder`` can be written; return it as an absolute path.

    Refused (:class:`ConfigError`): a path that is a file; a parent folder that cannot be created
    or written; an existing non-empty folder without ``overwrite``; and, even with
    ``overwrite``, a non-empty folder without ``marker`` (it is not a gbltr output folder, and
    replacing it whole would delete files gbltr did not write).
    """
    out = Path(folder).absolute()
    parent = out.parent
    if out == parent:
        raise ConfigError(f"{kind} {str(folder)!r}: expected a folder below some parent, found the root")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{kind} {str(folder)!r}: cannot create {str(parent)!r} ({exc.strerror})") from None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{kind} {str(folder)!r} exists and is not a folder; expected a folder path for --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{kind} {str(folder)!r}: {str(parent)!r} is not writable; expected a writable output "
            "folder (choose another --out)"
        )
    _check_occupied(out, folder, overwrite, marker, kind)
    return out


def _check_occupied(out: Path, folder, overwrite: bool, marker: str, kind: str) -> None:
    if _occupied(out):
        if not overwrite:
            raise ConfigError(
                f"{kind} {str(folder)!r} already exists; pass --overwrite to replace it whole, or "
                "choose another --out"
            )
        if not (out / marker).exists():
            raise ConfigError(
                f"{kind} {str(folder)!r} exists and holds no {marker}, so it is not a gbltr output "
                "folder; refusing to replace it (and the files in it): choose another --out"
            )


def _occupied(out: Path) -> bool:
    return out.is_dir() and any(out.iterdir())


@contextlib.contextmanager
def run_folder(folder, *, overwrite: bool = False, marker: str = "report.json", kind: str = "run folder"):
    """Claim output folder ``folder`` before any work and yield an empty temporary sibling to fill.

    ``kind`` names the folder in messages ("run folder", "dataset folder").

    Checks it at once (:func:`check_run_folder`) and takes ``.NAME.lock``. When the block ends
    normally the temporary folder replaces ``folder`` whole; on an error it is removed and
    ``folder`` is left as it was.
    """
    out = check_run_folder(folder, overwrite=overwrite, marker=marker, kind=kind)
    parent = out.parent

    def occupied() -> bool:
        return _occupied(out)

    lock = parent / f".{out.name}.lock"
    _take_lock(lock, out, kind)
    try:
        _check_occupied(out, folder, overwrite, marker, kind)  # again under the lock: a run may have just finished
    except ConfigError:
        lock.unlink(missing_ok=True)
        raise
    for leftover in (*parent.glob(f".{out.name}.tmp-*"), *parent.glob(f".{out.name}.old-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # of runs that were killed: a live run holds the lock
    tmp = parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        try:
            tmp.mkdir()
        except OSError as exc:
            raise ConfigError(f"{kind} {str(out)!r}: cannot write in {str(parent)!r} ({exc.strerror})") from None
        yield tmp
        if occupied():
            if not overwrite:
                raise ConfigError(
                    f"{kind} {str(out)!r} appeared while this run was working; pass --overwrite "
                    "to replace it, or choose another --out"
                )
            old = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.is_dir():
                out.rmdir()
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)
