"""Atomic file writes: a temporary file beside the target, flushed to disk, then renamed over it,
so a reader (or a job killed halfway) never sees half a file; and the one-line error of a write
that the disk refuses (full, read-only, no permission)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cstp.errors import CstpError

# Exit status of a job whose input was fine but whose disk refused a write (sysexits' EX_TEMPFAIL):
# worth a retry once space is freed, unlike a bad input (status 2), which fails the same way again.
EXIT_WRITE_FAILED = 75


class WriteError(CstpError):
    """The disk refused a write; what was written before is intact."""

    exit_code = EXIT_WRITE_FAILED


def write_atomic(path: str | Path, write: Callable[[Path], object], what: str = "file") -> Path:
    """Call `write(tmp)` to fill a temporary file, then move it to `path` in one step.

    On any failure (a full disk included) the temporary file is removed and the old `path`, if
    any, is left as it was; a refusal of the disk is a WriteError naming `path` and `what`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(
            f"{path.parent}: cannot create the folder for the {what} ({err.strerror})"
        ) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        refusal = _os_error(err)
        if refusal is None:
            raise
        kept = "the previous version is kept" if path.exists() else "it was not created"
        raise WriteError(f"{path}: cannot write the {what} ({refusal}); {kept}") from None
    return path


def _os_error(err: BaseException | None) -> str | None:
    """The OS's reason where `err` is, or wraps, an OSError (torch.save turns a full disk into a
    RuntimeError whose context is the OSError)."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, OSError) and err.errno is not None:
            return err.strerror or str(err)
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def write_text_atomic(path: str | Path, text: str, what: str = "file") -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text), what)


def write_bytes_atomic(path: str | Path, data: bytes, what: str = "file") -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), what)


# Run folders this process holds: {resolved path: open lock file}; held until the process ends.
_held: dict[Path, object] = {}
LOCK_NAME = "lock"


def hold_folder(folder: str | Path) -> None:
    """Take `folder`'s lock for the rest of this process, or raise CstpError naming its holder.

    The lock is an flock on folder/lock, which the kernel drops when its holder dies (kill -9
    included), so a stale file never blocks a new job; the file records the holder's pid and
    host for the message. Taking a folder this process already holds is a no-op.
    """
    folder = Path(folder).resolve()
    if folder in _held:
        return
    path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 (kept open: the lock lives as long as the file)
    except OSError as err:
        raise WriteError(f"{folder}: cannot create the run folder ({err.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "{}"
        handle.close()
        try:
            who = json.loads(holder)
        except json.JSONDecodeError:
            who = {}
        raise CstpError(
            f"{folder}: another process is training this run folder (pid {who.get('pid', '?')} "
            f"on {who.get('host', '?')}, since {who.get('since', '?')}); wait for it to end or "
            "stop it, then run the same command again"
        ) from None
    handle.seek(0)
    handle.truncate()
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}))
    handle.flush()
    _held[folder] = handle


def folder_holder(folder: str | Path) -> dict | None:
    """Who holds `folder`'s lock ({pid, host, since} as hold_folder wrote them), or None when no
    process does. Read from /proc/locks where there is one, which takes no lock (a probe that
    took one could make a job starting that instant fail); elsewhere a shared-lock probe."""
    path = Path(folder) / LOCK_NAME
    try:
        status = path.stat()
    except OSError:
        return None
    if not _is_locked(path, status):
        return None
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _is_locked(path: Path, status: os.stat_result) -> bool:
    table = Path("/proc/locks")
    if table.exists():
        key = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
        for line in table.read_text().splitlines():
            fields = line.replace("->", "").split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == key:
                return True
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
