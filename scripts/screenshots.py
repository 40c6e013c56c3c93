"""Screenshots of every page at 1440×900, on the demo data set, for the README.

    python -m scripts.screenshots                  # writes docs/screenshots/*.png
    python -m scripts.screenshots --out /tmp/shots

Seeds a fresh SQLite file in a temporary folder with the demo data set (scripts/demo_data.py)
and a team's graph at its questions and runs that log, call a test chat model and record metrics
(scripts/team_demo.py),
starts the dashboard on it with `streamlit run`, and photographs each page in Debian's
Chromium (Playwright, never a downloaded browser) once it is drawn. Takes about a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import OrchestratorConfig
from scripts.browser import VIEWPORT, launch_chromium, missing_browser, new_context, wait_until_drawn
from scripts.dashboard_server import DashboardServer

ROOT = Path(__file__).resolve().parents[1]
from scripts.demo_data import DEMO_LAUNCHER, DemoData, seed_demo  # noqa: E402
from scripts.team_demo import OBSERVED_ENV, seed_observed, seed_team  # noqa: E402


def _top(page: Any, element: Any, margin: int = 16) -> None:
    """Scroll so that `element` is at the top of the window, `margin` pixels below the edge."""
    element.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # away from any chart's toolbar
    page.mouse.wheel(0, -margin)


def _tasks_tab(page: Any) -> None:
    _top(page, page.get_by_role("tab", name="Tasks"))


def _checkpoints_tab(page: Any) -> None:
    page.get_by_role("tab", name="Checkpoints").click()
    page.get_by_text("State at checkpoint").wait_for()
    _top(page, page.get_by_text("tasks completed", exact=False))


def _approval(page: Any) -> None:
    _top(page, page.get_by_text("Edit the plan", exact=False), margin=90)


def _period(name: str) -> Callable[[Any], None]:
    """Choose a period on the overview, then show its charts."""

    def choose(page: Any) -> None:
        page.get_by_role("radio", name=name, exact=True).click()
        page.get_by_text("compared with the previous 24 hours").wait_for()
        wait_until_drawn(page)
        _top(page, page.get_by_role("heading", name="Runs over time"))

    return choose


def _answer(page: Any) -> None:
    _top(page, page.get_by_text("Each node coloured by this run's tasks", exact=False), margin=170)


def _fork(page: Any) -> None:
    page.get_by_role("tab", name="Checkpoints").click()
    page.get_by_text("State at checkpoint").wait_for()
    box = page.get_by_test_id("stSelectbox").filter(has_text="State at checkpoint")
    box.get_by_role("combobox").click()
    page.get_by_role("option", name="step 2 · loop · check", exact=True).click()
    page.get_by_text("Fork from here (step 2)").wait_for()
    wait_until_drawn(page)
    _top(page, page.get_by_role("tab", name="Checkpoints"))


def _your_runs(page: Any) -> None:
    _top(page, page.get_by_role("heading", name="Your runs"))


def _tab(name: str, drawn: str) -> Callable[[Any], None]:
    """Open run detail's tab `name`, wait for `drawn` in it, and show it from the tabs down."""

    def open_tab(page: Any) -> None:
        page.get_by_role("tab", name=name, exact=True).click()
        page.get_by_text(drawn, exact=False).first.wait_for(state="attached")  # a grid cell: hidden
        wait_until_drawn(page)
        _top(page, page.get_by_role("tab", name=name, exact=True))

    return open_tab


def _heading(name: str) -> Callable[[Any], None]:
    def scroll(page: Any) -> None:
        page.get_by_role("heading", name=name).first.wait_for()
        wait_until_drawn(page)
        _top(page, page.get_by_role("heading", name=name))

    return scroll


def _plots(page: Any) -> None:
    """The runs page's plots of the filtered runs, from the table's last rows down."""
    page.get_by_text("Showing", exact=False).first.wait_for()  # the plot's "Showing N of M"
    wait_until_drawn(page)
    _top(page, page.get_by_text("Plot the filtered runs"), margin=200)


def shots(
    demo: DemoData, team: dict[str, str], observed: dict[str, str]
) -> list[tuple[str, str, Callable[[Any], None] | None]]:
    """(file name, path, what to do on the page before the picture)."""
    real = demo.real
    return [
        ("runs.png", "/", None),
        ("runs-filtered.png", "/?status=failed%2Cinterrupted&tasks_total_min=10&sort=tasks_total", None),
        ("run-detail.png", f"/run_detail?run_id={real['wide']}", None),
        ("run-detail-timeline.png", f"/run_detail?run_id={real['wide']}", _tasks_tab),
        ("run-detail-1000-tasks.png", f"/run_detail?run_id={demo.big_run}", _tasks_tab),
        ("run-detail-checkpoints.png", f"/run_detail?run_id={real['small']}", _checkpoints_tab),
        ("approval.png", f"/run_detail?run_id={real['waiting']}", _approval),
        ("compare.png", f"/compare?run_ids={real['small']},{real['wide']},{real['failed']}", None),
        ("overview.png", "/overview", None),
        ("overview-24h.png", "/overview", _period("Last 24 h")),
        ("launch.png", f"/launch?by={DEMO_LAUNCHER}", None),
        ("launch-your-runs.png", f"/launch?by={DEMO_LAUNCHER}", _your_runs),
        ("launch-config.png", f"/launch?workflow=invoices&by={DEMO_LAUNCHER}", None),
        ("run-detail-answer.png", f"/run_detail?run_id={team['question']}", _answer),
        ("run-detail-inbox.png", f"/run_detail?run_id={team['inbox']}", _answer),
        ("run-detail-fork.png", f"/run_detail?run_id={team['question']}", _fork),
        ("workers.png", "/workers", None),
        (
            "runs-fields-plot.png",
            "/?workflow=simulate&tasks_total_max=200&columns=input.tasks%2Cinput.delay_ms"
            "&plot=true&plot_x=input.tasks&plot_y=work_seconds",
            _plots,
        ),
        (
            "run-detail-logs.png",
            f"/run_detail?run_id={observed['chatty_failing']}",
            _tab("Logs", "went wrong"),
        ),
        (
            "run-detail-model-calls.png",
            f"/run_detail?run_id={observed['chatty']}",
            _tab("Model calls", "test-usage-model"),
        ),
        (
            "run-detail-conversation.png",
            f"/run_detail?run_id={observed['chatty']}",
            _tab("Conversation", "How did the work go"),
        ),
        (
            "compare-metrics.png",
            f"/compare?run_ids={observed['scored_3']},{observed['scored_6']},{observed['scored_9']}",
            _heading("Side by side"),
        ),
        ("overview-model-calls.png", "/overview", _heading("Model calls")),
    ]


def take(
    server: DashboardServer, demo: DemoData, team: dict[str, str], observed: dict[str, str], out: Path
) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = new_context(browser).new_page()
        page.set_default_timeout(90_000)
        for name, path, before in shots(demo, team, observed):
            page.goto(server.url + path)
            page.get_by_role("heading", level=1).wait_for()
            wait_until_drawn(page)
            if before:
                before(page)
                wait_until_drawn(page)
            page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover effects
            page.wait_for_timeout(500)  # let the last chart finish its transition
            page.screenshot(path=out / name)
            written.append(out / name)
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if reason := missing_browser():
        print(f"Cannot take screenshots: {reason}.", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        folder = Path(tmp)
        env = {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(folder / "demo.db"), **OBSERVED_ENV}
        config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=env["SQLITE_PATH"], env_file=None)
        demo = seed_demo(config)
        team = seed_team(config, folder)
        observed = seed_observed(config)
        with DashboardServer(folder, env) as server:
            for path in take(server, demo, team, observed, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
