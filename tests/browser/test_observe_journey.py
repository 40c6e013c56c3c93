"""Issue 26's journey, in Chromium at 1440×900, on SQLite and on PostgreSQL: a team's graph that
logs, calls a (test) chat model reporting usage and keeps `messages` (tests/observe_workflows.py's
`chatty`, with a price for its model) is launched from the launch page; its run detail shows a
task's logs, its input and output (the secret redacted), its model calls with tokens and cost and
the conversation; the runs page filters by cost and sorts by tokens; the overview shows cost per
day. Expected figures come from the run store; screenshots are saved beside the server's log."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from orchestrator.config import OrchestratorConfig
from orchestrator.observe.figures import cost_text
from orchestrator.operations import Orchestrator
from scripts.browser import wait_until_drawn
from scripts.dashboard_server import DashboardServer
from tests.browser.conftest import Dashboard, _database, download_by_clicking
from tests.browser.test_journeys import bars, caption_with, chart_svg, main, number, open_page, pick
from tests.conftest import BACKENDS, _admin_connect
from tests.helpers import wait_for
from tests.observe_workflows import SECRET

WORKFLOWS = {"chatty": "tests.observe_workflows:build_chatty"}
PRICES = {"test-usage-model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}


@pytest.fixture(scope="module", params=BACKENDS)
def dashboard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Dashboard]:
    """A dashboard whose team graph logs and calls a priced (test) chat model."""
    folder = tmp_path_factory.mktemp(f"observe-{request.param}")
    env, database = _database(request.param, folder, request)
    env["ORCHESTRATOR_WORKFLOWS"] = json.dumps(WORKFLOWS)
    env["ORCHESTRATOR_MODEL_PRICES"] = json.dumps(PRICES)
    config = OrchestratorConfig(
        checkpoint_mode=env["CHECKPOINT_MODE"],
        sqlite_path=env.get("SQLITE_PATH", "orchestrator.db"),
        postgres_uri=env.get("POSTGRES_URI"),
        workflows=WORKFLOWS,
        model_prices=PRICES,
        env_file=None,
    )
    try:
        with DashboardServer(folder, env) as server:
            yield Dashboard(request.param, server, config, env=env)
    finally:
        if database:
            with _admin_connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def launch_chatty(page: Any, dashboard: Dashboard, calls: int) -> str:
    open_page(page, dashboard, "/launch", "Launch a run")
    pick(page, "stSelectbox", "Workflow", "chatty")
    wait_until_drawn(page)
    # chatty's form replaces the first workflow's (which also has Tasks): wait until it alone is there
    page.get_by_role("spinbutton", name="Lines", exact=True).wait_for()
    expect(page.get_by_role("spinbutton", name="Tasks", exact=True)).to_have_count(1, timeout=30_000)
    number(page, "Tasks", 2)
    number(page, "Lines", 3)
    number(page, "Calls", calls)
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run: "))
    queued.wait_for()
    return re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)


def shot(page: Any, dashboard: Dashboard, name: str, at: Any = None) -> None:
    """What the page shows (scrolled to `at`), beside the server's log."""
    if at is not None:
        at.scroll_into_view_if_needed()
    page.screenshot(path=dashboard.server.folder / f"observe-{dashboard.backend}-{name}.png", full_page=True)


def test_see_inside_a_run_then_find_it_by_cost_and_tokens(page: Any, dashboard: Dashboard) -> None:
    orch = Orchestrator(dashboard.config)
    try:
        cheap = launch_chatty(page, dashboard, calls=1)
        dear = launch_chatty(page, dashboard, calls=2)
        wait_for(
            lambda: all(orch.get_run(r)["status"] == "succeeded" for r in (cheap, dear)),
            timeout=120,
            what="both runs succeeded",
        )
        run = orch.get_run(dear)

        # Run detail: a task's logs and its input and output; the model calls; the conversation.
        open_page(page, dashboard, f"/run_detail?run_id={dear}", "Run detail")
        page.get_by_role("tab", name="Logs").click()
        (work, _) = [t["task_id"] for t in orch.store.get_tasks(dear) if t["node"] == "work"]
        pick(page, "stSelectbox", "Task", f"work · {work[:8]} · 4 lines")
        wait_until_drawn(page)
        shown = page.locator('[role="tabpanel"]:visible')
        shown.get_by_text("max_tokens").first.wait_for()  # its input, beside its lines
        panel = shown.inner_text()
        assert "***" in panel and SECRET not in panel
        shot(page, dashboard, "logs", shown)
        page.get_by_role("tab", name="Model calls").click()
        usage = (
            f"2 model calls: {run['tokens']:,} tokens (2,400 input, 600 output), {cost_text(run['cost_usd'])}"
        )
        shown.get_by_text(usage).wait_for()  # the run's figures, as its header says them too
        assert "Per node and model" in shown.inner_text()  # (its tables are drawn on a canvas)
        shot(page, dashboard, "model-calls", shown)
        page.get_by_role("tab", name="Conversation").click()
        shown.get_by_text("How did the work go?").first.wait_for()
        shown.get_by_text("answer 1").first.wait_for()
        shot(page, dashboard, "conversation", shown)

        # Runs page: sorted by tokens, filtered by cost; the CSV holds what the table shows.
        open_page(page, dashboard, "/", "Runs")
        pick(page, "stSelectbox", "Sort by", "Tokens")
        page.wait_for_url(re.compile(r"sort=tokens"))
        number(page, "Cost $ ≥", 0.005)
        page.wait_for_url(re.compile(r"cost_usd_min=0.005"))
        wait_for(
            lambda: caption_with(page, "matching runs").startswith("2 matching runs"), timeout=60, what="2"
        )
        wait_until_drawn(page)
        download = download_by_clicking(page, page.get_by_role("button", name="Download filtered runs (CSV)"))
        rows = list(csv.DictReader(io.StringIO(download.path().read_text())))
        assert [r["run_id"] for r in rows] == [dear, cheap]  # most tokens first
        assert [int(r["tokens"]) for r in rows] == [3000, 1500]
        assert float(rows[0]["cost_usd"]) == pytest.approx(run["cost_usd"], abs=1e-12)
        number(page, "Cost $ ≥", 0.01)
        page.wait_for_url(re.compile(r"cost_usd_min=0.01"))
        wait_for(
            lambda: caption_with(page, "matching runs").startswith("1 matching runs"), timeout=60, what="1"
        )
        shot(page, dashboard, "runs-filters", page.get_by_role("spinbutton", name="Tasks ≥", exact=True))
        shot(page, dashboard, "runs", main(page).get_by_test_id("stDataFrame").first)

        # Overview: cost per day, and the most expensive run first.
        open_page(page, dashboard, "/overview", "Overview")
        page.get_by_role("heading", name="Most expensive runs").wait_for()
        drawn = bars(chart_svg(page, 3))
        assert drawn and any("chatty" in b["label"] for b in drawn), drawn
        cost = cost_text(run["cost_usd"] + orch.get_run(cheap)["cost_usd"])
        assert cost in main(page).inner_text()
        shot(page, dashboard, "overview", page.get_by_role("heading", name="Most expensive runs"))
    finally:
        orch.engine.dispose()
