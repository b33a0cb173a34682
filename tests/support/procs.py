"""Running the installed ``regsync`` console script as a real process, and waiting for
what a running one does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Every wait for a subprocess or a condition is bounded by this: a guard against a hang,
# never a performance budget (a loaded machine only makes the wait longer, never wrong).
HANG_GUARD = 60.0


def regsync_argv() -> list[str]:
    """The installed console script: beside the interpreter running the tests, else on PATH."""
    beside = Path(sys.executable).parent / "regsync"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("regsync")
    if found:
        return [found]
    return [sys.executable, "-m", "regsync"]


def regsync_env(**extra: str) -> dict[str, str]:
    """The test's environment without any REGSYNC_* setting, no pacing delay, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGSYNC_")}
    env["REGSYNC_DELAY"] = "0"
    # The fill-in of missed versions is off unless a test turns it on (REGSYNC_FILL_IN="1").
    env["REGSYNC_FILL_IN"] = "0"
    env.update(extra)
    return env


def _argv(db: Path, url: str | None, args: tuple[str, ...]) -> list[str]:
    argv = [*regsync_argv(), "--db", str(db)]
    if url is not None:
        argv += ["--api-url", url]
    return [*argv, *args]


def run_regsync(
    db: Path, url: str | None, *args: str, timeout: float = HANG_GUARD, **env: str
) -> subprocess.CompletedProcess[str]:
    """``regsync --db DB [--api-url URL] ARGS...`` to completion, output captured as text."""
    return subprocess.run(
        _argv(db, url, args), capture_output=True, text=True, env=regsync_env(**env), timeout=timeout
    )


def popen_regsync(db: Path, url: str | None, *args: str, **env: str) -> subprocess.Popen[str]:
    """The same, started in the background; the caller communicates, kills and waits."""
    return subprocess.Popen(
        _argv(db, url, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=regsync_env(**env),
    )


def wait_for(predicate: Callable[[], object], timeout: float = HANG_GUARD, poll: float = 0.01,
             what: str = "the condition") -> None:
    """Poll until ``predicate()`` is true; AssertionError after ``timeout`` (a hang guard)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def has_open(pid: int, path: Path | str) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux /proc): e.g. a writer that reached
    its lock file and is waiting for the lock."""
    target = os.path.realpath(path)
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:  # the process has gone
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == target:
                return True
        except OSError:  # closed meanwhile
            continue
    return False
