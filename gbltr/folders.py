"""The output policy: every command that writes goes through here.

**One declaration, one check.** A command declares its outputs (:class:`Output`) and the files and
folders it reads (:class:`Input`) once and calls :func:`check_outputs` before any work. Paths are
resolved (symlinks followed: a symlinked ``--out`` is written where it points, and the link stays).
Refused (:class:`~gbltr.errors.ConfigError`), each with the path named:

* an output that is, contains or lies inside one of the command's inputs (``import ... DIR/log.csv
  --out DIR``; ``rerank --data D --out D/run.trec``);
* two outputs of one command that are the same path or one inside the other
  (``annotate --out F --qrels-out F``; ``rerank --out X.parquet``, whose Parquet is ``X.parquet``);
* an output inside a folder that gbltr wrote (a run, dataset, report or export folder): a command
  writes only its own outputs, never into another's folder;
* an existing non-empty output folder that another command wrote (``compare --out RUN``), that no
  gbltr command wrote, or, without ``overwrite``, that the same command wrote;
* a name longer than the file system allows.

**Which command wrote a folder.** Every folder written through :func:`run_folder` holds
:data:`OWNER_FILE` (``{"command": "fit"}``); ``overwrite`` replaces only a folder whose owner is
the same command. Folders written before that file existed are recognised by their files
(:data:`LEGACY_OWNERS`).

**Atomic folders and files.** :func:`run_folder` claims a folder before any work and yields an
empty temporary sibling ``.NAME.tmp-XXXXXXXX`` to fill; when the work ends normally the sibling is
renamed into place, so a reader sees the old folder or the whole new one, never a mix (the way
build tools and MLflow write outputs). :func:`write_file` does the same for one file. While the
work runs, ``.NAME.lock`` beside the folder (process id and start time) makes a second writer fail
at once; a lock whose process is gone, or whose process id now belongs to another process (a
different start time), is taken over and the dead run's temporary folders are removed. Sibling
names that would exceed the file system's name limit are shortened with a hash of the full name
(:func:`sibling`), so a legal 250-character ``--out`` works.

**Errors while writing** (disk full, read-only file system, quota, name too long) become one
:class:`~gbltr.errors.WriteError` naming the path; the temporary files are removed and an old
output is left as it was.

:func:`scratch_folder` is the same idea for temporary work folders (Dask partitions): named after
their process, removed on exit, and removed by the next run when their process is gone.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from gbltr.errors import ConfigError, WriteError

OWNER_FILE = ".gbltr-output.json"
"""Written into every output folder: ``{"command": NAME}``, the command that wrote it."""

LEGACY_OWNERS = (
    (("report.json", "per_query.parquet"), ("fit",), True),
    (("dataset.json", "queries.parquet"), ("simulate", "import"), True),
    (("report.json",), ("fit", "clicks fit"), False),
    (("experiment.json",), ("experiment",), False),
    (("ablation.json",), ("ablation",), False),
    (("comparison.json",), ("compare",), False),
    (("manifest.json",), ("export",), False),
)
"""Folders written before :data:`OWNER_FILE`: (files that all must be present, the commands that
write such a folder, whether the files are distinctive enough to recognise a parent folder as
gbltr's), first match wins."""

WRITE_ERRNOS = {_errno.ENOSPC, _errno.EROFS, _errno.EDQUOT, _errno.EFBIG, _errno.ENAMETOOLONG}
"""Errors of a write that the user can fix by choosing another place; they become :class:`WriteError`."""


@dataclass(frozen=True)
class Output:
    """One thing a command writes: ``path`` as given, the ``option`` that named it, ``what`` it is
    ("run folder", "TREC run file"), whether it is a ``folder`` (replaced whole) or a file."""

    path: str | Path
    option: str = "--out"
    what: str = "run folder"
    folder: bool = True
    marker: str | None = None  # a file every such folder holds ("report.json"), named when a folder is refused
    reused: bool = False  # state kept across runs (an answer cache): checked against the inputs and the other outputs only


@dataclass(frozen=True)
class Input:
    """One file or folder a command reads; ``what`` names it in messages."""

    path: str | Path
    what: str = "input"


def resolve(path: str | Path) -> Path:
    """``path`` absolute, with every symlink (also of the last component) followed."""
    return Path(os.path.realpath(Path(path).expanduser()))


def name_max(folder: Path) -> int:
    """The longest file name ``folder``'s file system allows (255 where it cannot be asked)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def sibling(out: Path, tag: str) -> Path:
    """``.NAME.TAG`` beside ``out``; when that name is too long for the file system, NAME is cut
    and a hash of the whole name added, so every sibling of one ``out`` still shares one prefix
    (:func:`_sibling_prefix`)."""
    return out.parent / f"{_sibling_prefix(out)}{tag}"


def _sibling_prefix(out: Path) -> str:
    prefix = f".{out.name}."
    if len(prefix.encode()) + 40 <= name_max(out.parent):
        return prefix
    digest = hashlib.sha1(out.name.encode()).hexdigest()[:12]
    return f".{out.name.encode()[:150].decode(errors='ignore')}~{digest}."


def owner(folder: Path, *, distinctive: bool = False) -> tuple[str, ...] | None:
    """The command(s) that wrote output folder ``folder`` (:data:`OWNER_FILE`, else
    :data:`LEGACY_OWNERS`, only their ``distinctive`` ones if asked); None for a folder no gbltr
    command wrote."""
    try:
        if not folder.is_dir():
            return None
        marker = folder / OWNER_FILE
        if marker.is_file():
            try:
                command = json.loads(marker.read_text(encoding="utf-8")).get("command")
            except (OSError, ValueError, AttributeError):
                command = None
            return (str(command),) if command else ("an unknown command",)
        for files, commands, strong in LEGACY_OWNERS:
            if (strong or not distinctive) and all((folder / f).is_file() for f in files):
                return commands
    except OSError:
        return None
    return None


def _relation(a: Path, b: Path) -> str | None:
    """How path ``a`` relates to ``b``: "is", "lies inside", "contains" or None."""
    if a == b:
        return "is"
    if b in a.parents:
        return "lies inside"
    if a in b.parents:
        return "contains"
    return None


def _check_name(out: Path, given, option: str, what: str) -> None:
    limit = name_max(out.parent)
    if len(out.name.encode()) > limit:
        raise ConfigError(
            f"{option} {str(given)!r}: the {what} name is {len(out.name.encode())} bytes long; expected at most "
            f"{limit} (the file system's limit): choose a shorter name"
        )


def check_outputs(command: str, outputs: Sequence[Output], inputs: Iterable[Input | str | Path | None] = (), *,
                  overwrite: bool = False) -> list[Path]:
    """Check, before any work, that ``command`` may write ``outputs`` given that it reads
    ``inputs`` (see the module docstring for what is refused); return the outputs resolved.

    A folder output that exists, is not empty and was written by ``command`` is refused unless
    ``overwrite``. A file output that exists is replaced (it is not a folder of files to lose).
    """
    ins = [i if isinstance(i, Input) else Input(i) for i in inputs if i is not None]
    ins = [(resolve(i.path), i) for i in ins if str(i.path)]
    resolved: list[Path] = []
    for o in outputs:
        out = resolve(o.path)
        given = o.path
        if out == out.parent:
            raise ConfigError(f"{o.option} {str(given)!r}: expected a {o.what} below some parent, found the root")
        _check_name(out, given, o.option, o.what)
        for path, i in ins:
            rel = _relation(out, path)
            if rel is not None:
                raise ConfigError(
                    f"{o.option} {str(given)!r} {rel} {i.what} {str(i.path)!r}, which {command} reads; "
                    f"expected an output apart from the inputs (a command never writes into what it reads): "
                    f"choose another {o.option}"
                )
        for prev, po in zip(resolved, outputs):
            rel = _relation(out, prev)
            if rel is not None:
                raise ConfigError(
                    f"{o.option} {str(given)!r} {rel} {po.option} {str(po.path)!r} ({po.what}); expected "
                    f"separate paths for the {o.what} and the {po.what}: choose another {o.option}"
                )
        for folder in out.parents:
            who = owner(folder, distinctive=True)
            if who is not None:
                raise ConfigError(
                    f"{o.option} {str(given)!r} lies inside {str(folder)!r}, an output folder of "
                    f"'gbltr {who[0]}'; expected a path outside gbltr's output folders (a command writes "
                    f"only its own outputs): choose another {o.option}"
                )
        if o.reused:
            _check_parent(out, given, o)
        else:
            _check_target(command, out, given, o, overwrite)
        resolved.append(out)
    return resolved


def _check_parent(out: Path, given, o: Output) -> None:
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{o.what} {str(given)!r}: cannot create {str(parent)!r} ({exc.strerror})") from None


def _check_target(command: str, out: Path, given, o: Output, overwrite: bool) -> None:
    _check_parent(out, given, o)
    parent = out.parent
    if not parent.is_dir():
        raise ConfigError(f"{o.what} {str(given)!r}: {str(parent)!r} is not a folder; expected a folder path")
    if o.folder and out.exists() and not out.is_dir():
        raise ConfigError(f"{o.what} {str(given)!r} exists and is not a folder; expected a folder path for {o.option}")
    if not o.folder and out.is_dir():
        raise ConfigError(f"{o.what} {str(given)!r} is a folder; expected a file path for {o.option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{o.what} {str(given)!r}: {str(parent)!r} is not writable; expected a writable output "
            f"folder (choose another {o.option})"
        )
    if o.folder:
        _check_occupied(command, out, given, overwrite, o)


def _check_occupied(command: str, out: Path, given, overwrite: bool, o: Output) -> None:
    if not _occupied(out):
        return
    who = owner(out)
    if who is None:
        hint = f"holds no {o.marker}, so it " if o.marker else ""
        raise ConfigError(
            f"{o.what} {str(given)!r} exists and {hint}is not a gbltr output folder; refusing to replace it "
            f"(and the files in it): choose another {o.option}"
        )
    if command not in who:
        raise ConfigError(
            f"{o.what} {str(given)!r} is an output folder of 'gbltr {who[0]}', not of 'gbltr {command}'; "
            f"expected an empty or new folder, or one 'gbltr {command}' wrote (--overwrite replaces only "
            f"those): choose another {o.option}"
        )
    if not overwrite:
        raise ConfigError(
            f"{o.what} {str(given)!r} already exists; pass --overwrite to replace it whole, or "
            f"choose another {o.option}"
        )


def write_errno(exc: BaseException) -> int | None:
    """The errno of a failed write: an :class:`OSError`'s, or one that a library (Polars, Arrow)
    quotes in its message as ``(os error N)`` or ``[Errno N]``; None when ``exc`` is not one of
    :data:`WRITE_ERRNOS`."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code is None:
        m = re.search(r"\(os error (\d+)\)|\[errno (\d+)\]", str(exc), flags=re.IGNORECASE)
        if m:
            code = int(m.group(1) or m.group(2))
    return code if code in WRITE_ERRNOS else None


def write_error(what: str, path: Path, exc: BaseException, code: int) -> WriteError:
    """The one error for a failed write of output ``path`` (``what``: "run folder", ...)."""
    where = Path(str(getattr(exc, "filename", None) or "")).name
    detail = f" (writing {where})" if where and where != path.name and not where.startswith(".") else ""
    fix = {_errno.ENOSPC: "free some space, or write elsewhere",
           _errno.EDQUOT: "free some space (the disk quota is reached), or write elsewhere",
           _errno.EROFS: "write to a writable file system",
           _errno.ENAMETOOLONG: "choose a shorter path"}.get(code, "write elsewhere")
    return WriteError(
        f"{what} {str(path)!r} could not be written: {os.strerror(code)}{detail}; nothing was changed "
        f"there (temporary files removed, an older output left as it was): {fix}"
    )


@contextlib.contextmanager
def writing(what: str, path: str | Path):
    """Turn a failed write (:func:`write_errno`) inside the block into :func:`write_error` naming
    ``path`` (``what``: "agreement folder", ...); for outputs written file by file in place."""
    try:
        yield
    except Exception as exc:
        code = write_errno(exc)
        if code is None:
            raise
        raise write_error(what, Path(path), exc, code) from None


def write_file(path: str | Path, write: Callable[[Path], object], *, what: str = "output file") -> Path:
    """Write one file atomically: ``write(tmp)`` fills a temporary sibling, which then replaces
    ``path``. A failed write (disk full, read-only) raises :class:`WriteError` naming ``path``,
    removes the temporary file and leaves an old ``path`` as it was."""
    path = resolve(path)
    tmp = sibling(path, f"tmp-{uuid.uuid4().hex[:8]}")
    try:
        with writing(what, path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


# ---------------------------------------------------------------- locks and process identity

def process_start(pid: int) -> str | None:
    """Process ``pid``'s start time (field 22 of ``/proc/PID/stat``, clock ticks since boot), or
    None where it cannot be read (no ``/proc``: then only the process id identifies a lock holder)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def holder_alive(pid: int, start: str | None) -> bool:
    """Whether the process that wrote a lock (``pid``, its recorded ``start`` time) still runs.
    A live process with the same id but another start time is a reused id: the holder is gone.
    Without a recorded or readable start time, the id alone decides (the safe side)."""
    if pid <= 0 or not _pid_alive(pid):
        return False
    if start is None:
        return True
    now = process_start(pid)
    return now is None or now == start


def _identity() -> str:
    return f"{os.getpid()} {process_start(os.getpid()) or '-'}"


def _read_holder(lock: Path) -> tuple[int, str | None]:
    try:
        fields = lock.read_text().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError):
        return -1, None
    start = fields[1] if len(fields) > 1 and fields[1] != "-" else None
    return pid, start


def _take_lock(lock: Path, out: Path, kind: str) -> None:
    """Create ``lock`` holding this process id and start time. They are written to a private file
    first and hard-linked into place (atomic, fails if the lock exists), so a lock is never seen
    empty: a half-written lock must not pass for a stale one and be taken over."""
    for _ in range(2):
        mine = sibling(out, f"lock.{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            mine.write_text(f"{_identity()}\n")
            os.link(mine, lock)
        except FileExistsError:
            pid, start = _read_holder(lock)
            if holder_alive(pid, start):
                raise ConfigError(
                    f"{kind} {str(out)!r} is being written by another gbltr process (pid {pid}, lock "
                    f"{lock}); expected one run per folder: wait for it or choose another --out"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone (or its id was reused)
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


@contextlib.contextmanager
def scratch_folder(prefix: str = "gbltr-scratch", root: str | Path | None = None):
    """A temporary work folder ``ROOT/PREFIX-PID-START-XXXXXXXX`` (ROOT: the system temporary
    folder), removed when the block ends. Before it is made, sibling folders of the same prefix
    whose process is gone (killed outright, so their own clean-up never ran) are removed: their
    names say which process made them (:func:`holder_alive`)."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-(\w+)-[0-9a-f]{{8}}$")
    with contextlib.suppress(OSError):
        for old in base.glob(f"{prefix}-*"):
            m = pattern.match(old.name)
            if m and old.is_dir():
                pid, start = int(m.group(1)), m.group(2)
                if not holder_alive(pid, None if start == "x" else start):
                    shutil.rmtree(old, ignore_errors=True)
    start = process_start(os.getpid()) or "x"
    folder = base / f"{prefix}-{os.getpid()}-{start}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_run_folder(folder, *, overwrite: bool = False, marker: str = "report.json", kind: str = "run folder",
                     command: str = "fit", inputs: Iterable = (), option: str = "--out") -> Path:
    """Check, before any work, that output folder ``folder`` of ``command`` can be written
    (:func:`check_outputs` with this one folder); return it resolved. ``marker``: the file a
    folder of this kind holds, named when a folder is refused as not gbltr's."""
    o = Output(folder, option=option, what=kind, folder=True, marker=marker)
    return check_outputs(command, [o], inputs, overwrite=overwrite)[0]


def _occupied(out: Path) -> bool:
    return out.is_dir() and any(out.iterdir())


@contextlib.contextmanager
def run_folder(folder, *, overwrite: bool = False, marker: str = "report.json", kind: str = "run folder",
               command: str = "fit", inputs: Iterable = (), option: str = "--out"):
    """Claim output folder ``folder`` of ``command`` before any work and yield an empty temporary
    sibling to fill.

    ``kind`` names the folder in messages ("run folder", "dataset folder"); ``inputs``: what the
    command reads (:func:`check_outputs`). Checks at once (:func:`check_run_folder`), takes
    ``.NAME.lock`` and writes :data:`OWNER_FILE` into the temporary folder. When the block ends
    normally the temporary folder replaces ``folder`` whole; on an error it is removed and
    ``folder`` is left as it was. A failed write (disk full, read-only) is a :class:`WriteError`.
    """
    inputs = list(inputs)
    out = check_run_folder(folder, overwrite=overwrite, marker=marker, kind=kind, command=command,
                           inputs=inputs, option=option)
    parent = out.parent
    lock = sibling(out, "lock")
    _take_lock(lock, out, kind)
    try:  # again under the lock: a run may have just finished
        check_run_folder(folder, overwrite=overwrite, marker=marker, kind=kind, command=command,
                         inputs=inputs, option=option)
    except ConfigError:
        lock.unlink(missing_ok=True)
        raise
    prefix = _sibling_prefix(out)
    for leftover in (*parent.glob(f"{glob_escape(prefix)}tmp-*"), *parent.glob(f"{glob_escape(prefix)}old-*")):
        shutil.rmtree(leftover, ignore_errors=True)  # of runs that were killed: a live run holds the lock
    tmp = sibling(out, f"tmp-{uuid.uuid4().hex[:8]}")
    try:
        with writing(kind, out):
            try:
                tmp.mkdir()
                (tmp / OWNER_FILE).write_text(json.dumps({"command": command}) + "\n")
            except OSError as exc:
                if write_errno(exc) is not None:
                    raise
                raise ConfigError(f"{kind} {str(out)!r}: cannot write in {str(parent)!r} ({exc.strerror})") from None
            yield tmp
            if _occupied(out):
                if not overwrite:
                    raise ConfigError(
                        f"{kind} {str(out)!r} appeared while this run was working; pass --overwrite "
                        "to replace it, or choose another --out"
                    )
                old = sibling(out, f"old-{uuid.uuid4().hex[:8]}")
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


def glob_escape(text: str) -> str:
    """``text`` with the glob characters ``*?[`` escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)
