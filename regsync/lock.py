"""One writer at a time: an advisory lock file beside the database.

The lock belongs to the file, not to the path string: it is ``<real path>.lock``, with
symlinks resolved, so ``/srv/trials.db``, ``./trials.db`` and a symlink to it all meet the
same lock. (A hard link is a second name SQLite cannot share a journal across: the store
refuses to write through one.)

flock() is released by the kernel when the holder dies, however it dies (SIGKILL included),
so a killed sync never leaves a stale lock behind. Readers never take it: WAL lets them read
while a sync writes. ``regsync.store.Store.open_write`` takes it; nothing else needs to.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from types import TracebackType

from regsync.errors import LockBusy, StoreError


class WriteLock:
    """``<real path of db>.lock``, held with flock(). ``clock`` and ``sleep`` are injectable so
    a test can wait out ``--wait`` without waiting for real."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.db_path = os.fspath(db_path)  # as the user wrote it, for messages
        self.path = os.path.realpath(self.db_path) + ".lock"
        self._fd: int | None = None
        self._clock = clock
        self._sleep = sleep

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0, poll: float = 0.1) -> None:
        """Take the lock, retrying every ``poll`` seconds for up to ``wait`` seconds; LockBusy
        (exit 3) naming the holder's pid when it stays taken."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
        deadline = self._clock() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self._clock() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise LockBusy(
                        f"another regsync{holder} is writing to {self.db_path}{waited}; "
                        "try again later or pass --wait SECONDS"
                    ) from None
                self._sleep(poll)
        # The holder's pid, for the message a second writer prints.
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk (ENOSPC), a quota: one line, nothing held
            os.close(fd)
            raise StoreError(f"cannot write lock file {self.path}: {exc.strerror}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
