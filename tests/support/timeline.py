"""A study with a history worth drawing: NCT07240987 stored four times (registered,
recruiting with an ACTUAL start, a primary completion slip, then active with its first primary
outcome given a population (detail), its eligibility edited and its completion date moved), beside NCT00763412
stored once. Used by the report and Datasette tests."""

from __future__ import annotations

import copy

import responses

from support.cli import Cli
from support.mocks import mock_study, mock_version
from support.records import edit, load

NCT = "NCT07240987"
OTHER = "NCT00763412"


def versions() -> list[dict]:
    """The four versions of NCT07240987, oldest first."""
    v1 = load(NCT)
    v2 = edit(v1, "2026-02-01", overallStatus="RECRUITING", startDateStruct={"date": "2026-01-20", "type": "ACTUAL"})
    v3 = edit(v2, "2026-06-01", primaryCompletionDateStruct={"date": "2027-12-31", "type": "ESTIMATED"})
    v4 = copy.deepcopy(v3)
    protocol = v4["protocolSection"]
    outcome = protocol["outcomesModule"]["primaryOutcomes"][0]
    outcome["measure"] += " in the per-protocol population"
    eligibility = protocol["eligibilityModule"]
    eligibility["eligibilityCriteria"] = eligibility["eligibilityCriteria"].replace("18", "21", 1)
    v4 = edit(v4, "2026-09-01", overallStatus="ACTIVE_NOT_RECRUITING",
              completionDateStruct={"date": "2029-06-30", "type": "ESTIMATED"})
    return [v1, v2, v3, v4]


def store_history(run: Cli) -> list[dict]:
    """Sync the four versions (and NCT00763412 with the first) into ``run``'s database;
    returns the versions."""
    history = versions()
    for n, record in enumerate(history):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
            mock_version(api)
            mock_study(api, record)
            ids = [NCT]
            if n == 0:
                mock_study(api, load(OTHER))
                ids.append(OTHER)
            result = run("sync", "--force", *ids)
            assert result.exit_code == 0, result.output
    return history
