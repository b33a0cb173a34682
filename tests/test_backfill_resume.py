"""Issue 20 item 3 (the rest): a backfill stopped by the registry (403, or 429 past the
retries) is resumed by the next `regsync backfill` over the same studies, which skips the
studies the stopped run finished instead of reading every study's index again; a backfill
after a complete one still reads every index (that is how it finds new versions)."""

from __future__ import annotations

import pytest
from support.fakeapi import Fault, history_markup
from support.records import load

STUDIES = ["NCT00763412", "NCT00973089", "NCT02513394", "NCT06131398", "NCT06171568"]


@pytest.fixture
def registry_of_five(fake_api):
    """Five studies, each with a registry history of one version (the current record)."""
    records = [load(nct) for nct in STUDIES]
    registry, server = fake_api(records)
    for record in records:
        status = record["protocolSection"]["statusModule"]
        day = status.get("lastUpdateSubmitDate") or "2025-01-01"
        registry.add_history(record["protocolSection"]["identificationModule"]["nctId"], day, history_markup(record))
    return registry, server


def _index_requests(registry) -> list[str]:
    """The studies whose history index was read (not their versions)."""
    return [r.path.rsplit("/", 1)[-1] for r in registry.requests
            if r.target == "history" and "/history/" not in r.path]


def _stop_after(registry, answered: int, fault: Fault) -> None:
    """The history requests after the first ``answered`` meet ``fault`` (every one)."""
    seen = {"n": 0}
    original = registry._next_fault

    def scripted(target):
        if target == "history":
            seen["n"] += 1
            if seen["n"] > answered:
                return fault
        return original(target)

    registry._next_fault = scripted
    registry.restore = lambda: setattr(registry, "_next_fault", original)


@pytest.mark.parametrize("fault", [Fault.status(403), Fault.status(429, retry_after="1")],
                         ids=["403", "429"])
def test_a_stopped_backfill_resumes_where_it_stopped(registry_of_five, run, fault):
    registry, server = registry_of_five
    assert run("sync", *STUDIES, api_url=server.url).exit_code == 0
    registry.reset_log()
    # Each study costs two history requests (its index, its one version confirmed): the
    # registry refuses after the second study.
    _stop_after(registry, 4, fault)
    stopped = run("backfill", *STUDIES, "--retries", "0", api_url=server.url)
    assert stopped.exit_code == 1
    assert f"error: backfill stopped at {STUDIES[2]}" in stopped.stderr
    assert _index_requests(registry) == STUDIES[:3]

    registry.restore()
    registry.reset_log()
    resumed = run("backfill", *STUDIES, api_url=server.url)
    assert resumed.exit_code == 0, resumed.output
    # Only the study it stopped at and the ones it never reached: no index read twice.
    assert _index_requests(registry) == STUDIES[2:]
    assert resumed.stderr.rstrip().endswith(
        "continues stopped run 2: 2 studies it finished not read again"
    ), resumed.stderr

    registry.reset_log()  # after a complete backfill, a fresh one reads every index again
    again = run("backfill", *STUDIES, api_url=server.url)
    assert again.exit_code == 0
    assert _index_requests(registry) == STUDIES
    assert "continues" not in again.stderr


def test_a_resume_of_a_resume_keeps_what_both_finished(registry_of_five, run):
    registry, server = registry_of_five
    assert run("sync", *STUDIES, api_url=server.url).exit_code == 0
    _stop_after(registry, 2, Fault.status(403))  # the first study only
    assert run("backfill", *STUDIES, api_url=server.url).exit_code == 1
    registry.restore()
    _stop_after(registry, 2, Fault.status(403))  # one more
    assert run("backfill", *STUDIES, api_url=server.url).exit_code == 1
    registry.restore()
    registry.reset_log()
    assert run("backfill", *STUDIES, api_url=server.url).exit_code == 0
    assert _index_requests(registry) == STUDIES[2:]


def test_a_backfill_of_other_studies_is_not_a_resume(registry_of_five, run):
    registry, server = registry_of_five
    assert run("sync", *STUDIES, api_url=server.url).exit_code == 0
    _stop_after(registry, 4, Fault.status(403))
    assert run("backfill", *STUDIES, api_url=server.url).exit_code == 1
    registry.restore()
    registry.reset_log()
    assert run("backfill", *STUDIES[:4], api_url=server.url).exit_code == 0
    assert _index_requests(registry) == STUDIES[:4]
