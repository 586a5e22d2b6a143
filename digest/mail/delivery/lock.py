"""One send at a time per state file: an exclusive flock on a file beside it, which names its holder."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from digest.config import Settings
from digest.errors import SendBusy, SendRefused

LOCK_NOTE = 128  # bytes of "pid issue" in the lock file


def lock_path(settings: Settings) -> Path:
    state = settings.state_path
    return state.with_name(state.name + ".send.lock")


class SendLock:
    """An exclusive flock on a file beside the state file; the kernel releases it when the process dies."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def note(self, issue_id: str | None) -> None:
        """Tell a second send who holds the lock and for which issue (one fixed-size write: never half empty)."""
        os.pwrite(self.fd, f"{os.getpid()} {issue_id or ''}".ljust(LOCK_NOTE - 1).encode()[: LOCK_NOTE - 1] + b"\n", 0)


def _holder(fd: int) -> tuple[str, str | None]:
    """The pid and issue the lock's holder wrote; it may not have written them yet, so wait a moment for a
    live pid (the file may still hold a dead process's note)."""
    deadline = time.monotonic() + 2.0
    while True:
        words = os.pread(fd, LOCK_NOTE, 0).decode(errors="replace").split()
        if words and words[0].isdigit():
            try:
                os.kill(int(words[0]), 0)
                return words[0], words[1] if len(words) > 1 else None
            except ProcessLookupError:
                pass
            except PermissionError:  # alive, under another user
                return words[0], words[1] if len(words) > 1 else None
        if time.monotonic() > deadline:
            return "unknown", None
        time.sleep(0.02)


@contextmanager
def send_lock(settings: Settings) -> Iterator[SendLock]:
    path = lock_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise SendRefused(f"the send lock {path} cannot be made ({error.strerror or error})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid, issue_id = _holder(fd)
        os.close(fd)
        what = f"a send of issue {issue_id}" if issue_id else "a send"
        raise SendBusy(
            f"{what} is already running (pid {pid}) with the state file {settings.state_path}; "
            "this one stopped without sending anything"
        ) from None
    lock = SendLock(fd)
    try:
        lock.note(None)
        yield lock
    finally:
        os.close(fd)
