"""The Launch page, rendered with Streamlit's AppTest, on a SQLite file and on a real PostgreSQL database.

As in test_dashboard.py: the app reads its config from the environment, each test works in
tmp_path, Streamlit's caches are cleared before and after each test (which also stops an
embedded executor), and the embedded executor is off (ORCHESTRATOR_EMBEDDED_EXECUTOR=0) except
in the live-view test, so a launched run stays `queued` until a test runs it with a standalone
Executor that is always stopped again.

Expected values are written by hand (the typed input, the offline planner's plan for GOAL, the
task counts of `simulate`), and runs are counted in the database before and after each submit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import ReadOnlyError
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import APP, execute, main_texts, open_page, reset_streamlit
from tests.helpers import FINISHED, wait_for

LAUNCH_PAGE = APP.parent / "app_pages" / "launch.py"
LIVE = "launch_live"  # the key of the launch page's live view
GOAL = "Collect the logs; parse them and then write a report"
PLAN = ["Collect the logs", "Parse them", "Write a report"]  # the offline planner's plan for GOAL
TYPED = {"tasks": 7, "fail_rate": 0.0, "delay_ms": 10, "seed": 3, "fan_out": 2}
CUSTOM_WORKFLOWS = {
    "labelled": "tests.launch_workflows:build_labelled",
    "broken": "tests.launch_workflows:no_such_builder",
}


# -- launch page helpers ------------------------------------------------------------------------


def field_key(workflow: str, name: str) -> str:
    return f"launch_{workflow}_new_{workflow}_{name}"


def form_key(workflow: str, name: str) -> str:
    """The form's own widgets: `tags` and `copies`."""
    return f"launch_{workflow}_new_{name}"


def submit(at: AppTest) -> AppTest:
    """Click the form's Launch button and render; the page must not raise."""
    (button,) = [b for b in at.button if b.label == "Launch"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def flat(node: Any) -> Iterator[Any]:
    """Every block and element below `node`, in the order the page draws them."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from flat(child)


def errors_after(at: AppTest, key: str) -> list[str]:
    """The st.error messages drawn right after the widget `key` (before the next widget)."""
    nodes = [n for n in flat(at.main) if getattr(n, "type", None) not in (None, "vertical", "horizontal")]
    (index,) = [i for i, n in enumerate(nodes) if getattr(n, "key", None) == key]
    found = []
    for node in nodes[index + 1 :]:
        if getattr(node, "type", None) != "error":
            break
        found.append(str(node.value))
    return found


def field_errors(at: AppTest) -> list[str]:
    """The page's error messages, without the banners of configured workflows that cannot load."""
    return [e for e in main_texts(at, "error") if "cannot be launched" not in e]


def run_count(orch: Orchestrator) -> int:
    return orch.store.count_runs()


def all_runs(orch: Orchestrator) -> list[dict[str, Any]]:
    """Every run, oldest first (the store's default order is newest first)."""
    rows = orch.store.query_runs(limit=1000).rows
    return sorted((orch.store.get_run(r["run_id"]) for r in rows), key=lambda r: r["created_at"])


def progress_texts(at: AppTest) -> list[str]:
    """The text under each live card's progress bar (a bar in the run's status colour)."""
    bars = [m for m in main_texts(at, "markdown") if 'class="run-bar"' in m]
    texts = [c for c in main_texts(at, "caption") if " failed · " in c]
    assert len(texts) >= len(bars), (bars, texts)
    return texts


def card_heads(at: AppTest) -> list[str]:
    """The first line of each live card: '**<icon> <status>** · <workflow> · `<run id>`'."""
    return [m for m in main_texts(at, "markdown") if m.startswith("**") and " · `" in m]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def orch(app_config: OrchestratorConfig) -> Iterator[Orchestrator]:
    """The test's own Orchestrator on the app's database, with LangGraph's saver tables set up."""
    orch = Orchestrator(app_config)
    asyncio.run(startup(orch.config, orch.engine))
    yield orch
    orch.engine.dispose()


@pytest.fixture
def custom_orch(clean_env: pytest.MonkeyPatch, orch: Orchestrator) -> Orchestrator:
    """As `orch`, with the app configured (ORCHESTRATOR_WORKFLOWS) for a good and a broken workflow."""
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps(CUSTOM_WORKFLOWS))
    return Orchestrator(OrchestratorConfig(), engine=orch.engine, migrate=False)


# -- 1. a submitted form queues exactly one run; double clicks do not queue twice ----------------


def fill_simulate(at: AppTest, values: dict[str, Any], tags: str | None = None) -> None:
    for name, value in values.items():
        at.number_input(key=field_key("simulate", name)).set_value(value)
    if tags is not None:
        at.text_input(key=form_key("simulate", "tags")).input(tags)


def test_submit_queues_one_run_with_the_typed_input_and_a_double_click_queues_nothing(orch: Orchestrator):
    at = open_page("launch")
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "title") == ["Launch a run"]
    assert at.selectbox(key="launch_workflow").value == "simulate"
    launcher = at.session_state["launcher"]
    assert launcher.startswith("browser:") and at.query_params["by"] == launcher
    assert run_count(orch) == 0

    fill_simulate(at, TYPED, tags="a, b")
    submit(at)
    (first,) = all_runs(orch)
    assert first["workflow"] == "simulate"
    assert first["status"] == "queued"
    # All five fields were typed, so the stored input is exactly the typed one (defaults filled: none left).
    assert first["input"] == {"tasks": 7, "fail_rate": 0.0, "delay_ms": 10, "seed": 3, "fan_out": 2}
    assert first["tags"] == ["a", "b"]
    assert first["launched_by"] == launcher
    assert not field_errors(at)
    (queued,) = main_texts(at, "success")
    assert queued.startswith("Queued 1 run: ") and first["run_id"] in queued
    assert card_heads(at) == [f"**:gray[:material/schedule:] queued** · simulate · `{first['run_id']}`"]

    # The same form sent again at once (a double click: two clicks, two script runs) queues nothing;
    # the confirmation still names the one run queued.
    submit(at)
    assert run_count(orch) == 1
    assert main_texts(at, "success") == [queued]

    # A changed value is a new launch.
    fill_simulate(at, {"seed": 4})
    submit(at)
    assert run_count(orch) == 2
    second = all_runs(orch)[-1]
    assert second["input"] == {**TYPED, "seed": 4}
    assert (second["tags"], second["launched_by"]) == (["a", "b"], launcher)

    # ... and that form sent again at once is again a double click.
    submit(at)
    assert run_count(orch) == 2

    # Once the double-click window has passed, the identical form queues another run.
    fingerprint, _clicked = at.session_state["launch_last"]
    at.session_state["launch_last"] = (fingerprint, time.monotonic() - 60)
    submit(at)
    assert run_count(orch) == 3
    third = all_runs(orch)[-1]
    assert third["input"] == second["input"] and third["run_id"] != second["run_id"]
    assert third["launched_by"] == launcher


def test_fields_left_alone_are_filled_with_the_defaults(orch: Orchestrator):
    at = open_page("launch")
    fill_simulate(at, {"tasks": 2})
    submit(at)
    (run,) = all_runs(orch)
    # SimulateInput's defaults, written out by hand.
    assert run["input"] == {"tasks": 2, "fail_rate": 0.0, "delay_ms": 100, "seed": 0, "fan_out": 4}
    assert run["tags"] == []


# -- 2. invalid input is refused next to its field and queues nothing ---------------------------


def test_simulate_field_errors_and_copies_out_of_range_queue_nothing(orch: Orchestrator):
    at = open_page("launch")
    cases = [
        ("tasks", 0, "Tasks must be at least 1."),
        ("fail_rate", 1.5, "Fail rate must be at most 1.0."),
        ("copies", 0, "Copies must be between 1 and 100."),
        ("copies", 101, "Copies must be between 1 and 100."),
    ]
    for name, bad, message in cases:
        key = form_key("simulate", name) if name == "copies" else field_key("simulate", name)
        good = at.number_input(key=key).value
        at.number_input(key=key).set_value(bad)
        submit(at)
        assert run_count(orch) == 0, name
        assert field_errors(at) == [message], name
        assert errors_after(at, key) == [message], name
        others = [field_key("simulate", f) for f in TYPED] + [form_key("simulate", "copies")]
        assert all(errors_after(at, other) == [] for other in others if other != key), name
        assert not main_texts(at, "success"), name
        at.number_input(key=key).set_value(good)

    # Fixed, the same form launches, and the messages are gone.
    submit(at)
    assert run_count(orch) == 1
    assert not field_errors(at)


def test_plan_execute_without_a_goal_is_refused(orch: Orchestrator):
    at = open_page("launch")
    at.selectbox(key="launch_workflow").set_value("plan_execute").run()
    goal = field_key("plan_execute", "goal")
    assert at.text_area(key=goal).value == ""

    submit(at)  # left empty
    assert run_count(orch) == 0
    assert field_errors(at) == ["Goal is required."]
    assert errors_after(at, goal) == ["Goal is required."]

    at.text_area(key=goal).input("   ")  # only spaces
    submit(at)
    assert run_count(orch) == 0
    assert errors_after(at, goal) == ["Goal must not be empty."]

    at.text_area(key=goal).input(GOAL)
    submit(at)
    (run,) = all_runs(orch)
    assert run["input"] == {"goal": GOAL, "max_tasks": 5, "max_parallel": 3, "require_approval": False}
    assert not field_errors(at)


def test_configured_workflow_json_field_and_a_broken_workflow(custom_orch: Orchestrator):
    orch = custom_orch
    at = open_page("launch")
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="launch_workflow").options == ["simulate", "plan_execute", "labelled"]
    (banner,) = main_texts(at, "error")
    assert banner.startswith("**broken** cannot be launched:")
    assert "tests.launch_workflows:no_such_builder" in banner

    at.selectbox(key="launch_workflow").set_value("labelled").run()
    options = field_key("labelled", "options")
    assert at.text_area(key=options).label == "Options (JSON)"
    at.text_area(key=options).input('{"retries": 2,')
    submit(at)
    assert run_count(orch) == 0
    (message,) = errors_after(at, options)
    assert message.startswith("Options is not valid JSON (") and message.endswith(").")
    assert field_errors(at) == [message]

    at.text_area(key=options).input("[1, 2]")  # JSON, but not an object
    submit(at)
    assert run_count(orch) == 0
    assert errors_after(at, options) == ["Options must be an object."]

    at.text_area(key=options).input('{"retries": 2, "mode": "fast"}')
    at.number_input(key=field_key("labelled", "repeat")).set_value(3)
    submit(at)
    (run,) = all_runs(orch)
    assert (run["workflow"], run["status"]) == ("labelled", "queued")
    assert run["input"] == {"label": "x", "options": {"retries": 2, "mode": "fast"}, "repeat": 3}
    assert not field_errors(at)

    # The built-ins stay launchable next to the broken entry.
    at.selectbox(key="launch_workflow").set_value("simulate").run()
    fill_simulate(at, {"tasks": 1})
    submit(at)
    assert run_count(orch) == 2
    assert all_runs(orch)[-1]["workflow"] == "simulate"
    assert "labelled" in orch.registry.names() and "broken" in orch.registry.errors()


def test_every_field_error_shows_at_once(orch: Orchestrator):
    """Item 10 of issue 9: Copies 500, Tasks 0 and Fail Rate 1.5 give three errors, each by its field."""
    at = open_page("launch")
    fill_simulate(at, {"tasks": 0, "fail_rate": 1.5})
    at.number_input(key=form_key("simulate", "copies")).set_value(500)
    submit(at)
    assert run_count(orch) == 0
    expected = {
        field_key("simulate", "tasks"): "Tasks must be at least 1.",
        field_key("simulate", "fail_rate"): "Fail rate must be at most 1.0.",
        form_key("simulate", "copies"): "Copies must be between 1 and 100.",
    }
    assert field_errors(at) == list(expected.values())
    for key, message in expected.items():
        assert errors_after(at, key) == [message], key
    assert not main_texts(at, "success")


def test_launch_again_fills_the_form_from_the_run_even_after_another_workflow_was_chosen(
    orch: Orchestrator,
):
    """ "Launch again…" opens /launch?from_run=<id>: the run's workflow and input, whatever the
    session had chosen before."""
    source = orch.launch("simulate", TYPED, ["again"])
    at = open_page("launch")
    at.selectbox(key="launch_workflow").set_value("plan_execute").run()
    at.query_params["from_run"] = source
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="launch_workflow").value == "simulate"
    assert f"Inputs filled from run `{source}`." in main_texts(at, "info")
    filled = {name: at.number_input(key=f"launch_simulate_{source}_simulate_{name}").value for name in TYPED}
    assert filled == TYPED
    assert at.text_input(key=f"launch_simulate_{source}_tags").value == "again"
    submit(at)
    again = all_runs(orch)[-1]
    assert again["run_id"] != source and (again["input"], again["tags"]) == (TYPED, ["again"])


# -- 3. copies ----------------------------------------------------------------------------------


def test_three_copies_queue_three_identical_runs(orch: Orchestrator):
    at = open_page("launch")
    fill_simulate(at, {"tasks": 4, "seed": 11}, tags="load")
    at.number_input(key=form_key("simulate", "copies")).set_value(3)
    submit(at)
    runs = all_runs(orch)
    assert len(runs) == 3 and len({r["run_id"] for r in runs}) == 3
    expected = {"tasks": 4, "fail_rate": 0.0, "delay_ms": 100, "seed": 11, "fan_out": 4}
    assert [r["input"] for r in runs] == [expected] * 3
    assert [r["tags"] for r in runs] == [["load"]] * 3
    assert {r["launched_by"] for r in runs} == {at.session_state["launcher"]}
    (queued,) = main_texts(at, "success")
    assert queued.startswith("Queued 3 runs: ")
    assert all(r["run_id"] in queued for r in runs)
    assert len(card_heads(at)) == 3


# -- 4. the live view ---------------------------------------------------------------------------


def test_live_view_follows_a_launched_run_to_the_end_and_finds_it_again_by_url(
    orch: Orchestrator, clean_env: pytest.MonkeyPatch
):
    from dashboard.state import get_executor

    clean_env.delenv("ORCHESTRATOR_EMBEDDED_EXECUTOR")  # the default: the app runs what it launches
    try:
        at = open_page("launch")
        assert not at.exception, [e.value for e in at.exception]
        executor = get_executor()  # the instance the app's script run cached
        assert executor.is_alive
        launcher = at.session_state["launcher"]
        fill_simulate(at, {"tasks": 6, "delay_ms": 50})
        submit(at)
        (run,) = all_runs(orch)
        run_id = run["run_id"]
        assert run["launched_by"] == launcher

        def finished_card() -> bool:
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            bars = progress_texts(at)
            return (
                card_heads(at) == [f"**:green[:material/check_circle:] succeeded** · simulate · `{run_id}`"]
                and len(bars) == 1
                and bars[0].startswith("8 of 8 tasks completed · 0 failed · worked ")
            )

        wait_for(finished_card, what="the live card to show the finished run")
        done = orch.store.get_run(run_id)
        assert done["status"] == "succeeded"
        assert done["worker"] == executor.worker
        # plan + 6 work steps + summarize
        assert (done["tasks_total"], done["tasks_completed"], done["tasks_failed"]) == (8, 8, 0)
        assert done["state_snapshot"]["summary"]["count"] == 6

        # A new session (the tab closed and the URL reopened) finds the run in the database.
        again = open_page("launch", by=launcher)
        assert not again.exception, [e.value for e in again.exception]
        assert again.session_state["launcher"] == launcher
        assert "launch_queued" not in again.session_state
        assert "Your runs" in main_texts(again, "subheader")
        assert card_heads(again) == [f"**:green[:material/check_circle:] succeeded** · simulate · `{run_id}`"]
        (bar,) = progress_texts(again)
        assert bar.startswith("8 of 8 tasks completed · 0 failed · worked ")

        # Someone else's launcher id shows none of them.
        other = open_page("launch", by="browser:someoneelse")
        assert card_heads(other) == []
        assert "Runs you launch appear here, and stay here after you close the tab." in main_texts(
            other, "caption"
        )
    finally:
        st.cache_resource.clear()  # stops the embedded executor
    assert not executor.is_alive


def sidebar_counts(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.sidebar.metric}


def test_sidebar_counts_and_the_confirmation_follow_the_run(orch: Orchestrator):
    """Item 7 of issue 9: the counts change with the launch at once, and with the run's end; the
    "Queued" confirmation stays after the run is over."""
    at = open_page("launch")
    assert sidebar_counts(at)["All runs"] == "0"
    fill_simulate(at, {"tasks": 2, "delay_ms": 1})
    submit(at)
    (run,) = all_runs(orch)
    assert sidebar_counts(at) == {"All runs": "1", "Running": "0", "Queued": "1", "Awaiting input": "0"}
    (queued,) = main_texts(at, "success")
    assert queued.startswith("Queued 1 run: ") and run["run_id"] in queued

    execute(orch, [run["run_id"]])

    def settled() -> bool:
        at.run()
        return sidebar_counts(at)["Queued"] == "0"

    wait_for(settled, what="the sidebar to count the finished run")
    assert sidebar_counts(at) == {"All runs": "1", "Running": "0", "Queued": "0", "Awaiting input": "0"}
    assert main_texts(at, "success") == [queued]
    assert card_heads(at) == [f"**:green[:material/check_circle:] succeeded** · simulate · `{run['run_id']}`"]


# -- 5. approve an edited plan, reject with a reason, from the live card -------------------------


def test_approve_an_edited_plan_and_reject_another_from_the_live_cards(orch: Orchestrator):
    at = open_page("launch")
    at.selectbox(key="launch_workflow").set_value("plan_execute").run()
    at.text_area(key=field_key("plan_execute", "goal")).input(GOAL)
    at.checkbox(key=field_key("plan_execute", "require_approval")).check()
    at.number_input(key=form_key("plan_execute", "copies")).set_value(2)
    submit(at)
    runs = all_runs(orch)
    assert [r["input"] for r in runs] == [
        {"goal": GOAL, "max_tasks": 5, "max_parallel": 3, "require_approval": True}
    ] * 2
    approved, rejected = (r["run_id"] for r in runs)

    finished = execute(orch, [approved, rejected])
    assert {r["status"] for r in finished.values()} == {"awaiting_input"}

    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "subheader").count(":material/front_hand: Waiting for approval") == 2
    editors = at.data_editor
    assert len(editors) == 2
    assert all(list(e.value["task"]) == PLAN for e in editors)

    # Edit the plan the way the browser reports it: rename two rows, delete the third.
    at.session_state[f"{LIVE}_{approved}_plan"] = {
        "edited_rows": {0: {"task": "alpha task"}, 1: {"task": "beta task"}},
        "added_rows": [],
        "deleted_rows": [2],
    }
    at.run()
    assert "2 tasks will run (edited)." in main_texts(at, "caption")
    at.button(key=f"{LIVE}_{approved}_approve").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = orch.store.get_run(approved)
    assert run["status"] == "queued"
    assert list(run["resume_value"]["resume"].values()) == [["alpha task", "beta task"]]
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")

    at.text_input(key=f"{LIVE}_{rejected}_reason").input("not this week")
    at.button(key=f"{LIVE}_{rejected}_reject").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = orch.store.get_run(rejected)
    assert (run["status"], run["error"]) == ("cancelled", "Rejected: not this week")
    assert "Rejected: the run is cancelled." in main_texts(at, "success")

    run = execute(orch, [approved], until=FINISHED)[approved]
    assert run["status"] == "succeeded"
    workers = [t for t in orch.store.get_tasks(approved) if t["node"] == "worker"]
    assert len(workers) == 2
    assert {t["status"] for t in workers} == {"succeeded"}
    assert run["state_snapshot"]["plan"] == ["alpha task", "beta task"]
    assert [r["task"] for r in run["state_snapshot"]["results"]] == ["alpha task", "beta task"]
    assert run["state_snapshot"]["summary"]["tasks"] == 2
    # The rejected run never carried out a step.
    assert not [t for t in orch.store.get_tasks(rejected) if t["node"] == "worker"]

    at.run()
    assert sorted(card_heads(at)) == sorted(
        [
            f"**:green[:material/check_circle:] succeeded** · plan_execute · `{approved}`",
            f"**:gray[:material/block:] cancelled** · plan_execute · `{rejected}`",
        ]
    )
    assert ":material/front_hand: Waiting for approval" not in main_texts(at, "subheader")


# -- 6. read-only -------------------------------------------------------------------------------

ACTION_KEYS = ("cancel", "resume", "rerun", "delete", "approve", "reject")


def seed_rows(orch: Orchestrator) -> dict[str, str]:
    """One run in each status (awaiting_input with a pending plan); run id by status."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i, status in enumerate(("queued", "running", "awaiting_input", "succeeded", "failed", "interrupted")):
        row: dict[str, Any] = {
            "run_id": f"ro-{status}",
            "workflow": "plan_execute",
            "status": status,
            "created_at": now - dt.timedelta(minutes=i),
            "input": {"goal": GOAL, "require_approval": True},
            "tags": ["ro"],
            # Every row has every key: a bulk insert takes its columns from the first row.
            "started_at": None,
            "finished_at": None,
            "state_snapshot": None,
            "error": None,
        }
        if status != "queued":
            row["started_at"] = now - dt.timedelta(minutes=i, seconds=-1)
        if status in FINISHED:
            row["finished_at"] = now
        if status == "awaiting_input":
            row["state_snapshot"] = {
                "goal": GOAL,
                "plan": PLAN,
                "__interrupt__": [{"id": "int-1", "value": {"plan": PLAN, "goal": GOAL}}],
            }
        if status == "failed":
            row["error"] = "RuntimeError: boom"
        rows.append(row)
    orch.store.insert_many(rows)
    return {r["status"]: r["run_id"] for r in rows}


def action_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and any(b.key.endswith(f"_{a}") for a in ACTION_KEYS)]


def test_read_only_hides_launch_and_actions_and_the_package_refuses(
    orch: Orchestrator, clean_env: pytest.MonkeyPatch
):
    ids = seed_rows(orch)
    waiting = ids["awaiting_input"]

    # Writable (the control): the waiting run's page has its actions and the Launch page exists.
    at = open_page("run_detail", run_id=waiting)
    assert set(action_buttons(at)) == {
        f"detail_{a}" for a in ("cancel", "rerun", "delete", "approve", "reject")
    }
    assert at.data_editor

    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    reset_streamlit()

    # No Launch page in the navigation: AppTest refuses to switch to it once the app has run...
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "title") == ["Runs"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/launch.py")
    # ... and a session that asks for it first (an old /launch link) gets the default page instead.
    at = open_page("launch")
    assert not at.exception, [e.value for e in at.exception]
    assert "Launch a run" not in main_texts(at, "title")
    assert main_texts(at, "title") == ["Runs"]
    assert not [b for b in at.button if b.label == "Launch"]
    assert "Read-only: launching and run actions are off." in [i.value for i in at.sidebar.info]
    assert action_buttons(at) == []

    # The page itself refuses too, should it ever be reached (run alone, without the router).
    alone = AppTest.from_file(str(LAUNCH_PAGE), default_timeout=60).run()
    assert not alone.exception, [e.value for e in alone.exception]
    assert main_texts(alone, "info") == ["This dashboard is read-only: launching is off."]
    assert not [b for b in alone.button if b.label == "Launch"]
    reset_streamlit()

    # No action on the runs page, nor on any run's detail page, and no editable plan.
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert main_texts(at, "title") == ["Runs"]
    assert action_buttons(at) == []
    for status, run_id in ids.items():
        at = open_page("run_detail", run_id=run_id)
        assert not at.exception, (status, [e.value for e in at.exception])
        assert main_texts(at, "title") == ["Run detail"], status
        assert action_buttons(at) == [], status
        assert not at.data_editor, status
        assert ":material/front_hand: Waiting for approval" not in main_texts(at, "subheader"), status

    # The package refuses every change, and nothing changes.
    read_only = Orchestrator(OrchestratorConfig(), engine=orch.engine, migrate=False)
    assert read_only.config.read_only
    before = {r["run_id"]: (r["status"], r["resume_value"], r["error"]) for r in all_runs(orch)}
    refused = {
        "launch": lambda: read_only.launch("simulate", {"tasks": 1}),
        "launch_copies": lambda: read_only.launch_copies("simulate", {"tasks": 1}, copies=2),
        "cancel": lambda: read_only.cancel(ids["queued"]),
        "rerun": lambda: read_only.rerun(ids["succeeded"]),
        "delete": lambda: read_only.delete(ids["succeeded"]),
        "approve": lambda: read_only.approve(waiting, ["x"]),
        "reject": lambda: read_only.reject(waiting, "no"),
        "resume": lambda: read_only.resume(ids["failed"]),
    }
    for name, call in refused.items():
        try:
            call()
        except ReadOnlyError as exc:
            assert "read-only" in str(exc), name
        else:
            pytest.fail(f"{name} was not refused in read-only mode")
    after = {r["run_id"]: (r["status"], r["resume_value"], r["error"]) for r in all_runs(orch)}
    assert after == before and len(after) == len(ids)
