"""The report in a real browser (issue 14 item 3): Debian's chromium, headless, driven by
Playwright, loads the pages from file:// with JavaScript off, and the chart is there with
one row per version. The screenshot is kept as a test artefact (its path is printed);
REGSYNC_SCREENSHOT=docs/report.png also copies it there (the README's picture).

Skipped only where chromium is absent and REGSYNC_REQUIRE_BROWSER is unset; .ci/run installs
chromium and sets it, so CI never skips this."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.cli import Cli
from support.timeline import NCT, OTHER, store_history

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

if not os.path.exists(CHROMIUM) and not os.environ.get("REGSYNC_REQUIRE_BROWSER"):
    pytest.skip(f"no {CHROMIUM} (apt-get install chromium; CI sets REGSYNC_REQUIRE_BROWSER)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # after the skip: the test extra has it


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    run = Cli(base / "regsync.db")
    store_history(run)
    assert run("watch", "add", NCT, OTHER).exit_code == 0
    result = run("report", "--html", str(base / "site"))
    assert result.exit_code == 0, result.output
    return base / "site"


def test_the_report_in_headless_chromium(site, tmp_path, capsys):
    problems: list[str] = []
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile
            executable_path=CHROMIUM, headless=True, args=ARGS,
            java_script_enabled=False,  # the pages must read without it
            viewport={"width": 1000, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))

            page.goto((site / "index.html").as_uri())
            assert page.title() == "Tracked studies: regsync report"
            assert page.locator("table.studies tbody tr").count() == 2
            # A relative link from file:// to the study's page.
            page.locator(f"table.studies a[href='{NCT}.html']").click()
            page.wait_for_url(f"**/{NCT}.html")

            chart = page.locator("svg.timeline")
            assert chart.get_attribute("data-versions") == "4"
            lanes = chart.locator("g.version")
            assert lanes.count() == 4
            box = chart.bounding_box()
            assert box and box["width"] > 600 and box["height"] > 4 * 25  # laid out, not collapsed
            tops = [lanes.nth(i).bounding_box()["y"] for i in range(4)]  # type: ignore[index]
            assert tops == sorted(tops) and len(set(tops)) == 4  # one row per version, in order
            assert chart.locator(".date.estimated").count() == 9
            assert chart.locator(".date.actual").count() == 3
            assert chart.locator("line.segment.estimated").count() == 8
            assert page.locator("table.dates tbody tr").count() == 4
            assert page.locator("article.changes-of").count() == 3
            assert page.locator("div.wdiff del").first.inner_text() == "18"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert problems == []
    assert {url.split(":", 1)[0] for url in requests} == {"file"}  # nothing fetched from elsewhere
    assert shot.stat().st_size > 20_000
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")
    if os.environ.get("REGSYNC_SCREENSHOT"):
        shutil.copy(shot, os.environ["REGSYNC_SCREENSHOT"])
