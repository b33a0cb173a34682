"""One bad record costs only itself (issue 11 items 1 and 3), through `regsync sync`.

Thirty watched studies, all edited overnight, fetched in one ``filter.ids`` batch (mocked
with ``responses``); the first record is malformed. Its oddities are changes it reports; a
record that cannot be stored at all is one error line and one ledger row, and the other 29
are stored. The hypothesis fuzzer over field types is tests/test_fuzz_records.py.
"""

from __future__ import annotations

import sqlite3

import orjson
import responses

from regsync.client import ApiClient, ClientConfig, FetchedStudy
from regsync.model import Change, RunOutcome, StudyStatus
from regsync.store import Store
from regsync.sync import run_sync
from support.fakeapi import mutate, synthesize
from support.mocks import API, mock_study, mock_version
from support.records import load
from support.results import summary

N = 30
DEEP = 1000  # the registry's JSON parser accepts 1024 levels; no JSON writer here reaches 1000


def page(records: list[dict], first: bytes | None = None) -> bytes:
    """A /studies answer; ``first`` replaces the first record's bytes."""
    bodies = [orjson.dumps(r) for r in records]
    if first is not None:
        bodies[0] = first
    return b'{"studies":[' + b",".join(bodies) + b"]}"


def synced_thirty(api, run) -> tuple[list[str], list[dict]]:
    """30 watched studies stored as v1; returns their IDs and the next night's edits."""
    records = list(synthesize(N))
    ids = [r["protocolSection"]["identificationModule"]["nctId"] for r in records]
    mock_version(api)
    api.get(f"{API}/studies", body=page(records), content_type="application/json")
    assert run("watch", "add", *ids).exit_code == 0
    assert run("sync", "--quiet").exit_code == 0
    return ids, [mutate(r, "2026-09-05") for r in records]


def ledger(db_path) -> tuple[tuple, list[tuple]]:
    with sqlite3.connect(db_path) as conn:
        run_id, outcome, errors = conn.execute("SELECT id, outcome, errors FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        rows = conn.execute("SELECT nct_id, error FROM run_errors WHERE run_id = ?", [run_id]).fetchall()
    return (outcome, errors), rows


def current_versions(db_path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT nct_id, current_version FROM studies"))


def test_malformed_values_are_changes_and_all_thirty_edits_are_stored(api, run, db_path):
    ids, edited = synced_thirty(api, run)
    bad = edited[0]
    status = bad["protocolSection"]["statusModule"]
    status["primaryCompletionDateStruct"] = {"date": "2027-02-30", "type": "ESTIMATED"}
    status["overallStatus"] = {"value": "RECRUITING"}
    bad["protocolSection"]["armsInterventionsModule"]["armGroups"][0]["label"] = {"en": "Arm A"}
    bad["protocolSection"]["identificationModule"]["briefTitle"] = ["not", "text"]
    api.replace(responses.GET, f"{API}/studies", body=page(edited), content_type="application/json")

    result = run("sync", "--full", "--json")
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(x["nct_id"], x["status"], x["version"]) for x in lines] == [(i, "changed", 2) for i in ids]
    assert set(lines[0]["categories"]) >= {"status", "dates", "arms", "identification"}
    assert current_versions(db_path) == {i: 2 for i in ids}
    assert ledger(db_path) == (("ok", 0), [])
    # What the classifier could not interpret is said as what it is.
    shown = run("changes", "--nct", ids[0], "--json")
    summaries = {c["summary"] for c in orjson.loads(shown.stdout)}
    assert "Overall status: COMPLETED -> value RECRUITING" in summaries
    assert any(s.startswith("Brief title: ") and s.endswith(" -> not; text") for s in summaries)
    assert any(s.startswith("Primary completion date: ") and s.endswith(": not a valid date") for s in summaries)


def test_a_record_that_cannot_be_stored_fails_alone_the_run_is_partial(api, run, db_path):
    ids, edited = synced_thirty(api, run)
    edited[0]["protocolSection"]["nested"] = "@DEEP@"
    first = orjson.dumps(edited[0]).replace(b'"@DEEP@"', b"[" * DEEP + b"]" * DEEP)
    api.replace(responses.GET, f"{API}/studies", body=page(edited, first), content_type="application/json")

    result = run("sync", "--full")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {ids[0]}: record not stored (hashing it failed: RecursionError: ")
    assert errors[0].endswith("); stored versions kept")
    assert result.stderr.splitlines()[-1] == summary(N, changed=N - 1, failed=1, mode="full", requests=2)
    assert sorted(result.stdout.splitlines()) == sorted(f"{i} changed v1 -> v2 [minor]: enrollment" for i in ids[1:])
    assert current_versions(db_path) == {ids[0]: 1, **{i: 2 for i in ids[1:]}}
    (outcome, count), rows = ledger(db_path)
    assert (outcome, count) == ("partial", 1)
    assert rows == [(ids[0], errors[0].removeprefix(f"error: {ids[0]}: "))]


def test_a_judge_that_crashes_costs_only_that_versions_changes(db_path, fake_api, monkeypatch):
    """The library: a judge that raises for one study (any bug, any value) costs that
    version its changes, never the version: it is stored unjudged and judged by the next run;
    the others of the page are stored, judged and told."""
    from regsync import judge
    records = list(synthesize(3))
    registry, server = fake_api(records)
    ids = registry.ids()

    def crash_on_first(old: dict, new: dict) -> list[Change]:
        if new["protocolSection"]["identificationModule"]["nctId"] == ids[0]:
            raise KeyError("armGroups")
        return []

    told = []
    with Store.open_write(db_path) as store:
        client = ApiClient(ClientConfig(api_url=server.url, delay=0), sleep=lambda s: None)
        run_sync(store, client, ids)
        for r in records:
            registry.add(mutate(r, "2026-09-05"))
        real = judge.diff_records
        monkeypatch.setattr(judge, "diff_records", crash_on_first)
        report = run_sync(store, client, ids, force=True, on_outcome=told.append)
        assert [(o.nct_id, o.status, o.version) for o in told] == [
            (ids[0], StudyStatus.CHANGED, "2"), (ids[1], StudyStatus.CHANGED, "2"), (ids[2], StudyStatus.CHANGED, "2"),
        ]
        assert report.outcome is RunOutcome.OK
        assert store.unsettled_studies() == [ids[0]]
        monkeypatch.setattr(judge, "diff_records", real)
        judge.settle_pending(store)  # what the next run does first
        assert store.unsettled_studies() == []


# -- issue 11 item 3: two copies of one study in one answer ------------------------------------


def two_copies(api, run, first_post: str, second_post: str) -> tuple[object, list[str]]:
    ids, edited = synced_thirty(api, run)
    one = mutate(edited[0], first_post)
    one["protocolSection"]["identificationModule"]["briefTitle"] = "First copy"
    other = mutate(edited[0], second_post)
    other["protocolSection"]["identificationModule"]["briefTitle"] = "Second copy"
    answer = [one, *edited[1:15], other, *edited[15:]]
    api.replace(responses.GET, f"{API}/studies", body=page(answer), content_type="application/json")
    return run("-v", "sync", "--full"), ids


def stored_title(db_path, nct_id: str) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT brief_title FROM studies WHERE nct_id = ?", [nct_id]).fetchone()[0]


def test_of_two_differing_copies_the_later_updated_is_kept_and_counted_once(api, run, db_path):
    result, ids = two_copies(api, run, "2026-09-06", "2026-09-05")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == N and sorted(line.split()[0] for line in lines) == sorted(ids)
    assert [line for line in lines if line.startswith(ids[0])] == [f"{ids[0]} changed v1 -> v2 [minor]: enrollment, identification"]
    assert result.stderr.splitlines()[-1] == summary(N, changed=N, mode="full", requests=2)
    assert current_versions(db_path) == {i: 2 for i in ids}
    assert stored_title(db_path, ids[0]) == "First copy"
    assert [line.split(" ", 2)[2] for line in result.stderr.splitlines() if "copies in one answer" in line] == [
        f"WARNING regsync.sync: {ids[0]}: 2 differing copies in one answer; kept the one last updated 2026-09-06"
    ]


def test_of_two_copies_updated_the_same_day_the_later_in_the_answer_is_kept(api, run, db_path):
    result, ids = two_copies(api, run, "2026-09-05", "2026-09-05")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == summary(N, changed=N, mode="full", requests=2)
    assert stored_title(db_path, ids[0]) == "Second copy"
    assert current_versions(db_path)[ids[0]] == 2
    assert any(f"{ids[0]}: 2 differing copies" in line for line in result.stderr.splitlines())


# -- a /version dataTimestamp that is not text -------------------------------------------------


def test_a_data_timestamp_that_is_not_text_is_ignored_not_stored(api, run, db_path):
    """A list or object as dataTimestamp cannot say whether the data moved: the run syncs
    (never "nothing to do" on a garbage value seen twice) and stores no timestamp."""
    api.get(f"{API}/version", json={"apiVersion": "2.0.5", "dataTimestamp": {"at": "2026-09-04"}})
    mock_study(api, load("NCT07240987"))
    first = run("sync")
    assert first.exit_code == 0, first.output
    second = run("sync")
    assert second.exit_code == 0
    assert second.stdout == "NCT07240987 unchanged (v1)\n"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT DISTINCT data_timestamp FROM runs").fetchall() == [(None,)]


# -- issue 11 item 2: a module gone is not "no protocol change" ----------------------------


def test_a_status_module_turned_null_is_a_major_change_not_bookkeeping(api, run, db_path):
    mock_version(api)
    mock_study(api, load("NCT07240987"))
    run("sync")
    broken = load("NCT07240987")
    broken["protocolSection"]["statusModule"] = None
    api.replace(responses.GET, f"{API}/studies/NCT07240987", json=broken)
    result = run("sync", "--force")
    assert result.exit_code == 0, result.output
    assert result.stdout == "NCT07240987 changed v1 -> v2 [major]: status, dates\n"


def test_a_deeply_nested_record_once_stored_can_be_shown_and_diffed(run, db_path):
    """Nesting past orjson's 254 levels is stored (the stdlib writer takes over); the read
    commands print it too instead of a traceback."""
    deep: object = "bottom"
    for _ in range(400):
        deep = [deep]
    odd = load("NCT07240987")
    odd["protocolSection"]["nested"] = deep
    with Store.open_write(db_path) as store:
        store.save_page([FetchedStudy("NCT07240987", "NCT07240987", load("NCT07240987"), "u")])
        store.save_page([FetchedStudy("NCT07240987", "NCT07240987", odd, "u")])
    shown = run("show", "NCT07240987")
    assert shown.exit_code == 0
    assert orjson.loads(shown.stdout)["protocolSection"]["nested"] == deep
    diffed = run("diff", "NCT07240987", "--json")
    assert diffed.exit_code == 0
    (change,) = orjson.loads(diffed.stdout)["changes"]
    assert change["path"] == "protocolSection.nested" and change["new"] == deep


def test_a_judge_that_raises_through_regsync_sync_keeps_the_version(fake, run, db_path, monkeypatch):
    """Issue 20 item 1: the version is stored, the error recorded once in the ledger, the
    study marked unjudged; the next run (the judge working again) judges it."""
    from regsync import judge

    registry, server = fake
    nct = "NCT07240987"
    assert run("sync", nct, api_url=server.url).exit_code == 0
    registry.add(mutate(registry.get(nct), "2026-09-05"))

    def broken(old: dict, new: dict) -> list:
        raise KeyError("'+word+'")  # what str.format made of registry text

    monkeypatch.setattr(judge, "diff_records", broken)
    result = run("sync", nct, "--force", api_url=server.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{nct} changed v1 -> v2")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone() == (2,)
        assert conn.execute("SELECT judged_prev FROM versions WHERE version = 2").fetchone() == (None,)
        (error,) = conn.execute("SELECT error FROM run_errors").fetchall()
    assert error[0].startswith(f"{nct}: version stored, its changes not judged (KeyError: ")
    monkeypatch.undo()
    monkeypatch.setenv("REGSYNC_FILL_IN", "0")
    assert run("sync", nct, "--force", api_url=server.url).exit_code == 0  # judged first thing
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT judged_prev FROM versions WHERE version = 2").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM changes WHERE to_version = 2").fetchone()[0] > 0
