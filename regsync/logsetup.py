"""Where regsync's log goes: stderr with ``-v`` (INFO) or ``-vv`` (DEBUG), a file with
``--log-file`` (always DEBUG: the full story of a run). Imported only when one of them is
asked for, or a writer needs its warnings silenced: a read command never loads logging."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# user:password@ in a URL (an API mirror behind basic auth): never written to a log.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class RedactingFormatter(logging.Formatter):
    """The standard format, with credentials in any URL replaced by ``***``, whichever part
    of regsync logged the URL."""

    def format(self, record: logging.LogRecord) -> str:
        return _CREDENTIALS.sub("***@", super().format(record))

_KINDS = {
    stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
}


class LogFileError(Exception):
    """The log file cannot be used; the message says why, in one line."""


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_log_file(path: str) -> TextIO:
    """``path`` opened for appending, created 0600 (a log names the API URL and the studies
    asked for). Anything but a regular file is refused before it is opened for writing:
    opening a FIFO with no reader blocks for ever, and a device is no log."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise LogFileError(f"cannot write {path}: {exc.strerror}") from None
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise LogFileError(f"{path} is {_kind(found.st_mode)}, not a regular file")
    try:
        # O_NONBLOCK: should a FIFO appear between the stat and the open, the open fails
        # (ENXIO) or returns at once instead of waiting for a reader; refused just below.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LogFileError(f"cannot write {path}: {exc.strerror}") from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise LogFileError(f"{path} is {_kind(opened.st_mode)}, not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")


class OneWarningHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that, when a write fails (a full disk, a file grown past its limit,
    a closed pipe), says so in one line on stderr once and then stops writing, instead of
    the standard library's ``--- Logging error ---`` traceback for every record after. The
    run itself goes on: its log is not worth a night's sync."""

    def __init__(self, stream: TextIO, where: str, *, owns_stream: bool):
        super().__init__(stream)
        self.where = where
        self.owns_stream = owns_stream
        self.broken = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)

    def flush(self) -> None:
        if self.broken:
            return
        try:
            super().flush()
        except (OSError, ValueError):
            self._give_up()

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.broken:
            self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        exc = sys.exc_info()[1]
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        try:
            sys.stderr.write(f"warning: cannot write to {self.where} ({reason}); logging there stopped\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.owns_stream:
                try:
                    self.stream.close()
                except (OSError, ValueError):
                    pass  # what a full disk kept from being flushed is lost either way


def configure(verbose: int, log_file: str | None) -> None:
    """(Re)configure the ``regsync`` logger. Without -v or a file its records go nowhere
    (not to Python's last-resort handler on stderr). LogFileError if the file is unusable."""
    root = logging.getLogger("regsync")
    stream = open_log_file(log_file) if log_file else None
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, OneWarningHandler):
            old.close()
    root.setLevel(logging.DEBUG)
    fmt = RedactingFormatter(FORMAT)
    if verbose:
        console = OneWarningHandler(sys.stderr, "stderr", owns_stream=False)
        console.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        console.setFormatter(fmt)
        root.addHandler(console)
    if stream is not None and log_file:
        logfile = OneWarningHandler(stream, f"the log file {log_file}", owns_stream=True)
        logfile.setLevel(logging.DEBUG)
        logfile.setFormatter(fmt)
        root.addHandler(logfile)
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    root.propagate = False
