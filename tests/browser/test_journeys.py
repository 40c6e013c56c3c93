"""What a person sees, in Chromium at 1440×900, on SQLite and on PostgreSQL.

Each journey drives the dashboard as a new user would (clicks, typing, reloads, downloads) and
asserts what is on the screen: texts, the URL, the downloaded file, the drawn charts (their
SVG: height, bars, labels). Expected values come from the demo data set as it was seeded
(scripts/demo_data.py), filtered and sorted here by hand, or from the run store for runs the
journeys create. The `page` fixture checks after every journey that the page shows no
exception or traceback and that the server logged no error.

The first journey of each backend sees the empty database; the others share the demo data
set (seeded once per backend by the first that asks) and never depend on each other's runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from orchestrator.history import checkpoint_history
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunFilter
from scripts.browser import new_context, wait_until_drawn
from scripts.demo_data import DEMO_LAUNCHER, DemoData
from tests.browser.conftest import STEP_MS, Dashboard, assert_no_error, download_by_clicking
from tests.helpers import wait_for

# -- helpers ------------------------------------------------------------------------------------


def open_page(page: Any, dashboard: Dashboard, path: str, heading: str) -> None:
    """Go to `path` and wait until the page with that title is drawn."""
    page.goto(dashboard.url + path)
    page.get_by_role("heading", level=1, name=heading, exact=True).wait_for()
    wait_until_drawn(page)


def main(page: Any) -> Any:
    return page.get_by_test_id("stMain")


def sidebar_metric(page: Any, label: str) -> str:
    metric = page.get_by_test_id("stSidebar").get_by_test_id("stMetric").filter(has_text=label)
    return str(metric.get_by_test_id("stMetricValue").inner_text()).strip()


def wait_sidebar_metric(page: Any, label: str, value: str) -> None:
    wait_for(lambda: sidebar_metric(page, label) == value, timeout=60, what=f"sidebar {label} = {value}")


def caption_with(page: Any, text: str) -> str:
    element = page.get_by_test_id("stCaptionContainer").filter(has_text=text).first
    element.wait_for()
    return str(element.inner_text())


def pick(page: Any, widget: str, label: str, option: str) -> None:
    """Choose `option` in the selectbox or multiselect labelled `label`."""
    box = page.get_by_test_id(widget).filter(has_text=label).first
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a click that lands while the page redraws opens nothing: click again
        box.get_by_role("combobox").click()
        try:
            choice.wait_for(timeout=2_000)
            break
        except PlaywrightTimeout:
            print(f"pick: {label} did not open, clicking again")
            page.keyboard.press("Escape")
    choice.click()
    page.keyboard.press("Escape")


def number(page: Any, label: str, value: int | float) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def fill_kept(page: Any, box: Any, text: str) -> None:
    """Type `text` into a box and wait until the drawn page still holds it (a redraw that was under
    way when it was typed would put the old value back)."""
    for _ in range(5):
        box.fill(text)
        wait_until_drawn(page)
        if box.input_value() == text:
            return
    raise AssertionError(f"the box did not keep {text!r}")


def chart_svg(page: Any, index: int = 0) -> Any:
    svg = page.get_by_test_id("stVegaLiteChart").nth(index).locator("svg").first
    svg.wait_for()
    return svg


def bars(svg: Any) -> list[dict[str, Any]]:
    """The bars drawn in a chart: their boxes and their descriptions (aria-label)."""
    return svg.evaluate(
        """svg => [...svg.querySelectorAll('g.mark-rect path')].map(p => {
            const b = p.getBoundingClientRect();
            return {x: b.x, y: b.y, width: b.width, height: b.height, label: p.getAttribute('aria-label') || ''};
        })"""
    )


def axis_labels(svg: Any) -> list[dict[str, Any]]:
    return svg.evaluate(
        """svg => [...svg.querySelectorAll('g.role-axis-label text')].map(t => {
            const b = t.getBoundingClientRect();
            return {text: t.textContent, x: b.x, y: b.y, width: b.width, height: b.height};
        })"""
    )


def overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            across = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            down = a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
            if across and down:
                pairs.append((a.get("text", ""), b.get("text", "")))
    return pairs


def cut_off(element: Any) -> list[str]:
    """The parts of an element whose content is wider than they show (clipped or ellipsed)."""
    return element.evaluate(
        """w => [...w.querySelectorAll('*')]
            .filter(e => e.clientWidth > 2 && e.scrollWidth > e.clientWidth + 1
                         && getComputedStyle(e).overflowX !== 'visible')
            .map(e => e.textContent)"""
    )


def has_emoji(text: str) -> list[str]:
    """Characters drawn from an emoji font (empty boxes where there is none)."""
    return sorted({c for c in text if ord(c) > 0x2100 and unicodedata.category(c) == "So"})


def failed_or_interrupted_with_ten_tasks(demo: DemoData) -> list[dict[str, Any]]:
    """The runs the filter journey shows, by hand: no journey makes such runs."""
    return [r for r in demo.bulk if r["status"] in ("failed", "interrupted") and r["tasks_total"] >= 10]


# -- journeys -----------------------------------------------------------------------------------


def test_first_open_with_an_empty_database(page: Any, dashboard: Dashboard) -> None:
    assert dashboard.demo is None, "this journey must run first, on the empty database"
    open_page(page, dashboard, "/", "Runs")
    assert caption_with(page, "matching runs").startswith("0 matching runs")
    assert sidebar_metric(page, "All runs") == "0"
    assert "answers" in page.get_by_test_id("stSidebar").inner_text()
    # Material icons (a font served by the app) in the navigation, and no emoji anywhere.
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.get_by_test_id("stIconMaterial").count() == 6
    assert not has_emoji(page.locator("body").inner_text())

    open_page(page, dashboard, "/overview", "Overview")
    page.get_by_text("No runs in this period.").wait_for()


def test_filter_reload_and_download_the_filtered_runs(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    expected = failed_or_interrupted_with_ten_tasks(demo)
    assert 5 < len(expected) < 50, "the demo data should give a one-page result"
    open_page(page, dashboard, "/", "Runs")
    dates = page.get_by_test_id("stDateInput").filter(has_text="Created")
    assert not cut_off(dates), "the date range's placeholder is cut"
    # Each change is in the URL once the page has taken it: wait for that before the next.
    pick(page, "stMultiSelect", "Status", "failed")
    page.wait_for_url(re.compile(r"status=failed"))
    pick(page, "stMultiSelect", "Status", "interrupted")
    page.wait_for_url(re.compile(r"status=failed%2Cinterrupted"))
    number(page, "Tasks ≥", 10)
    page.wait_for_url(re.compile(r"tasks_total_min=10"))
    pick(page, "stSelectbox", "Sort by", "Tasks")
    page.wait_for_url(re.compile(r"sort=tasks_total"))
    page.get_by_test_id("stCheckbox").filter(has_text="Ascending").click()
    page.wait_for_url(re.compile(r"asc=true"))
    wanted = f"{len(expected)} matching runs"
    wait_for(lambda: caption_with(page, "matching runs").startswith(wanted), timeout=60, what=wanted)
    for part in ("status=failed%2Cinterrupted", "tasks_total_min=10", "sort=tasks_total", "asc=true"):
        assert part in page.url

    # Reload the URL: the same view, the widgets set again.
    page.reload()
    page.get_by_role("heading", level=1, name="Runs", exact=True).wait_for()
    wait_for(lambda: caption_with(page, "matching runs").startswith(wanted), timeout=60, what=wanted)
    # Once the page is drawn: CI saw "Tasks ≥" read 0 the moment the count had come (the drawn
    # page showed 10), so the widgets are read when the script run is over, as a person reads them.
    wait_until_drawn(page)
    status = page.get_by_test_id("stMultiSelect").filter(has_text="Status")
    assert "failed" in status.inner_text() and "interrupted" in status.inner_text()
    tasks_min = page.get_by_role("spinbutton", name="Tasks ≥", exact=True)
    wait_for(lambda: tasks_min.input_value() == "10", timeout=10, what="Tasks ≥ 10 after the reload")

    # The CSV holds exactly those runs, in the order on screen (tasks ascending, then run id).
    wait_until_drawn(page)
    download = download_by_clicking(page, page.get_by_role("button", name="Download filtered runs (CSV)"))
    rows = list(csv.DictReader(io.StringIO(download.path().read_text())))
    order = sorted(expected, key=lambda r: (r["tasks_total"], r["run_id"]))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in order]
    assert [int(r["tasks_total"]) for r in rows] == [r["tasks_total"] for r in order]
    assert {r["status"] for r in rows} <= {"failed", "interrupted"}


# Counts the script runs the page has finished (full runs and fragment runs, as the live table's
# refreshes), from the app's script state going back to "notRunning".
COUNT_SCRIPT_RUNS = """() => {
    window.finishedRuns = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'notRunning') window.finishedRuns += 1;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def test_the_csv_is_still_there_when_the_browser_fetches_it_after_live_refreshes(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    """The file a click on Download makes outlives the page's runs. The server's answer to the
    click (the file's address, on the app's websocket) is held here while the page runs in full
    twice (Live refresh off and on again: a full run starts by dropping the session's references
    to files) and then finishes four more script runs (the live fragments' refreshes); each run
    ends with Streamlit sweeping the files no session refers to, and two sweeps delete such a
    file. Then the answer is handed to the page, which fetches the file. Under load that fetch
    can come a second or more after the click (dashboard/downloads.py)."""
    held: list[tuple[Any, bytes]] = []  # the server's answer that names the CSV's address, and its socket

    def through(socket: Any) -> None:
        server = socket.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if isinstance(message, bytes) and b"/media/" in message and b".csv" in message and not held:
                held.append((socket, message))
            else:
                socket.send(message)

        server.on_message(to_page)

    page.route_web_socket(re.compile(r"/_stcore/stream"), through)
    expected = failed_or_interrupted_with_ten_tasks(demo)
    query = "?status=failed%2Cinterrupted&tasks_total_min=10&sort=tasks_total&asc=true"
    open_page(page, dashboard, "/" + query, "Runs")
    wanted = f"{len(expected)} matching runs"
    wait_for(lambda: caption_with(page, "matching runs").startswith(wanted), timeout=60, what=wanted)
    page.evaluate(COUNT_SCRIPT_RUNS)

    def answer_held() -> bool:
        page.evaluate("0")  # lets Playwright hand the websocket's messages to the handler
        return bool(held)

    with page.expect_download(timeout=STEP_MS) as download:
        page.get_by_role("button", name="Download filtered runs (CSV)").click()
        wait_for(answer_held, timeout=60, what="the server's answer to the click")
        live = page.get_by_test_id("stCheckbox").filter(has_text="Live refresh")
        for _ in range(2):  # off, then on again: two full runs
            runs = page.evaluate("window.finishedRuns")
            live.click()
            page.wait_for_function(f"window.finishedRuns > {runs}", timeout=STEP_MS)
            wait_until_drawn(page)
        runs = page.evaluate("window.finishedRuns")
        # Four more finished runs: refreshes of the live fragments, each ending with a sweep.
        page.wait_for_function(f"window.finishedRuns >= {runs + 4}", timeout=2 * STEP_MS)
        socket, answer = held[0]
        socket.send(answer)
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    order = sorted(expected, key=lambda r: (r["tasks_total"], r["run_id"]))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in order]


def test_run_detail_timeline_checkpoints_and_state(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        for name in ("small", "planned"):
            run_id = demo.real[name]
            tasks = orch.store.get_tasks(run_id)
            open_page(page, dashboard, f"/run_detail?run_id={run_id}", "Run detail")
            svg = chart_svg(page)
            drawn = bars(svg)
            assert len(drawn) == len(tasks), name
            assert all(b["width"] >= 1 and b["height"] >= 8 for b in drawn), (name, drawn)
            assert svg.bounding_box()["height"] >= 120, name
            labels = axis_labels(svg)
            assert {t["node"] for t in tasks} <= {label["text"] for label in labels}, name
            assert not overlapping(labels), (name, labels)
            if name == "small":
                see_the_state_at_two_checkpoints(page)

        # 1,000 tasks: every bar drawn, lanes showing 16 at a time, the chart still one screen.
        open_page(page, dashboard, f"/run_detail?run_id={demo.big_run}", "Run detail")
        svg = chart_svg(page)
        drawn = bars(svg)
        assert len(drawn) == 1002
        assert len({round(b["y"]) for b in drawn}) == 18  # plan, 16 lanes of work, summarize
        assert 300 <= svg.bounding_box()["height"] <= 700
        assert not overlapping(axis_labels(svg))
    finally:
        orch.engine.dispose()


def see_the_state_at_two_checkpoints(page: Any) -> None:
    """The checkpoints of a real `simulate` run, and the state before and after `plan`."""
    page.get_by_role("tab", name="Checkpoints").click()
    page.get_by_text("State at checkpoint").wait_for()
    state = page.get_by_role("tabpanel", name="Checkpoints").get_by_test_id("stJson")
    pick(page, "stSelectbox", "State at checkpoint", "step 0 · loop · (input)")
    wait_for(lambda: "task_ids" not in state.inner_text(), timeout=60, what="the state before `plan`")
    pick(page, "stSelectbox", "State at checkpoint", "step 1 · loop · plan")
    wait_for(lambda: "task_ids" in state.inner_text(), timeout=60, what="the state `plan` wrote")


def test_compare_three_runs(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    ids = [demo.real[name] for name in ("small", "wide", "failed")]
    open_page(page, dashboard, "/compare?run_ids=" + ",".join(ids), "Compare runs")
    table = page.get_by_test_id("stDataFrame").first.locator("table")  # the grid's accessible copy
    wait_for(lambda: f"1: {ids[0][:8]}" in (table.text_content() or ""), timeout=60, what="the table")
    for i, run_id in enumerate(ids, start=1):
        assert f"{i}: {run_id[:8]}" in table.text_content()
    page.get_by_text(f"1: {ids[0][:8]} against 2: {ids[1][:8]}").wait_for()
    assert len(bars(chart_svg(page, 1))) > 0  # tasks by node
    assert page.get_by_test_id("stAlertContainer").filter(has_text="step").count() == 1


def test_overview_for_each_period(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    open_page(page, dashboard, "/overview", "Overview")
    for option in ("Last 24 h", "Last 7 days", "Last 30 days", "Custom"):
        # Nothing clipped: the option's text fits its button, the button fits the element.
        fits = page.get_by_role("radio", name=option, exact=True).evaluate(
            """b => {
                const text = b.querySelector('p'), box = b.getBoundingClientRect();
                const room = b.closest('[data-testid="stElementContainer"]').getBoundingClientRect();
                return text.scrollWidth <= text.clientWidth + 1 && box.right <= room.right + 1;
            }"""
        )
        assert fits, f"{option} is clipped"
    expectations = {
        "Last 24 h": ("the previous 24 hours", True),
        "Last 30 days": ("the previous 30 days", False),
        "Last 7 days": ("the previous 7 days", False),
    }
    for option, (words, hourly) in expectations.items():
        page.get_by_role("radio", name=option, exact=True).click()
        caption_with(page, words)
        wait_until_drawn(page)
        drawn = bars(chart_svg(page))
        buckets = {m.group(1) for b in drawn if (m := re.search(r"from \(UTC\): (\S+ \S+)", b["label"]))}
        assert buckets, drawn[:3]
        hours = {bucket[11:] for bucket in buckets}
        if hourly:
            assert len(hours) > 3, buckets  # a bar per hour, not one per day
        else:
            assert hours == {"00:00"}, buckets
        bar_widths = {round(b["width"]) for b in drawn}
        assert max(bar_widths) < 200, "one bucket stretched across the chart"
    page.get_by_role("radio", name="Custom", exact=True).click()
    page.get_by_text("From – to (UTC)").wait_for()
    wait_until_drawn(page)
    assert main(page).get_by_test_id("stMetric").count() == 8


def test_launch_simulate_and_watch_it_finish(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    open_page(page, dashboard, "/launch", "Launch a run")
    number(page, "Tasks", 3)
    # Three steps one after another, about 6 s of running (seed 0's jitters). The sidebar's counts
    # are refreshed every 2 s from a count up to 1 s old, and a refresh can wait behind the page's
    # other live parts: a run of 2.8 s (1,200 ms steps) ended between two of them once in CI.
    number(page, "Delay (ms)", 2500)
    number(page, "Fan out", 1)
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run: "))
    queued.wait_for()
    run_id = re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)
    wait_sidebar_metric(page, "Running", "1")
    page.get_by_text("5 of 5 tasks", exact=False).wait_for(timeout=90_000)
    # The finished run's progress bar is in its status's colour: succeeded, green.
    bar = page.locator(".run-bar").first
    bar.wait_for()
    colour = bar.evaluate("b => getComputedStyle(b.firstElementChild).backgroundColor")
    assert colour == "rgb(46, 158, 79)", colour
    wait_sidebar_metric(page, "Running", "0")
    wait_until_drawn(page)
    assert run_id in page.get_by_text(re.compile(r"Queued 1 run: ")).inner_text()  # still there


def test_slot_waits_are_waits_and_a_run_has_its_work_apart_from_its_wall_time(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    """Issue 20 in the browser: tasks waiting for their slot say "waiting", a cancel leaves them
    "never started" and undrawn, the run's work and wall time add up, and the overview's node
    mean lies within the tasks' real work, not their waits."""
    open_page(page, dashboard, "/launch", "Launch a run")
    # 120 tasks of a second, one at a time: the run still goes when the cancel comes, however
    # slowly a loaded machine draws the pages in between (16 had finished first, in 21 s).
    number(page, "Tasks", 120)
    number(page, "Delay (ms)", 1000)
    number(page, "Fan out", 1)
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run: "))
    queued.wait_for()
    run_id = re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)

    open_page(page, dashboard, f"/run_detail?run_id={run_id}", "Run detail")
    graph = page.get_by_test_id("stGraphVizChart").locator("svg").first

    def waiting_words() -> re.Match[str] | None:
        return re.search(r"(\d+) waiting, 1 running", " ".join(graph.locator("text").all_text_contents()))

    found = wait_for(waiting_words, timeout=90, what="the graph to say how many tasks wait")
    assert int(found.group(1)) >= 3, found.group(0)
    caption_with(page, "Worked ")  # the run's two durations, said as what they are, while it goes
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        wait_for(lambda: orch.store.get_run(run_id)["status"] == "cancelled", timeout=60, what="the cancel")
        run = orch.store.get_run(run_id)
        hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        work_tasks = [t for t in orch.store.get_tasks(run_id) if t["node"] == "work"]
        worked = [t["work_seconds"] for t in work_tasks if t["status"] == "succeeded"]
        waited = max(t["wait_seconds"] or 0 for t in work_tasks)
    finally:
        orch.engine.dispose()
    page.reload()
    page.get_by_role("heading", level=1, name="Run detail").wait_for()
    wait_until_drawn(page)
    line = caption_with(page, "Worked ")
    work, wall = (float(x) for x in re.findall(r"\*?\*?([\d.]+) s\*?\*?", line)[:2])
    assert 0 < work <= wall, line
    assert (round(run["work_seconds"], 1), round(run["wall_seconds"], 1)) == (work, wall)
    words = " ".join(graph.locator("text").all_text_contents())
    assert re.search(r"\d+ never started", words), words
    page.get_by_role("tab", name="Tasks").click()
    assert "cancelled before their work began (not drawn)" in caption_with(page, "A bar per task's work")

    # The overview's slowest nodes: `work`'s mean lies within what its tasks really worked.
    open_page(page, dashboard, "/overview", "Overview")
    page.get_by_role("radio", name="Last 24 h", exact=True).click()
    caption_with(page, "the previous 24 hours")
    wait_until_drawn(page)
    grid = main(page).get_by_test_id("stDataFrame").nth(1)  # by workflow, then the slowest nodes
    grid.scroll_into_view_if_needed()
    wait_until_drawn(page)
    cells = grid.locator("table").evaluate(
        "t => [...t.querySelectorAll('tr')].map(tr => [...tr.children].map(c => c.textContent.trim()))"
    )
    rows = {row[0]: row for row in cells if row}
    assert "work" in rows, cells
    mean = float(rows["work"][rows["Node"].index("Mean work")].removesuffix(" s"))
    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        since = hour - dt.timedelta(hours=25)
        every = [
            t["work_seconds"]
            for r in orch.store.page_runs(RunFilter(workflows=["simulate"], created_from=since), limit=500)
            for t in orch.store.get_tasks(r["run_id"])
            if t["node"] == "work" and t["work_seconds"] is not None
        ]
    finally:
        orch.engine.dispose()
    # One slot (fan out 1): the tasks worked one after another while the others waited, so what
    # they worked adds up to no more than the run's wall time (a work that counted its wait, the
    # k-th ~k s, would not), and the longest wait outlasts every task's work. No figure of the
    # machine's speed: a loaded machine stretches work and wait alike.
    assert worked and sum(worked) <= run["wall_seconds"] and max(worked) < waited
    assert min(every) - 0.001 <= mean <= max(every) + 0.001, (mean, min(every), max(every))


def test_launch_plan_execute_edit_the_plan_and_approve(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    open_page(page, dashboard, "/launch", "Launch a run")
    pick(page, "stSelectbox", "Workflow", "plan_execute")
    goal = page.get_by_role("textbox", name="Goal")
    goal.fill("Collect the logs; parse them and then write a report")
    page.get_by_test_id("stCheckbox").filter(has_text="Require approval").click()
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run: "))
    queued.wait_for()
    run_id = re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)
    page.get_by_text("Waiting for approval").wait_for(timeout=90_000)
    page.get_by_text("3 tasks will run.").wait_for()

    # Rename the first task in the plan's table, as a person does: double-click it, type, Enter.
    editor = page.get_by_test_id("stDataFrame").first  # the plan: this tab launched one run
    cell_editor = page.locator("textarea.gdg-input")
    for _ in range(5):  # a redraw between finding the cell and clicking it moves it: try again
        wait_until_drawn(page)
        editor.scroll_into_view_if_needed()
        box = editor.locator("canvas").first.bounding_box()
        page.mouse.dblclick(box["x"] + 60, box["y"] + 35 + 17)  # row 1, below the 35 px header
        try:
            cell_editor.wait_for(timeout=5_000)
        except PlaywrightTimeout:
            continue
        if cell_editor.input_value() == "Collect the logs":
            break
        page.keyboard.press("Escape")
    cell_editor.fill("Gather every log")
    page.keyboard.press("Enter")
    cells = editor.locator("table")  # the grid's accessible copy of its cells
    wait_for(lambda: "Gather every log" in (cells.text_content() or ""), timeout=60, what="the edit")
    # The grid shows an edit before the server has it (CI approved the plan as proposed once).
    page.get_by_text("3 tasks will run (edited).").wait_for()
    wait_until_drawn(page)
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("Answer sent: the run is queued and continues.").wait_for()

    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        wait_for(lambda: orch.store.get_run(run_id)["status"] == "succeeded", timeout=90, what="approved run")
        run = orch.store.get_run(run_id)
        assert run["state_snapshot"]["plan"] == ["Gather every log", "Parse them", "Write a report"]
        assert [r["task"] for r in run["state_snapshot"]["results"]] == run["state_snapshot"]["plan"]
    finally:
        orch.engine.dispose()
    # the card, refreshed (while its fragment reruns, Streamlit can hold the old card and the new
    # one at once for a moment: CI once saw both)
    page.get_by_text(f"succeeded · plan_execute · {run_id}").first.wait_for()


def test_launch_again_and_resume_a_failed_run_from_its_card(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    open_page(page, dashboard, f"/run_detail?run_id={demo.real['wide']}", "Run detail")
    page.get_by_role("link", name="Launch again…").click()
    page.get_by_role("heading", level=1, name="Launch a run", exact=True).wait_for()
    page.get_by_text(f"Inputs filled from run {demo.real['wide']}").wait_for()
    assert "from_run=" + demo.real["wide"] in page.url
    values = {
        name: page.get_by_role("spinbutton", name=name, exact=True).input_value()
        for name in ("Tasks", "Seed", "Fan out")
    }
    assert values == {"Tasks": "24", "Seed": "2", "Fan out": "6"}

    # The demo's runs, as their launcher sees them: the failed one has Resume on its card.
    open_page(page, dashboard, f"/launch?by={DEMO_LAUNCHER}", "Launch a run")
    resume = page.get_by_role("button", name="Resume")
    resume.first.wait_for()
    blocks = page.get_by_test_id("stVerticalBlock").filter(has_text=demo.real["failed"]).filter(has=resume)
    card = blocks.last  # the innermost: the failed run's card
    assert "failed · simulate" in card.inner_text()
    assert all(demo.real[other] not in card.inner_text() for other in ("small", "wide", "planned", "waiting"))


def test_launch_form_shows_every_error_at_once(page: Any, dashboard: Dashboard) -> None:
    open_page(page, dashboard, "/launch", "Launch a run")
    number(page, "Tasks", 0)
    number(page, "Fail rate", 1.5)
    number(page, "Copies", 500)
    before = Orchestrator(dashboard.config, migrate=False)
    try:
        count = before.store.count_runs()
        page.get_by_role("button", name="Launch").click()
        for message in (
            "Tasks must be at least 1.",
            "Fail rate must be at most 1.0.",
            "Copies must be between 1 and 100.",
        ):
            page.get_by_text(message).wait_for()
        assert before.store.count_runs() == count
    finally:
        before.engine.dispose()


# Every page's label in the sidebar's navigation, as the router lists them (icons left out).
OUR_NAVIGATION = "Runs|Run detail|Compare|Overview|Workers|Launch"
# Records every navigation the page ever draws, from its first byte on.
RECORD_NAVIGATION = """
window.navigationsSeen = [];
const labels = nav => [...nav.querySelectorAll('[data-testid="stSidebarNavLink"]')].map(link => {
  let text = link.innerText;
  link.querySelectorAll('[data-testid="stIconMaterial"]').forEach(i => { text = text.replace(i.innerText, ''); });
  return text.trim();
}).join('|');
new MutationObserver(() => document.querySelectorAll('[data-testid="stSidebarNav"]').forEach(nav => {
  const seen = labels(nav);
  if (seen && !window.navigationsSeen.includes(seen)) window.navigationsSeen.push(seen);
})).observe(document, {subtree: true, childList: true, characterData: true});
"""


def test_a_fresh_servers_first_page_shows_only_our_navigation(browser: Any, tmp_path: Any) -> None:
    """The first page a fresh server draws (a shared deep link) comes through the router: our page
    list from the start, never Streamlit's own list of a `pages/` folder (dashboard/router.py)."""
    from scripts.dashboard_server import DashboardServer

    env = {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(tmp_path / "orchestrator.db")}
    with DashboardServer(tmp_path, env) as server:
        context = new_context(browser)
        try:
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.add_init_script(RECORD_NAVIGATION)
            page.goto(server.url + "/run_detail?run_id=abc")
            page.get_by_role("heading", level=1, name="Run detail", exact=True).wait_for()
            page.get_by_text("No run has the id").wait_for()
            assert_no_error(page)
            assert page.evaluate("window.navigationsSeen") == [OUR_NAVIGATION]
            assert page.url.endswith("/run_detail?run_id=abc")
        finally:
            context.close()
        assert not server.errors_since(0), server.log()


def test_database_unreachable_shows_a_banner(
    browser: Any, dashboard: Dashboard, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    from scripts.dashboard_server import DashboardServer, free_port

    if dashboard.backend == "sqlite":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the database's folder should be")
        env, phrase = {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(blocker / "x.db")}, "Cannot open"
    else:
        uri = f"postgresql://orchestrator:s3cret@127.0.0.1:{free_port()}/nowhere"
        env, phrase = {"CHECKPOINT_MODE": "postgres", "POSTGRES_URI": uri}, "does not answer"
    with DashboardServer(tmp_path, env) as server:
        context = new_context(browser)
        try:
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(server.url + "/overview")
            page.get_by_test_id("stAlertContainer").filter(has_text=phrase).first.wait_for()
            assert_no_error(page)
            assert "s3cret" not in page.locator("body").inner_text()
        finally:
            context.close()
        assert not server.errors_since(0), server.log()


def test_answer_a_dict_question_and_an_agent_inbox_request_then_fork(page: Any, dashboard: Dashboard) -> None:
    """Issue 12 from the page: a team's graph launched with its config, its dict question answered
    in the JSON box, its Agent Inbox request answered with edited arguments, then forked from the
    checkpoint before its question with an edited state."""
    open_page(page, dashboard, "/launch?workflow=invoices", "Launch a run")
    page.get_by_text("The graph", exact=True).wait_for()
    assert page.get_by_test_id("stGraphVizChart").locator("svg").count() == 1
    number(page, "Count", 3)
    page.get_by_role("textbox", name="Ledger URL").fill("https://ledger.example/api")
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run: "))
    queued.wait_for()
    run_id = re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)

    open_page(page, dashboard, f"/run_detail?run_id={run_id}", "Run detail")
    answer = page.get_by_role("textbox", name="Your answer (JSON)")
    answer.wait_for(timeout=90_000)  # drawn once the run waits at its question
    assert json.loads(answer.input_value()) == {"question": "Post these invoices?", "invoices": 3}
    fill_kept(page, answer, '{"post": true, "by": "the browser"}')
    page.get_by_role("button", name="Send answer").click()
    page.get_by_text("Answer sent: the run is queued and continues.").wait_for()

    args = page.get_by_role("textbox", name="Edit the arguments (JSON)")
    args.wait_for(timeout=90_000)  # the page redraws itself when the run waits again
    assert json.loads(args.input_value()) == {"url": "https://ledger.example/api", "invoices": 3}
    for name in ("Accept", "Send edited arguments", "Send response", "Ignore"):
        assert page.get_by_role("button", name=name, exact=True).count() == 1, name
    fill_kept(page, args, '{"url": "https://other.example/api", "invoices": 2}')
    page.get_by_role("button", name="Send edited arguments").click()
    page.get_by_text("Answer sent: the run is queued and continues.").wait_for()

    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        wait_for(
            lambda: orch.store.get_run(run_id)["status"] == "succeeded", timeout=90, what="the answered run"
        )
        run = orch.store.get_run(run_id)
        assert run["state_snapshot"]["review"] == {"post": True, "by": "the browser"}
        assert run["state_snapshot"]["posted"] == {
            "posted": True,
            "args": {"url": "https://other.example/api", "invoices": 2},
        }
        assert run["config"] == {"ledger_url": "https://ledger.example/api"}
    finally:
        orch.engine.dispose()

    # Fork from the checkpoint after the checks (step 2), with a label added to the state and the
    # checks (a key with a reducer) cut to the first: the fork starts from exactly that state.
    page.reload()
    page.get_by_role("heading", level=1, name="Run detail").wait_for()
    wait_until_drawn(page)
    page.get_by_role("tab", name="Checkpoints").click()
    pick(page, "stSelectbox", "State at checkpoint", "step 2 · loop · check")
    page.get_by_text("Fork from here (step 2)").wait_for()  # the box of step 2, not of the last step
    wait_until_drawn(page)
    state = page.get_by_role("textbox", name="State for the fork (JSON)")
    values = json.loads(state.input_value())
    assert values["count"] == 3 and values["labels"] == {}
    assert [c["index"] for c in values["checked"]] == [0, 1, 2]
    fill_kept(page, state, json.dumps({**values, "labels": {"forked": 1}, "checked": values["checked"][:1]}))
    page.get_by_role("button", name="Fork from here").click()
    forked = page.get_by_test_id("stAlert").filter(has_text="Forked from step 2")
    forked.wait_for()
    said = forked.inner_text()
    assert re.search(r"Forked from step 2, with (checked, labels|labels, checked) changed: new run", said), (
        said
    )
    fork_id = re.search(r"[0-9a-f]{32}", forked.inner_text()).group(0)
    page.get_by_role("link", name="Open the new run").click()
    page.get_by_text(f"Forked from run {run_id} at step 2", exact=False).wait_for()
    page.get_by_role("textbox", name="Your answer (JSON)").wait_for(timeout=90_000)  # asked again
    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        fork = orch.store.get_run(fork_id)
        assert (fork["parent_run_id"], fork["parent_step"], fork["status"]) == (run_id, 2, "awaiting_input")
        assert fork["state_snapshot"]["labels"] == {"forked": 1}
        # The edited list replaced the old one (not added to it), and no check ran again.
        assert [c["index"] for c in fork["state_snapshot"]["checked"]] == [0]
        # LangGraph's own view of the fork's first state: the state as edited.
        first = checkpoint_history(orch.config, fork_id)
        edit = next(h for h in first if h["source"] == "update")
        assert edit["values"]["checked"] == values["checked"][:1] and edit["writers"] == ["(state edited)"]
    finally:
        orch.engine.dispose()
