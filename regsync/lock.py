"""One writer at a time: an advisory lock file beside the database.

flock() is released by the kernel when the holder dies, however it dies (SIGKILL included),
so a killed sync never leaves a stale lock behind. Readers never take it: WAL lets them read
while a sync writes.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable

from regsync.errors import LockBusy, StoreError


class WriteLock:
    def __init__(self, db_path: str, *, clock: Callable[[], float] = time.monotonic):
        self.path = os.fspath(db_path) + ".lock"
        self._fd: int | None = None
        self._clock = clock

    def acquire(self, wait: float = 0.0, poll: float = 0.1) -> None:
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
                        f"another regsync{holder} is writing to {self.path[:-5]}{waited}; "
                        "try again later or pass --wait SECONDS"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
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

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
