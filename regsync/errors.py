"""Domain errors. Each carries a sentence a user can act on; the CLI prints it as one line.

Exit codes are part of the contract with cron and scripts (documented in README.md):
0 success, 1 a study or the run failed, 2 usage error, 3 another regsync holds the write
lock, 4 the local database cannot be used, 5 a notification could not be delivered (the sync
is stored).
"""

from __future__ import annotations


class RegsyncError(Exception):
    """Base class: an expected failure with a one-line message."""

    exit_code = 1


class UsageError(RegsyncError):
    """The user asked for something that cannot be: bad ID, unknown version, bad option."""

    exit_code = 2


class InvalidNctId(UsageError):
    def __init__(self, value: str, why: str | None = None):
        self.value = value
        super().__init__(
            f"invalid NCT ID {value!r}: {why or 'expected NCT followed by up to 8 digits (e.g. NCT07240987)'}"
        )


class UnknownStudy(RegsyncError):
    def __init__(self, nct_id: str):
        self.nct_id = nct_id
        super().__init__(f"{nct_id} is not in the database (run: regsync sync {nct_id})")


class UnknownVersion(UsageError):
    pass


class FetchError(RegsyncError):
    """A study could not be fetched; the run goes on with the others."""


class StudyNotFound(FetchError):
    def __init__(self, nct_id: str):
        self.nct_id = nct_id
        super().__init__(f"{nct_id} not found in the registry (HTTP 404)")


class ApiUnavailable(FetchError):
    """The registry did not answer usefully after every retry (5xx, 429, timeouts, resets)."""


class ApiUnreachable(ApiUnavailable):
    """No attempt reached a server (refused, unresolvable, no route): asking for anything
    else from the same host would fail the same way."""


class BadResponse(FetchError):
    """The registry answered 200 but the body is not a usable study record."""


class BadArchive(RegsyncError):
    """A bulk download (``regsync seed``) that is not a complete zip, or cannot be read."""


class NotificationFailed(RegsyncError):
    """The sync is stored, but a notification (webhook, e-mail) could not be delivered."""

    exit_code = 5


class StoreError(RegsyncError):
    """The local database cannot be used: missing directory, read-only, not SQLite, too new."""

    exit_code = 4


class LockBusy(RegsyncError):
    """Another regsync process is writing to the same database."""

    exit_code = 3


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service stop, `kill`, a cron timeout): handled like Ctrl-C, so the run is
    recorded as interrupted and what was stored stays whole; the command exits 143."""

    exit_code = 143


class NotTheApi(RegsyncError):
    """What answers at the API URL is not the ClinicalTrials.gov API (a wrong ``--api-url``),
    or refuses the credentials given: the run stops as a whole, before a 404 could be taken
    for a removed study."""


class ClientRefused(NotTheApi):
    """The registry answered HTTP 403 to a request without credentials: it screens clients
    (its website endpoints by their TLS handshake), so every request would fail alike."""
