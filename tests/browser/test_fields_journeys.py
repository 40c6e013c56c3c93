"""Fields, metrics, N-way compare and plots, as a person uses them in Chromium (both backends).

Picking a field column on the runs page, filtering on it and reloading the URL; a team's graph
that records its own metrics, seen on run detail, as a column and overlaid in compare; three
runs compared (the differing cells drawn marked, only the differing rows, any two diffed); a
scatter of the filtered runs whose point, clicked, opens that run. Expected values come from the
demo data set as seeded (scripts/demo_data.py) or the hand-written metric workflow
(tests/metric_workflows.py: accuracy = points / 10 + 0.01 at its last step, loss = 1 / (step + 1)).
"""

from __future__ import annotations

import io
import re
import urllib.parse
from typing import Any

from PIL import Image

from orchestrator.operations import Orchestrator
from scripts.browser import wait_until_drawn
from scripts.demo_data import DemoData
from tests.browser.conftest import Dashboard
from tests.browser.test_journeys import caption_with, chart_svg, fill_kept, main, open_page, pick
from tests.helpers import wait_for

MARK_RGB = (0xFF, 0xF3, 0xB0)  # app_pages/compare.py's highlight


def grid_text(page: Any, index: int = 0) -> str:
    """The text of a table (the grid's accessible copy)."""
    table = page.get_by_test_id("stDataFrame").nth(index).locator("table")
    return str(table.text_content() or "")


def right_end_text(page: Any) -> str:
    """The text of the runs table scrolled to its right end (the grid draws only the columns in
    view; the field columns come last)."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.locator(".dvn-scroller").first.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    return str(grid.locator("table").text_content() or "")


def marked_pixels(element: Any) -> int:
    """How many pixels of the element are drawn in the highlight colour."""
    image = Image.open(io.BytesIO(element.screenshot())).convert("RGB")
    return sum(
        1 for pixel in image.getdata() if all(abs(a - b) <= 3 for a, b in zip(pixel, MARK_RGB, strict=True))
    )


def delayed(demo: DemoData, at_least: int) -> list[dict[str, Any]]:
    """The demo runs whose input.delay_ms is a number of at least `at_least`, by hand."""
    return [
        r
        for r in demo.bulk
        if isinstance((r.get("input") or {}).get("delay_ms"), int) and r["input"]["delay_ms"] >= at_least
    ]


def test_pick_a_field_column_filter_on_it_and_reload(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    expected = delayed(demo, 200)
    assert 10 < len(expected) < 200
    open_page(page, dashboard, "/", "Runs")
    pick(page, "stMultiSelect", "Field columns", "input.delay_ms")
    page.wait_for_url(re.compile(r"columns=input.delay_ms"))
    wait_for(lambda: "input.delay_ms" in right_end_text(page), timeout=60, what="the input.delay_ms column")
    # The filter editor: a field, an operator, a value, then Add.
    fill_kept(page, page.get_by_role("textbox", name="Field", exact=True), "input.delay_ms")
    pick(page, "stSelectbox", "Operator", ">=")
    fill_kept(page, page.get_by_role("textbox", name="Value", exact=True), "200")
    page.get_by_role("button", name="Add field filter").click()
    page.wait_for_url(re.compile(r"where=input.delay_ms"))
    wanted = f"{len(expected)} matching runs"
    wait_for(lambda: caption_with(page, "matching runs").startswith(wanted), timeout=60, what=wanted)
    page.screenshot(path=dashboard.server.folder / "fields-column-and-filter.png", full_page=True)

    page.reload()
    page.get_by_role("heading", level=1, name="Runs", exact=True).wait_for()
    wait_for(lambda: caption_with(page, "matching runs").startswith(wanted), timeout=60, what=wanted)
    assert (
        "input.delay_ms" in page.get_by_test_id("stMultiSelect").filter(has_text="Field columns").inner_text()
    )
    # The box is drawn with its value by the same script run as the caption, but the browser may
    # fill it a moment later (once seen empty under load): wait for it, then check nothing dropped it.
    box = page.get_by_role("textbox", name="Field filters, one a line")
    wait_for(lambda: box.input_value() == "input.delay_ms >= 200", timeout=30, what="the filter's box")
    assert caption_with(page, "matching runs").startswith(wanted)
    wait_for(lambda: "input.delay_ms" in right_end_text(page), timeout=60, what="the column after the reload")
    assert "200" in right_end_text(page)


def test_a_teams_metrics_recorded_by_its_graph(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    open_page(page, dashboard, "/", "Runs")  # the dashboard's embedded executor starts with its first page
    orch = Orchestrator(dashboard.config, migrate=False)
    try:
        ids = [orch.launch("scored", {"points": points}, ["metrics"]) for points in (3, 5)]
        # The dashboard's embedded executor runs them; their graph records the metrics.
        wait_for(
            lambda: all(orch.get_run(r)["status"] == "succeeded" for r in ids),
            timeout=120,
            what="scored runs",
        )
    finally:
        orch.engine.dispose()

    open_page(page, dashboard, f"/run_detail?run_id={ids[1]}", "Run detail")
    page.get_by_role("tab", name="Metrics").click()
    panel = page.get_by_role("tabpanel", name="Metrics")
    wait_for(lambda: "accuracy" in grid_text(panel), timeout=60, what="the metrics table")
    table = grid_text(panel)
    assert "0.51" in table and "loss" in table  # accuracy 5 / 10 + 0.01; loss over 5 steps
    svg = panel.get_by_test_id("stVegaLiteChart").first.locator("svg").first
    svg.wait_for()
    assert (
        svg.locator("g.mark-symbol.role-mark path").count() == 5 + 2
    )  # loss at steps 0 … 4, accuracy at 0 and 1
    panel.screenshot(path=dashboard.server.folder / "metrics-run-detail.png")

    # As a column, filtered and sorted on: the two runs, the higher accuracy first.
    query = urllib.parse.urlencode(
        {"columns": "metrics.accuracy", "where": "metrics.accuracy > 0.3", "sort_field": "metrics.accuracy"}
    )
    open_page(page, dashboard, f"/?{query}", "Runs")
    wait_for(
        lambda: caption_with(page, "matching runs").startswith("2 matching runs"), timeout=60, what="2 runs"
    )
    text = grid_text(page)
    assert text.index(ids[1][:12]) < text.index(ids[0][:12])
    assert "0.51" in text and "0.31" in text

    # Overlaid in compare: a line per run in each metric's panel.
    open_page(page, dashboard, "/compare?run_ids=" + ",".join(ids), "Compare runs")
    page.get_by_role("heading", name="Metrics over their steps").wait_for()
    svg = chart_svg(page)
    assert svg.locator("g.mark-line.role-mark path").count() == 4  # two runs x (accuracy, loss)
    assert (
        svg.locator("g.mark-symbol.role-mark path").count() == 3 + 2 + 5 + 2
    )  # loss 3 and 5 points, accuracy 2 each
    page.get_by_test_id("stVegaLiteChart").first.screenshot(
        path=dashboard.server.folder / "compare-metrics.png"
    )


def test_compare_three_runs_n_ways(page: Any, dashboard: Dashboard, demo: DemoData) -> None:
    ids = [demo.real[name] for name in ("small", "wide", "failed")]
    open_page(page, dashboard, "/compare?run_ids=" + ",".join(ids), "Compare runs")
    names = [f"{i}: {run_id[:8]}" for i, run_id in enumerate(ids, start=1)]
    wait_for(lambda: names[2] in grid_text(page), timeout=60, what="the side-by-side table")
    table = grid_text(page)
    for row in ("Workflow", "Status", "input.tasks", "input.seed", "input.delay_ms"):
        assert row in table, row
    side_by_side = page.get_by_test_id("stDataFrame").first
    assert marked_pixels(side_by_side) > 200, "no cell is drawn marked"
    side_by_side.screenshot(path=dashboard.server.folder / "compare-n-ways.png")

    # Only the rows that differ: the workflow (simulate for all three) goes, the inputs stay.
    page.get_by_test_id("stCheckbox").filter(has_text="Only rows that differ").click()
    wait_for(lambda: "Workflow" not in grid_text(page), timeout=60, what="the differing rows only")
    table = grid_text(page)
    assert "input.tasks" in table and "Status" in table  # failed against two succeeded

    # Any two of them: run 2 against run 3.
    pick(page, "stSelectbox", "Left run", names[1])
    pick(page, "stSelectbox", "Right run", names[2])
    page.get_by_text(f"{names[1]} against {names[2]}").wait_for()
    wait_until_drawn(page)
    diffs = page.get_by_test_id("stDataFrame").filter(has_text="path")
    wait_for(
        lambda: "tasks" in (diffs.first.locator("table").text_content() or ""), timeout=60, what="the diff"
    )
    text = diffs.first.locator("table").text_content() or ""
    assert "24" in text and "5" in text  # tasks: 24 (wide) against 5 (failed)
    diffs.first.screenshot(path=dashboard.server.folder / "compare-any-pair.png")


def test_plot_the_filtered_runs_and_click_through_to_a_run(
    page: Any, dashboard: Dashboard, demo: DemoData
) -> None:
    # The demo's failed runs: the bulk's and the real `failed` one (delay_ms 20); plan_execute's
    # have no delay_ms and are left out of the scatter.
    failed = [r for r in demo.bulk if r["status"] == "failed"] + [
        {"run_id": demo.real["failed"], "input": {"delay_ms": 20}}
    ]
    expected = [r for r in failed if isinstance((r["input"] or {}).get("delay_ms"), int)]
    assert 3 <= len(expected) < 1000
    query = urllib.parse.urlencode(
        {
            "status": "failed",
            "plot": "true",
            "plot_x": "input.delay_ms",
            "plot_y": "tasks_total",
            "plot_fields": "input.delay_ms,tasks_total,tasks_failed",
        }
    )
    open_page(page, dashboard, f"/?{query}", "Runs")
    svg = chart_svg(page)
    svg.scroll_into_view_if_needed()
    wait_until_drawn(page)
    points = svg.evaluate(
        """svg => [...svg.querySelectorAll('g.mark-symbol.role-mark path')].map(p => {
            const b = p.getBoundingClientRect();
            return {x: b.x + b.width / 2, y: b.y + b.height / 2, label: p.getAttribute('aria-label') || ''};
        })"""
    )
    assert caption_with(page, "Showing").startswith(f"Showing {len(failed)} of {len(failed)} matching runs")
    assert len(points) == len(expected)
    page.get_by_test_id("stVegaLiteChart").first.screenshot(path=dashboard.server.folder / "plot-scatter.png")
    # Parallel coordinates of three fields: a line per run that has all three.
    parallel = chart_svg(page, 1)
    parallel.scroll_into_view_if_needed()
    assert parallel.locator("g.mark-line.role-mark path").count() == len(expected)
    page.get_by_test_id("stVegaLiteChart").nth(1).screenshot(
        path=dashboard.server.folder / "plot-parallel.png"
    )
    svg.scroll_into_view_if_needed()
    wait_until_drawn(page)
    points = svg.evaluate(
        """svg => [...svg.querySelectorAll('g.mark-symbol.role-mark path')].map(p => {
            const b = p.getBoundingClientRect();
            return {x: b.x + b.width / 2, y: b.y + b.height / 2, label: p.getAttribute('aria-label') || ''};
        })"""
    )
    # A point alone at its place (no other drawn within 6 px), so the click lands on it.
    alone = [
        p
        for p in points
        if all(abs(p["x"] - q["x"]) + abs(p["y"] - q["y"]) > 6 for q in points if q is not p)
    ]
    assert alone, points
    target = alone[0]
    run_id = re.search(r"run: (\S+?);", target["label"] + ";")
    assert run_id, target["label"]
    page.mouse.click(target["x"], target["y"])
    page.wait_for_url(re.compile(r"run_detail\?run_id="))
    page.get_by_role("heading", level=1, name="Run detail", exact=True).wait_for()
    assert page.url.endswith(f"run_id={run_id.group(1)}")
    assert run_id.group(1) in {r["run_id"] for r in expected}
    # The heading is drawn before the run's rows are read: wait for its status, not a count now.
    main(page).get_by_text("failed").first.wait_for()
