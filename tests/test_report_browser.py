"""The report in a real browser (issue 14 item 3): Debian's chromium, headless, driven by
Playwright, loads the pages from file:// with JavaScript off, and the chart is there with
one row per version. The screenshot is kept as a test artefact (its path is printed);
REGSYNC_SCREENSHOT=docs/report.png also copies it there (the README's picture).

On a phone (issue 22 item 1): at 400 px the page itself never scrolls sideways, no text is
smaller than 11 px, tables scroll in their own box and the chart keeps a readable width in
its scroll box. Screenshots at 1280 and 400 px: REGSYNC_SCREENSHOTS=docs/ writes
report-1280.png and report-400.png (index and study page, one above the other is not
possible without a script: the study page, the one people read on a phone).

Skipped only where chromium is absent and REGSYNC_REQUIRE_BROWSER is unset; .ci/run installs
chromium and sets it, so CI never skips this."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
from support.cli import Cli
from support.history import StaticHistory
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


# What a computed style says, read by the browser itself (Playwright evaluates in the page's
# isolated world, which works with the page's own JavaScript off).
SMALLEST_TEXT = """() => {
  const sizes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (el.closest('.sr-only')) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    let px = parseFloat(getComputedStyle(el).fontSize);
    const svg = el.closest('svg');
    if (svg && svg.viewBox.baseVal && svg.viewBox.baseVal.width) {
      px *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;  // drawn size
    }
    sizes.push([Math.round(px * 10) / 10, node.textContent.trim().slice(0, 30)]);
  }
  sizes.sort((a, b) => a[0] - b[0]);
  return sizes.slice(0, 3);
}"""
PAGE_WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def _overflowing(page) -> list:
    """Elements sticking out of the viewport on the right, other than inside a scroll box."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
      .filter(e => !e.closest('.scroll, .chart-scroll') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map(e => e.tagName + '.' + e.className)""")


@pytest.mark.parametrize("width", [1280, 400])
def test_the_report_reads_on_a_phone_and_a_desktop(site, tmp_path, width, capsys):
    shots = {}
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            java_script_enabled=False, viewport={"width": width, "height": 800},
        )
        try:
            page = context.new_page()
            for name in ("index", NCT):
                page.goto((site / f"{name}.html").as_uri())
                scroll_width, client_width = page.evaluate(PAGE_WIDTH)
                assert scroll_width <= client_width, f"{name}.html is {scroll_width} px wide at {width}"
                assert _overflowing(page) == []
                smallest = page.evaluate(SMALLEST_TEXT)
                assert smallest[0][0] >= 11, f"{name}.html at {width} px: {smallest}"
                # Dates never break at their hyphens ("2026-12-" over "07").
                for date in page.locator(".nowrap").all()[:40]:
                    box = date.bounding_box()
                    assert box is not None and box["height"] < 24, (name, date.inner_text(), box)
                # Every table is whole inside its box: what does not fit scrolls there.
                for table in page.locator("table").all():
                    box = page.evaluate("e => [e.scrollWidth, e.parentElement.scrollWidth]", table.element_handle())
                    assert box[0] <= box[1]
                    assert table.locator("xpath=..").get_attribute("class") == "scroll"
                if name == NCT:
                    chart = page.locator("svg.timeline").bounding_box()
                    assert chart and chart["width"] >= 760  # readable; the box scrolls it on a phone
                    text = page.locator("li.change").first.inner_text()
                    assert " · " in text  # the category stands apart from the summary
                    assert page.locator("p.generated").inner_text().startswith("Generated on ")
                    shots[name] = tmp_path / f"report-{width}.png"
                    page.screenshot(path=str(shots[name]), full_page=True)
                else:
                    assert page.locator("p.generated").inner_text().startswith("Generated on ")
        finally:
            context.close()
    with capsys.disabled():
        print(f"\nreport at {width} px: {shots[NCT]}")
    target = os.environ.get("REGSYNC_SCREENSHOTS")
    if target:
        shutil.copy(shots[NCT], Path(target) / f"report-{width}.png")


# -- a study whose registry history is known (issue 19) ----------------------------------------


def _registry_history(versions: list[dict]) -> StaticHistory:
    """The registry's history of NCT07240987: the registration (2025-11-20), then the four
    versions `store_history` synced, each dated in the index by the day it was posted."""
    registration = copy.deepcopy(versions[0])
    status = registration["protocolSection"]["statusModule"]
    status["lastUpdateSubmitDate"] = "2025-11-20"
    status["lastUpdatePostDateStruct"] = {"date": "2025-11-24", "type": "ACTUAL"}
    registration["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 24
    return StaticHistory([("2025-11-20", registration)] + [
        (v["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"], v) for v in versions
    ])


@pytest.fixture(scope="module")
def registry_site(tmp_path_factory) -> Path:
    from regsync.history import backfill
    from regsync.store import Store

    base = tmp_path_factory.mktemp("registry")
    run = Cli(base / "regsync.db")
    versions = store_history(run)
    with Store.open_write(base / "regsync.db") as store:
        report = backfill(store, _registry_history(versions), None, [NCT])  # type: ignore[arg-type]
        assert not report.failed, report
    result = run("report", "--html", str(base / "site"), NCT)
    assert result.exit_code == 0, result.output
    return base / "site"


def test_a_backfilled_study_reads_in_the_registrys_order_with_its_numbers_and_dates(registry_site, tmp_path, capsys):
    shot = tmp_path / "registry.png"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            java_script_enabled=False, viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.goto((registry_site / f"{NCT}.html").as_uri())
            # The registration first, then the four synced versions: named 1-5 as on the website.
            rows = page.locator("table.dates tbody tr")
            assert [rows.nth(i).get_attribute("data-version") for i in range(rows.count())] == ["1", "2", "3", "4", "5"]
            lanes = page.locator("svg.timeline g.version")
            assert [lanes.nth(i).get_attribute("data-version") for i in range(lanes.count())] == ["1", "2", "3", "4", "5"]
            headings = page.locator("article.changes-of h3")
            texts = [headings.nth(i).inner_text() for i in range(headings.count())]
            assert texts[-1].startswith("v2 submitted 2025-12-24, posted 2025-12-24; detected ")
            assert texts[0].startswith("v5 submitted 2026-09-01, posted 2026-09-01; detected ")
            # Each version's changes link the registry's compare view of it and the one before.
            assert headings.nth(0).locator("a").get_attribute("href") == (
                f"https://clinicaltrials.gov/study/{NCT}?tab=history&a=4&b=5")
            # Each version's number, date and enrollment open the registry's view of that version.
            for i in range(rows.count()):
                hrefs = {a.get_attribute("href") for a in rows.nth(i).locator("a").all()}
                assert hrefs == {f"https://clinicaltrials.gov/study/{NCT}?tab=history&a={i + 1}"}, hrefs
            # The registration's enrollment (24) against the first synced version (32).
            assert "Enrollment: 24 -> 32" in page.locator("article.changes-of[data-version='2']").inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    with capsys.disabled():
        print(f"\nreport screenshot (registry numbering): {shot}")
    if os.environ.get("REGSYNC_SCREENSHOT_REGISTRY"):
        shutil.copy(shot, os.environ["REGSYNC_SCREENSHOT_REGISTRY"])
