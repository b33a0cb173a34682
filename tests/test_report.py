"""`regsync report --html DIR` (issue 14 item 3): the static site's exact structure. The same
pages in a real browser: tests/test_report_browser.py."""

from __future__ import annotations

import re
import shutil

import pytest
import responses
from support.cli import Cli
from support.html import parse
from support.mocks import mock_study, mock_version
from support.records import load
from support.timeline import NCT, OTHER, store_history

REGISTRY = f"https://clinicaltrials.gov/study/{NCT}"
HISTORY = f"{REGISTRY}?tab=history"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A database with both studies watched, NCT07240987 with four versions (built once: the
    report only reads it)."""
    db = tmp_path_factory.mktemp("report") / "regsync.db"
    run = Cli(db)
    store_history(run)
    assert run("watch", "add", NCT, OTHER).exit_code == 0
    return db


@pytest.fixture(scope="module")
def site(stored, tmp_path_factory):
    """The report of ``stored``: (its directory, the command's result)."""
    out = tmp_path_factory.mktemp("report") / "site"
    result = Cli(stored)("report", "--html", str(out))
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture
def copied(stored, db_path, run):
    """``run`` on a copy of ``stored``, for tests that change it."""
    shutil.copy(stored, db_path)
    return run


def page(site, name=NCT):
    return parse((site[0] / f"{name}.html").read_text())


def test_report_writes_an_index_and_a_page_per_watched_study(site):
    out, result = site
    assert result.stdout.splitlines() == [
        f"{OTHER} 1 version -> {out}/{OTHER}.html",
        f"{NCT} 4 versions -> {out}/{NCT}.html",
    ]
    assert result.stderr == f"{out}/index.html: 2 studies\n"
    assert sorted(p.name for p in out.iterdir()) == ["NCT00763412.html", "NCT07240987.html", "index.html"]


def test_the_chart_has_one_lane_per_version_estimated_dashed_actual_solid(site):
    doc = page(site)
    svg = doc.find("svg", cls="timeline")
    assert svg.attrs["data-versions"] == "4"
    lanes = svg.find_all("g", cls="version")
    assert [g.attrs["data-version"] for g in lanes] == ["1", "2", "3", "4"]

    def marks(lane, css):
        return [(e.tag, "".join(e.classes - {"date", css})) for e in lane.find_all(cls="date") if css in e.classes]

    # v1: every date estimated; from v2 on the start date is ACTUAL.
    assert marks(lanes[0], "estimated") == [("circle", "start"), ("polygon", "primary"), ("rect", "completion")]
    assert marks(lanes[0], "actual") == []
    for lane in lanes[1:]:
        assert marks(lane, "actual") == [("circle", "start")]
        assert marks(lane, "estimated") == [("polygon", "primary"), ("rect", "completion")]
    every_mark = svg.find_all(cls="date")
    assert len(every_mark) == 12
    for mark in every_mark:  # dashed outline exactly when estimated; filled exactly when actual
        estimated = "estimated" in mark.classes
        assert ("stroke-dasharray" in mark.attrs) == estimated
        assert (mark.attrs["fill"] == "#ffffff") == estimated
    # Lines lead to the primary completion and completion dates, all estimated here: dashed.
    segments = svg.find_all("line", cls="segment")
    assert len(segments) == 8
    assert all("estimated" in s.classes and s.attrs["stroke-dasharray"] == "6 4" for s in segments)


def test_a_slip_moves_the_mark_right_and_status_colours_the_band(site):
    lanes = page(site).find("svg", cls="timeline").find_all("g", cls="version")

    def x_of(lane, shape):
        mark = lane.find(cls=shape)
        return float(mark.attrs.get("cx") or mark.attrs.get("x") or mark.attrs["points"].split(",")[0])

    assert x_of(lanes[2], "primary") > x_of(lanes[1], "primary")  # 2027-06-30 -> 2027-12-31
    assert x_of(lanes[3], "completion") > x_of(lanes[2], "completion")  # 2027-08-31 -> 2029-06-30
    assert x_of(lanes[1], "start") > x_of(lanes[0], "start")  # 2026-01-01 -> 2026-01-20
    bands = [lane.find("rect", cls="band") for lane in lanes]
    assert [sorted(b.classes - {"band"}) for b in bands] == [
        ["status-not-yet-recruiting"], ["status-recruiting"], ["status-recruiting"], ["status-active-not-recruiting"],
    ]
    assert bands[1].attrs["fill"] == bands[2].attrs["fill"] != bands[0].attrs["fill"]


def test_a_completed_study_draws_actual_dates_solid(site):
    svg = page(site, OTHER).find("svg", cls="timeline")
    (lane,) = svg.find_all("g", cls="version")
    # NCT00763412 (2006-11 to 2013-01): its start date has no type, the other two are ACTUAL.
    assert [e.tag for e in lane.find_all(cls="actual") if "date" in e.classes] == ["circle", "polygon", "rect"]
    segments = lane.find_all("line", cls="segment")
    # Primary completion and completion are both 2013-01: one line, to the day they share.
    assert len(segments) == 1 and all("stroke-dasharray" not in s.attrs and "actual" in s.classes for s in segments)
    assert [t.text for t in svg.find_all("text", cls="year")][:2] == ["2006", "2007"]


def test_the_chart_has_text_alternatives(site):
    doc = page(site)
    svg = doc.find("svg", cls="timeline")
    # A group, not an img: an img's links would be hidden from assistive technology.
    assert svg.attrs["role"] == "group"
    title_id, desc_id = svg.attrs["aria-labelledby"], svg.attrs["aria-describedby"]
    assert svg.find("title", id=title_id).text == (
        f"{NCT}: start, primary completion and completion dates in each of 4 stored versions"
    )
    assert "estimated dates are hollow with dashed outlines" in svg.find("desc", id=desc_id).text
    assert [next(c for c in g.children if c.tag == "title").text for g in svg.find_all("g", cls="version")][1] == (
        "v2; RECRUITING; start 2026-01-20 (actual); primary completion 2027-06-30 (estimated); "
        "completion 2027-08-31 (estimated)"
    )
    table = doc.find("table", cls="dates")
    assert table.find("caption").text == "Dates by version (the chart as a table)"
    rows = [[re.sub(r"\s+", " ", c.text).strip() for c in tr.children] for tr in table.find("tbody").find_all("tr")]
    assert rows == [
        ["1", "2025-12-24", "NOT_YET_RECRUITING", "2026-01-01 estimated", "2027-06-30 estimated", "2027-08-31 estimated", "32 estimated"],
        ["2", "2026-02-01", "RECRUITING", "2026-01-20 actual", "2027-06-30 estimated", "2027-08-31 estimated", "32 estimated"],
        ["3", "2026-06-01", "RECRUITING", "2026-01-20 actual", "2027-12-31 estimated", "2027-08-31 estimated", "32 estimated"],
        ["4", "2026-09-01", "ACTIVE_NOT_RECRUITING", "2026-01-20 actual", "2027-12-31 estimated", "2029-06-30 estimated", "32 estimated"],
    ]
    assert doc.find("html").attrs["lang"] == "en"
    assert doc.find("head").find("title").text.startswith(f"{NCT}: Mesenchymal Stem Cells")


def test_every_number_links_to_the_registry(site):
    """Version numbers, dates and enrollment: each one a link (numbers inside the registry's
    own text, an outcome's time frame, stay text)."""
    doc = page(site)
    for table in doc.find_all("table", cls="dates"):
        for cell in table.find("tbody").find_all():
            if cell.tag not in ("td", "th"):
                continue
            for number in re.findall(r"\b\d[\d-]*\b", "".join(p for p in cell.parts if isinstance(p, str))):
                pytest.fail(f"{number!r} in {cell.text!r} is not a link")
    version_cells = doc.find("table", cls="outcomes").find_all("th", scope="row")
    assert [th.find("a").attrs["href"] for th in version_cells] == [HISTORY] * 4
    links = {a.attrs["href"] for a in doc.find_all("a")}
    assert links == {"index.html", REGISTRY, HISTORY}
    for text in doc.find("svg", cls="timeline").find_all("text"):
        if text.text[:1].isdigit() and "year" not in text.classes or text.text.startswith("v"):
            assert text.parent.tag == "a" and text.parent.attrs["href"] == HISTORY, text.text


def test_the_page_is_self_contained(site):
    for name in (NCT, OTHER, "index"):
        text = (site[0] / f"{name}.html").read_text()
        doc = parse(text)
        assert doc.find_all("script") == [] and doc.find_all("link") == [] and doc.find_all("img") == []
        assert not re.search(r"\bsrc=|@import|url\(", text)
        assert all(not a.attrs["href"].startswith("http") or a.attrs["href"].startswith("https://clinicaltrials.gov/study/")
                   for a in doc.find_all("a"))


def test_primary_outcomes_over_time(site):
    rows = page(site).find("table", cls="outcomes").find("tbody").find_all("tr")
    assert [(r.attrs["data-version"], [c.text.strip() for c in r.children][-2:]) for r in rows] == [
        ("1", ["Change in estimated glomerular filtration rate (eGFR)", "Baseline to 12 months"]),
        ("2", ["2", "unchanged"]),
        ("3", ["3", "unchanged"]),
        ("4", ["Change in estimated glomerular filtration rate (eGFR) in the per-protocol population",
               "Baseline to 12 months"]),
    ]


def test_each_versions_flagged_changes_with_the_word_diff(site):
    articles = page(site).find_all("article", cls="changes-of")
    assert [a.attrs["data-version"] for a in articles] == ["4", "3", "2"]  # newest first
    by_version = {a.attrs["data-version"]: a for a in articles}
    assert [(li.attrs["data-severity"], li.find("span", cls="category").text) for li in by_version["4"].find_all("li")] == [
        ("major", "eligibility"), ("minor", "status"), ("minor", "dates"), ("minor", "outcomes"),
    ]
    eligibility, _, _, outcome = by_version["4"].find_all("li")
    diff = eligibility.find("div", cls="wdiff")
    assert [(e.tag, e.text) for e in diff.children] == [("del", "18"), ("ins", "21")]
    assert "Age ≥ 18 21 years" in re.sub(r"\s+", " ", diff.text)
    # The space word_diff trims beside a marker is put back on the page.
    assert outcome.find("div", cls="wdiff").text == (
        "Change in estimated glomerular filtration rate (eGFR) in the per-protocol population"
    )
    assert [li.text.split("  ")[0] for li in by_version["3"].find_all("li")] == [
        # The category stands apart from the summary (it ran into it: "dates Primary ...").
        "minor dates · Primary completion date: 2027-06-30 -> 2027-12-31 (ESTIMATED, +184 days)",
    ]
    assert len(by_version["2"].find_all("li")) == 2
    assert "[milestone]" in by_version["2"].find_all("li")[0].text
    assert by_version["4"].find("p", cls="muted").text == "+ 1 registry bookkeeping change"


def test_the_index_lists_status_last_change_and_most_severe(site):
    doc = parse((site[0] / "index.html").read_text())
    rows = doc.find("table", cls="studies").find("tbody").find_all("tr")
    cells = [[re.sub(r"\s+", " ", c.text).strip() for c in r.children] for r in rows]
    assert [r[0] for r in cells] == [OTHER, NCT]
    other, ours = cells
    assert ours[2:4] == ["ACTIVE_NOT_RECRUITING", "4"]
    assert ours[4].endswith(" eligibility, status (milestone: ACTIVE_NOT_RECRUITING), dates, outcomes")
    assert ours[5] == "major"
    assert other[2:4] == ["COMPLETED", "1"] and other[4].endswith(" first version") and other[5] == "none"
    assert rows[1].find("th").find("a").attrs["href"] == f"{NCT}.html"
    # the results obligation its current version gives (FDAAA 801 as estimated), and when
    assert re.fullmatch(r"not applicable \(as of \d{4}-\d{2}-\d{2}\)", ours[6]), ours[6]
    assert other[6].startswith("not applicable (as of ")


def test_registry_text_is_escaped(run, tmp_path):
    record = load(NCT)
    record["protocolSection"]["identificationModule"]["briefTitle"] = '<script>alert("x")</script> & <b>co</b>'
    with responses.RequestsMock() as api:
        mock_version(api)
        mock_study(api, record)
        assert run("sync", NCT).exit_code == 0
    assert run("report", NCT, "--html", str(tmp_path / "site")).exit_code == 0
    for name in (NCT, "index"):
        text = (tmp_path / "site" / f"{name}.html").read_text()
        assert "<script" not in text and "<b>co" not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;" in text


def test_without_a_watchlist_every_stored_study(copied, tmp_path):
    assert copied("watch", "remove", NCT, OTHER).exit_code == 0
    result = copied("report", "--html", str(tmp_path / "site"))
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [OTHER, NCT]


def test_a_watched_study_never_synced_is_listed_without_a_page(copied, tmp_path):
    assert copied("watch", "add", "NCT06171568").exit_code == 0
    result = copied("report", "--html", str(tmp_path / "site"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "NCT06171568 not synced yet: listed in the index, no page"
    assert not (tmp_path / "site" / "NCT06171568.html").exists()
    index = parse((tmp_path / "site" / "index.html").read_text())
    assert index.find("tr", cls="not-synced").attrs["data-nct"] == "NCT06171568"


def test_an_unknown_study_is_one_line_and_nothing_is_written(copied, tmp_path):
    result = copied("report", NCT, "NCT99999999", "--html", str(tmp_path / "site"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "error: NCT99999999 is not in the database (run: regsync sync NCT99999999)\n"
    assert not (tmp_path / "site").exists()


def test_bad_output_directories(copied, tmp_path):
    run = copied
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("report", "--html", str(blocker))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '--html': Directory '{blocker}' is a file. (see: regsync report --help)\n"
    )
    result = run("report", "--html", str(blocker / "site"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: cannot write the report into {blocker}/site: Not a directory\n"
    result = run("report")
    assert result.exit_code == 2
    assert result.stderr == "error: Missing option '--html'. (see: regsync report --help)\n"


def test_no_database_is_exit_4(run, tmp_path):
    result = run("report", "--html", str(tmp_path / "site"))
    assert result.exit_code == 4
    assert result.stderr.startswith("error: no database at ")
    assert not (tmp_path / "site").exists()


# -- issue 22 item 2: the chart's geometry where dates meet or cross ---------------------------


def _lane(*dates):
    """One version's chart lane with (start, primary completion, completion) as given."""
    from regsync.report import DATE_FIELDS, DatePoint, StudyView, VersionView, build_chart, parse_day

    points = [DatePoint(key, label, value, kind, parse_day(value))
              for (key, label), (value, kind) in zip(DATE_FIELDS, dates, strict=True)]
    version = VersionView(1, "2026-01-01T00:00:00Z", None, "RECRUITING", points, None, None, [])
    (lane,) = build_chart(StudyView(NCT, "t", "RECRUITING", None, None, [version])).lanes
    return lane


def test_a_completion_before_primary_completion_draws_no_line_over_another():
    lane = _lane(("2026-01-01", "ACTUAL"), ("2028-06-30", "ESTIMATED"), ("2027-08-31", "ESTIMATED"))
    spans = sorted((s.x1, s.x2) for s in lane.segments)
    assert all(x1 < x2 for x1, x2 in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # end to end, never on top
    start, primary, completion = (m.x for m in lane.marks)
    assert spans == [(start, completion), (completion, primary)]


def test_equal_dates_keep_every_mark_visible():
    lane = _lane(("2026-01-01", "ACTUAL"), ("2027-08-31", "ESTIMATED"), ("2027-08-31", "ESTIMATED"))
    start, primary, completion = lane.marks
    assert primary.x == completion.x  # the date drawn stays exact
    assert completion.y - primary.y >= 10  # the square no longer covers the diamond
    assert start.y == lane.mid
    assert [(s.x1, s.x2) for s in lane.segments] == [(start.x, primary.x)]


def test_every_page_says_when_and_from_which_database_it_was_generated(stored, tmp_path):
    from datetime import UTC, datetime

    from regsync.cli import Clocks

    clocks = Clocks(sleep=lambda s: None, now=lambda: datetime(2026, 12, 7, 9, 30, 5, tzinfo=UTC))
    assert Cli(stored, clocks)("report", "--html", str(tmp_path / "site")).exit_code == 0
    for name in ("index", NCT, OTHER):
        doc = parse((tmp_path / "site" / f"{name}.html").read_text())
        assert doc.find("p", cls="generated").text == f"Generated on 2026-12-07 09:30 UTC from database {stored}."


def test_dates_centuries_away_do_not_break_the_report(run, tmp_path):
    """Issue 20 item 9: a completion date of 9999-12-31 and a start date of 1800-01-01 (typos
    the registry has held) are shown in the table but not drawn: the chart keeps the other
    dates' years, and the report of every study is written."""
    record = load(NCT)
    status = record["protocolSection"]["statusModule"]
    status["startDateStruct"] = {"date": "1800-01-01", "type": "ACTUAL"}
    status["completionDateStruct"] = {"date": "9999-12-31", "type": "ESTIMATED"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        mock_version(api)
        mock_study(api, record)
        mock_study(api, load(OTHER))
        assert run("sync", NCT, OTHER).exit_code == 0
    result = run("report", "--html", str(tmp_path / "site"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "site" / f"{NCT}.html").read_text()
    assert "9999-12-31" in page and "1800-01-01" in page  # in the table
    ticks = re.findall(r'<text[^>]*class="tick"[^>]*>(\d{4})</text>', page) or re.findall(r">(\d{4})</text>", page)
    assert ticks and all(1950 <= int(year) <= 2150 for year in ticks), ticks
    assert (tmp_path / "site" / f"{OTHER}.html").exists()
