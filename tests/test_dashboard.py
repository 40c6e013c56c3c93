"""The dashboard, rendered with Streamlit's AppTest, on a SQLite file and on a real PostgreSQL database.

The app reads its config from the environment (CHECKPOINT_MODE, SQLITE_PATH, POSTGRES_URI), so
each test sets those for its backend, works in tmp_path (no stray `.env`), and turns the
embedded executor off (ORCHESTRATOR_EMBEDDED_EXECUTOR=0) so that what the pages show only
changes when the test says so; runs are executed by a standalone Executor that is always
stopped before a page is rendered. Streamlit's caches are cleared before and after each test
(clearing `st.cache_resource` also stops an embedded executor through its on_release hook).

Expected values are computed by hand from the seeded rows (a Python filter over them, the
formulas of the overview figures), never by the SQL the pages use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import streamlit as st
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute, main_texts, open_page
from tests.checkpoint_reader import checkpoints
from tests.conftest import PASSWORD_ROLE, RIGHT_PASSWORD, WRONG_PASSWORD
from tests.helpers import FINISHED, wait_for

# Everything OrchestratorConfig (or the dashboard) reads from the environment.
GOING = ("queued", "running", "awaiting_input")  # what the runs caption counts as "going"
LINK = "run_detail?run_id="
GOAL = "Collect data, then analyse it; then write the report"
PLAN = ["Collect data", "Analyse it", "Write the report"]  # the offline planner's plan for GOAL

# LangGraph drops the sibling tasks of a failing `work` step without awaiting them (fail_rate=1).
pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'arun_with_retry' was never awaited:RuntimeWarning")


# -- helpers ------------------------------------------------------------------------------------


def visible_text(at: AppTest) -> str:
    """Every text element's value, metric and widget label in the sidebar and the main area."""
    parts: list[str] = []
    for block in (at.sidebar, at.main):
        for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code", "json"):
            parts += [str(e.value) for e in getattr(block, kind)]
        for kind in ("error", "warning", "info", "success", "exception"):
            parts += [str(e.value) for e in getattr(block, kind)]
        parts += [f"{m.label} {m.value} {m.delta}" for m in block.metric]
    return "\n".join(parts)


def rendered_dump(at: AppTest) -> str:
    """The text form of every element's protobuf (every string the browser would receive)."""
    parts: list[str] = [str(at.query_params)]

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.sidebar)
    walk(at.main)
    return "\n".join(parts)


def frame_with(at: Any, *columns: str):
    """The displayed dataframes that have these columns (the key is not kept for read-only frames)."""
    return [df.value for df in at.dataframe if set(columns) <= set(df.value.columns)]


def cells(column: Any) -> list[Any]:
    """A text column's cells, an empty cell (None, or NaN once pandas has it) as None."""
    return [
        None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        for value in column
    ]


def tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def shown_ids(at: AppTest) -> list[str]:
    (frame,) = frame_with(at, "run_id", "workflow", "status")
    links = list(frame["run_id"])
    assert all(link.startswith(LINK) for link in links), links[:3]
    return [link.removeprefix(LINK) for link in links]


def runs_caption(at: AppTest) -> str:
    (caption,) = [c for c in main_texts(at, "caption") if "matching runs" in c]
    return caption


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def bare_orch(app_config: OrchestratorConfig) -> Iterator[Orchestrator]:
    """The test's own Orchestrator on the app's database (set up, unless the test is marked empty_database)."""
    orch = Orchestrator(app_config)
    yield orch
    orch.engine.dispose()


@pytest.fixture
def orch(bare_orch: Orchestrator) -> Orchestrator:
    """As `bare_orch`, with LangGraph's saver tables set up too (what any executor does first)."""
    asyncio.run(startup(bare_orch.config, bare_orch.engine))
    return bare_orch


# -- 1. the sidebar and start-up errors ---------------------------------------------------------

FAKE_PASSWORD = "s3cret-Sidebar-pw"
FAKE_URI = f"postgresql://alice:{FAKE_PASSWORD}@db.example.invalid:5432/orchestrator_db"


@pytest.fixture
def password_db_uri(password_role: str, postgres_uri: str) -> str:
    """The password role's URI on this test's fresh database, where it may create tables."""
    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {PASSWORD_ROLE}")
    database = make_url(postgres_uri).database
    return make_url(password_role).set(database=database).render_as_string(hide_password=False)


def test_sidebar_shows_mode_source_and_masked_uri_and_never_the_password(
    backend: str, clean_env: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
):
    clean_env.setenv("CHECKPOINT_MODE", backend)
    if backend == "sqlite":
        # POSTGRES_URI is set but unused in SQLite mode: the sidebar still says where it came from.
        db_path = tmp_path / "dash.db"
        clean_env.setenv("SQLITE_PATH", str(db_path))
        uri, password = FAKE_URI, FAKE_PASSWORD
        masked = "postgresql://alice:***@db.example.invalid:5432/orchestrator_db"
    else:
        uri, password = request.getfixturevalue("password_db_uri"), RIGHT_PASSWORD
        url = make_url(uri)
        masked = f"postgresql://{PASSWORD_ROLE}:***@{url.host}:{url.port}/{url.database}"
    clean_env.setenv("POSTGRES_URI", uri)
    orch = Orchestrator(OrchestratorConfig())
    try:
        run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, ["sidebar"])
        execute(orch, [run_id])
    finally:
        orch.engine.dispose()

    pages = {
        "runs": {},
        "run_detail": {"run_id": run_id},
        "compare": {"run_ids": f"{run_id},{run_id}"},
        "overview": {},
    }
    for page, params in pages.items():
        at = open_page(page, **params)
        assert not at.exception, (page, [e.value for e in at.exception])
        sidebar_md = [m.value for m in at.sidebar.markdown]
        sidebar_captions = [c.value for c in at.sidebar.caption]
        assert f"**Mode:** `{backend}`" in sidebar_md
        assert "**POSTGRES_URI:** environment" in sidebar_md
        (uri_caption,) = [c for c in sidebar_captions if "<code" in c]
        # The URI whole, in pieces that never break inside: a narrow sidebar wraps it between them.
        assert re.sub(r"<[^>]+>", "", uri_caption) == masked
        host_port = masked.split("@")[1].split("/")[0]
        assert f'<code style="white-space:nowrap">{host_port}</code>' in uri_caption
        assert "**Database:** :green[:material/check_circle:] answers" in sidebar_md
        file_captions = [c for c in sidebar_captions if c.startswith("File:")]
        if backend == "sqlite":
            assert file_captions == [f"File: `{db_path.resolve()}`"]
        else:
            assert file_captions == []
        text = visible_text(at)
        assert password not in text, page
        assert password not in rendered_dump(at), page
        assert not at.error, (page, [e.value for e in at.error])


def test_sidebar_says_not_set_without_postgres_uri(clean_env: pytest.MonkeyPatch, tmp_path: Path):
    clean_env.setenv("SQLITE_PATH", str(tmp_path / "plain.db"))  # CHECKPOINT_MODE unset: sqlite
    at = open_page("runs")
    assert not at.exception
    sidebar_md = [m.value for m in at.sidebar.markdown]
    assert "**Mode:** `sqlite`" in sidebar_md
    assert "**POSTGRES_URI:** not set" in sidebar_md
    assert [c.value for c in at.sidebar.caption] == [f"File: `{(tmp_path / 'plain.db').resolve()}`"]
    assert {m.label: m.value for m in at.sidebar.metric} == {
        "All runs": "0",
        "Running": "0",
        "Queued": "0",
        "Awaiting input": "0",
    }


def _wrong_password(request: pytest.FixtureRequest) -> tuple[dict[str, str], str, list[str]]:
    right = make_url(request.getfixturevalue("password_role"))
    wrong = right.set(password=WRONG_PASSWORD).render_as_string(hide_password=False)
    return {"CHECKPOINT_MODE": "postgres", "POSTGRES_URI": wrong}, "refused the login", [WRONG_PASSWORD]


def _missing_database(request: pytest.FixtureRequest) -> tuple[dict[str, str], str, list[str]]:
    admin = make_url(request.getfixturevalue("postgres_admin"))
    uri = admin.set(database="no_such_db_dashboard", password=FAKE_PASSWORD)
    env = {"CHECKPOINT_MODE": "postgres", "POSTGRES_URI": uri.render_as_string(hide_password=False)}
    return env, 'database "no_such_db_dashboard" does not exist', [FAKE_PASSWORD]


def _unknown_mode(request: pytest.FixtureRequest) -> tuple[dict[str, str], str, list[str]]:
    env = {"CHECKPOINT_MODE": "mongodb", "POSTGRES_URI": FAKE_URI}
    return env, "Unknown checkpoint_mode: 'mongodb'", [FAKE_PASSWORD]


def _postgres_without_uri(request: pytest.FixtureRequest) -> tuple[dict[str, str], str, list[str]]:
    return {"CHECKPOINT_MODE": "postgres"}, "PostgreSQL mode requires POSTGRES_URI", []


def _sqlite_path_under_a_file(request: pytest.FixtureRequest) -> tuple[dict[str, str], str, list[str]]:
    blocker = request.getfixturevalue("tmp_path") / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    env = {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(blocker / "orchestrator.db")}
    return env, "Cannot open the SQLite database", []


@pytest.mark.parametrize(
    "scenario",
    [
        _wrong_password,
        _missing_database,
        _unknown_mode,
        _postgres_without_uri,
        _sqlite_path_under_a_file,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_unusable_config_shows_one_sentence_banner_without_exception_or_password(
    scenario: Callable, clean_env: pytest.MonkeyPatch, request: pytest.FixtureRequest
):
    env, phrase, secrets = scenario(request)
    for name, value in env.items():
        clean_env.setenv(name, value)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    banners = main_texts(at, "error")
    assert banners, "no error banner on the page"
    assert all(phrase in b for b in banners), banners
    assert all("\n" not in b and "Traceback" not in b for b in banners), banners
    assert phrase in " ".join(e.value for e in at.sidebar.error)
    assert "**Database:** :red[:material/cancel:] not usable" in [m.value for m in at.sidebar.markdown]
    assert not frame_with(at, "run_id")  # the page stopped after the banner
    for secret in secrets:
        assert secret not in visible_text(at)
        assert secret not in rendered_dump(at)


def test_embedded_executor_runs_launched_runs_and_stops_when_cache_cleared(
    app_config: OrchestratorConfig, bare_orch: Orchestrator, clean_env: pytest.MonkeyPatch
):
    from dashboard.state import get_executor

    clean_env.setenv("ORCHESTRATOR_EMBEDDED_EXECUTOR", "1")
    at = open_page("runs")
    assert not at.exception
    executor = get_executor()  # the instance the app's script run cached
    try:
        assert executor.is_alive
        run_id = bare_orch.launch("simulate", {"tasks": 3, "delay_ms": 1}, ["embedded"])
        wait_for(lambda: bare_orch.store.get_run(run_id)["status"] == "succeeded", what="embedded run")
        run = bare_orch.store.get_run(run_id)
        assert run["worker"] == executor.worker
        assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (5, 5, 0)
        at.run()
        assert shown_ids(at) == [run_id]
    finally:
        st.cache_resource.clear()
    assert not executor.is_alive


# -- 2. the runs page ---------------------------------------------------------------------------

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BULK = 230
WORKFLOWS = ("simulate", "plan_execute", "nightly_etl")
BULK_STATUSES = (
    "succeeded",
    "failed",
    "succeeded",
    "cancelled",
    "interrupted",
    "queued",
    "running",
    "awaiting_input",
)  # 8 statuses: a cycle coprime with the 3 workflows, so every pair occurs
REAL_RUNS = [
    ("simulate", {"tasks": 3, "delay_ms": 2, "seed": 1}, ["real"]),
    ("simulate", {"tasks": 4, "delay_ms": 2, "seed": 2, "fail_rate": 1.0}, ["real", "flaky"]),
    ("simulate", {"tasks": 12, "delay_ms": 1, "seed": 3, "fan_out": 8}, ["real", "big"]),
    ("plan_execute", {"goal": GOAL}, ["real"]),
]


def bulk_rows() -> list[dict[str, Any]]:
    """230 complete rows, one hour apart from 2024-01-01, with varied statuses, counts and tags."""
    rows = []
    for i in range(BULK):
        total = (i * 7) % 31
        failed = min(total, i % 5)
        status = BULK_STATUSES[i % len(BULK_STATUSES)]
        created = BASE + dt.timedelta(hours=i)
        started = None if status == "queued" else created + dt.timedelta(minutes=1)
        finished = started + dt.timedelta(seconds=i % 60) if status in FINISHED else None
        tags = ["nightly"] if i % 10 == 0 else ["adhoc", f"batch-{i // 50}"]
        if i == 42:
            tags.append("cpu 100%")
        rows.append(
            {
                "run_id": f"bulk-{i:03d}",
                "workflow": WORKFLOWS[i % 3],
                "status": status,
                "created_at": created,
                "started_at": started,
                "finished_at": finished,
                "tasks_total": total,
                "tasks_completed": total - failed,
                "tasks_failed": failed,
                "tags": tags,
                "input": {"tasks": total, "note": "needle" if i % 17 == 0 else "hay"},
            }
        )
    return rows


@pytest.fixture
def runs_db(orch: Orchestrator) -> dict[str, dict[str, Any]]:
    """4 runs made by the real executor plus 230 bulk rows; every run by id (the hand-made oracle)."""
    real = [orch.launch(workflow, input, tags) for workflow, input, tags in REAL_RUNS]
    finished = execute(orch, real, until=FINISHED)
    assert [finished[r]["status"] for r in real] == ["succeeded", "failed", "succeeded", "succeeded"]
    rows = bulk_rows()
    orch.store.insert_many(rows)
    return {**{r["run_id"]: r for r in rows}, **finished}


def searchable(run: dict[str, Any]) -> str:
    return " ".join([run["run_id"], json.dumps(run["tags"]), json.dumps(run["input"])]).lower()


def expected_ids(
    runs: dict[str, dict[str, Any]],
    keep: Callable[[dict[str, Any]], bool] = lambda _r: True,
    key: Callable[[dict[str, Any]], Any] = lambda r: (r["created_at"], r["run_id"]),
    descending: bool = True,
) -> list[str]:
    """The runs `keep` accepts, in the page's order (newest first, then run id), by hand."""
    return [r["run_id"] for r in sorted(filter(keep, runs.values()), key=key, reverse=descending)]


def expected_caption(runs: dict[str, dict], ids: list[str], page: int = 1, size: int = 50) -> str:
    shown = ids[(page - 1) * size : page * size]
    going = sum(runs[r]["status"] in GOING for r in shown)
    pages = max(1, math.ceil(len(ids) / size))
    return f"**{len(ids):,}** matching runs · page {page} of {pages:,} · {going} going on this page"


def day(d: int) -> dt.datetime:
    return BASE + dt.timedelta(days=d)


# (name, widget values by key, the URL they make, the hand-written filter)
FILTER_CASES: list[tuple[str, dict[str, Any], dict[str, str], Callable[[dict], bool]]] = [
    ("status", {"runs_status": ["failed"]}, {"status": "failed"}, lambda r: r["status"] == "failed"),
    (
        "two statuses and a workflow",
        {"runs_status": ["succeeded", "cancelled"], "runs_workflow": ["plan_execute"]},
        {"status": "succeeded,cancelled", "workflow": "plan_execute"},
        lambda r: r["status"] in ("succeeded", "cancelled") and r["workflow"] == "plan_execute",
    ),
    (
        "workflow with runs only",
        {"runs_workflow": ["nightly_etl"]},
        {"workflow": "nightly_etl"},
        lambda r: r["workflow"] == "nightly_etl",
    ),
    (
        "tasks total min",
        {"runs_tasks_total_min": 10},
        {"tasks_total_min": "10"},
        lambda r: r["tasks_total"] >= 10,
    ),
    (
        "tasks total max",
        {"runs_tasks_total_max": 5},
        {"tasks_total_max": "5"},
        lambda r: r["tasks_total"] <= 5,
    ),
    (
        "tasks completed range",
        {"runs_tasks_completed_min": 20, "runs_tasks_completed_max": 25},
        {"tasks_completed_min": "20", "tasks_completed_max": "25"},
        lambda r: 20 <= r["tasks_completed"] <= 25,
    ),
    (
        "tasks failed min",
        {"runs_tasks_failed_min": 3},
        {"tasks_failed_min": "3"},
        lambda r: r["tasks_failed"] >= 3,
    ),
    (
        "tasks failed max zero",
        {"runs_tasks_failed_max": 0},
        {"tasks_failed_max": "0"},
        lambda r: r["tasks_failed"] == 0,
    ),
    (
        "created range",
        {"runs_created": (day(2).date(), day(3).date())},
        {"created": "2024-01-03..2024-01-04"},
        lambda r: day(2) <= r["created_at"] < day(4),
    ),
    ("search a tag", {"runs_search": "nightly"}, {"q": "nightly"}, lambda r: "nightly" in searchable(r)),
    (
        "search the input, any case",
        {"runs_search": "NEEDLE"},
        {"q": "NEEDLE"},
        lambda r: "needle" in searchable(r),
    ),
    ("search a run id", {"runs_search": "bulk-12"}, {"q": "bulk-12"}, lambda r: "bulk-12" in r["run_id"]),
    ("search a literal %", {"runs_search": "0%"}, {"q": "0%"}, lambda r: "0%" in searchable(r)),
    ("search a literal _", {"runs_search": "h_y"}, {"q": "h_y"}, lambda r: "h_y" in searchable(r)),
    (
        "everything at once",
        {
            "runs_status": ["failed", "succeeded"],
            "runs_workflow": ["simulate"],
            "runs_tasks_total_min": 3,
            "runs_tasks_failed_max": 3,
            "runs_search": "adhoc",
        },
        {
            "status": "failed,succeeded",
            "workflow": "simulate",
            "tasks_total_min": "3",
            "tasks_failed_max": "3",
            "q": "adhoc",
        },
        lambda r: (
            r["status"] in ("failed", "succeeded")
            and r["workflow"] == "simulate"
            and r["tasks_total"] >= 3
            and r["tasks_failed"] <= 3
            and "adhoc" in searchable(r)
        ),
    ),
]


def set_widget(at: AppTest, key: str, value: Any) -> None:
    if key in ("runs_status", "runs_workflow"):
        at.multiselect(key=key).set_value(value)
    elif key == "runs_created":
        at.date_input(key=key).set_value(value)
    elif key == "runs_search":
        at.text_input(key=key).input(value)
    else:
        at.number_input(key=key).set_value(value)


def widget_value(at: AppTest, key: str) -> Any:
    if key in ("runs_status", "runs_workflow"):
        return at.multiselect(key=key).value
    if key == "runs_created":
        return tuple(at.date_input(key=key).value)
    if key == "runs_search":
        return at.text_input(key=key).value
    return at.number_input(key=key).value


def test_runs_count_is_capped_and_exact_on_demand(runs_db, monkeypatch):
    """The page shows a capped count ("100+"), then the exact one when asked (its own fragment)."""
    import orchestrator.run_queries

    monkeypatch.setattr(orchestrator.run_queries, "COUNT_CAP", 100)
    all_ids = expected_ids(runs_db)
    at = open_page("runs")
    assert not at.exception
    assert shown_ids(at) == all_ids[:50]
    assert runs_caption(at).startswith("**100+** matching runs · page 1 of 2+ · ")
    at.button(key="runs_count_all").click().run()
    assert not at.exception
    assert runs_caption(at) == expected_caption(runs_db, all_ids)
    assert not [b for b in at.button if b.key == "runs_count_all"]


def test_runs_count_within_a_budget_says_at_least_the_runs_shown(runs_db, orch, monkeypatch):
    """A count that reads a budget of its lead filter's runs says "at least" (run_queries), and
    never fewer than the page shows; exact on demand."""
    from orchestrator.run_queries import planner, sqlite_planner

    for name, value in (("NARROW", 2), ("RANK", 5), ("SAMPLE", 3)):
        monkeypatch.setattr(sqlite_planner, name, value)
    monkeypatch.setattr(planner, "COUNT_BUDGET", 4)
    if orch.engine.dialect.name == "postgresql":
        with orch.engine.connect() as conn:  # PostgreSQL's lead comes from its statistics
            conn.exec_driver_sql("ANALYZE runs")
            conn.commit()
    ids = expected_ids(
        runs_db, lambda r: r["status"] in ("succeeded", "cancelled") and r["workflow"] == "plan_execute"
    )
    assert 4 < len(ids) < 50
    at = open_page("runs")
    set_widget(at, "runs_status", ["succeeded", "cancelled"])
    set_widget(at, "runs_workflow", ["plan_execute"])
    at.run()
    assert not at.exception
    assert shown_ids(at) == ids
    assert runs_caption(at).startswith(f"**{len(ids):,}+** matching runs · page 1 of 1+ · ")
    at.button(key="runs_count_all").click().run()
    assert not at.exception
    assert runs_caption(at) == expected_caption(runs_db, ids)


def test_runs_filters_narrow_to_hand_computed_runs_and_round_trip_through_the_url(runs_db):
    all_ids = expected_ids(runs_db)
    at = open_page("runs")
    assert not at.exception
    assert shown_ids(at) == all_ids[:50]
    assert runs_caption(at) == expected_caption(runs_db, all_ids)
    assert at.query_params == {}

    problems = []
    for name, widgets, url, keep in FILTER_CASES:
        ids = expected_ids(runs_db, keep)
        assert ids or name == "search a literal _", f"{name}: the seed should match some runs"
        at = open_page("runs")
        for key, value in widgets.items():
            set_widget(at, key, value)
        at.run()
        if at.exception:
            problems.append((name, "exception", [e.value for e in at.exception]))
            continue
        if shown_ids(at) != ids[:50] or runs_caption(at) != expected_caption(runs_db, ids):
            problems.append((name, "table", runs_caption(at), expected_caption(runs_db, ids)))
        if dict(at.query_params) != url:
            problems.append((name, "url", dict(at.query_params), url))

        # A new session opened with that URL shows the same table with the widgets set.
        shared = open_page("runs", **url)
        if shared.exception:
            problems.append((name, "shared exception", [e.value for e in shared.exception]))
            continue
        if shown_ids(shared) != ids[:50] or runs_caption(shared) != expected_caption(runs_db, ids):
            problems.append((name, "shared table", runs_caption(shared)))
        for key, value in widgets.items():
            if widget_value(shared, key) != value:
                problems.append((name, "shared widget", key, widget_value(shared, key), value))
        if dict(shared.query_params) != url:
            problems.append((name, "shared url", dict(shared.query_params), url))
    assert not problems, "\n".join(map(repr, problems))


def test_runs_sort_and_paging_with_page_reset_on_new_filter(runs_db):
    all_ids = expected_ids(runs_db)
    at = open_page("runs")
    at.selectbox(key="runs_page_size").set_value(25).run()
    assert shown_ids(at) == all_ids[:25]
    assert runs_caption(at) == expected_caption(runs_db, all_ids, 1, 25)
    assert at.query_params == {"size": "25"}

    at.number_input(key="runs_page").set_value(2).run()
    assert shown_ids(at) == all_ids[25:50]
    assert runs_caption(at) == expected_caption(runs_db, all_ids, 2, 25)
    assert at.query_params == {"size": "25", "page": "2"}

    # A new filter starts again on page 1.
    failed = expected_ids(runs_db, lambda r: r["status"] == "failed")
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    assert at.number_input(key="runs_page").value == 1
    assert shown_ids(at) == failed[:25]
    assert runs_caption(at) == expected_caption(runs_db, failed, 1, 25)
    assert at.query_params == {"size": "25", "status": "failed"}

    # Paging within the filter, then a deep link to a later page of everything.
    at.number_input(key="runs_page").set_value(2).run()
    assert shown_ids(at) == failed[25:50]
    deep = open_page("runs", size="25", page="3")
    assert not deep.exception
    assert deep.number_input(key="runs_page").value == 3
    assert shown_ids(deep) == all_ids[50:75]
    assert runs_caption(deep) == expected_caption(runs_db, all_ids, 3, 25)

    # Sorting: by tasks, ascending (ties by run id, ascending too).
    at = open_page("runs")
    at.selectbox(key="runs_sort").set_value("tasks_total")
    at.toggle(key="runs_ascending").set_value(True)
    at.run()
    by_tasks = expected_ids(runs_db, key=lambda r: (r["tasks_total"], r["run_id"]), descending=False)
    assert shown_ids(at) == by_tasks[:50]
    assert at.query_params == {"sort": "tasks_total", "asc": "true"}


def test_runs_url_values_that_do_not_parse_fall_back_to_defaults(runs_db):
    all_ids = expected_ids(runs_db)
    at = open_page("runs", status="nonsense", tasks_total_min="-3", created="not-a-date", page="x")
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="runs_status").value == []
    assert at.number_input(key="runs_tasks_total_min").value is None
    assert shown_ids(at) == all_ids[:50]
    assert runs_caption(at) == expected_caption(runs_db, all_ids)


# -- 3. run detail and its actions ---------------------------------------------------------------


def test_run_detail_shows_header_tasks_and_checkpoint_history(orch: Orchestrator):
    run_id = orch.launch("simulate", {"tasks": 3, "delay_ms": 2, "seed": 5}, ["detail"])
    run = execute(orch, [run_id])[run_id]
    assert run["status"] == "succeeded"
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    assert ":green[:material/check_circle:] succeeded · simulate" in main_texts(at, "subheader")
    metrics = {m.label: m.value for m in at.main.metric}
    counts = [metrics[label] for label in ("Tasks", "Completed", "Failed")]
    assert counts == ["5", "5", "0"]
    assert any("tags: `detail`" in caption for caption in main_texts(at, "caption"))

    # Tasks: plan, one `work` per task, summarize.
    (tasks,) = frame_with(tab(at, "Tasks"), "node", "status", "task_id")
    assert len(tasks) == len(orch.store.get_tasks(run_id)) == 5
    assert Counter(tasks["node"]) == {"plan": 1, "work": 3, "summarize": 1}
    assert [list(status) for status in tasks["status"]] == [["succeeded"]] * 5

    # Checkpoints: one row per checkpoint LangGraph's own saver holds (read here with its sync
    # saver, not the page's code), oldest first. The steps of `simulate` by hand: the input (-1),
    # the input applied (0), `plan` (1), the three `work` tasks in one superstep (2), `summarize` (3).
    saved = checkpoints(orch.config, run_id)
    (shown,) = frame_with(tab(at, "Checkpoints"), "step", "source", "written by", "changed", "checkpoint")
    assert list(shown["checkpoint"]) == [t.config["configurable"]["checkpoint_id"] for t in saved]
    assert list(shown["step"]) == [t.metadata["step"] for t in saved] == [-1, 0, 1, 2, 3]
    assert list(shown["source"]) == [t.metadata["source"] for t in saved]
    assert list(shown["source"]) == ["input", "loop", "loop", "loop", "loop"]
    assert cells(shown["written by"]) == [None, "(input)", "plan", "work", "summarize"]
    assert cells(shown["changed"]) == [
        None,
        "delay_ms, fail_rate, fan_out, seed, tasks",
        "task_ids",
        "results",
        "summary",
    ]
    assert at.query_params == {"run_id": run_id}


def test_run_detail_of_an_unknown_id_warns_without_exception(orch: Orchestrator):
    at = open_page("run_detail", run_id="does-not-exist")
    assert not at.exception
    (warning,) = main_texts(at, "warning")
    assert "No run has the id `does-not-exist`" in warning
    assert not at.main.tabs


@pytest.mark.empty_database
def test_run_detail_of_a_run_not_started_yet(bare_orch: Orchestrator, backend: str, request):
    run_id = bare_orch.launch("simulate", {"tasks": 2}, ["waiting"])
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    assert ":gray[:material/schedule:] queued · simulate" in main_texts(at, "subheader")
    assert "No checkpoints: the run has not started yet." in [c.value for c in tab(at, "Checkpoints").caption]


def test_rerun_queues_a_new_run_and_delete_removes_the_run(orch: Orchestrator):
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1, "seed": 9}, ["orig"])
    original = execute(orch, [run_id])[run_id]
    at = open_page("run_detail", run_id=run_id)
    at.button(key="detail_rerun").click().run()
    assert not at.exception
    others = [r for r in orch.store.query_runs(limit=10).rows if r["run_id"] != run_id]
    assert len(others) == 1
    new = orch.store.get_run(others[0]["run_id"])
    assert (new["status"], new["rerun_of"], new["workflow"]) == ("queued", run_id, "simulate")
    assert (new["input"], new["tags"]) == (original["input"], ["orig"])
    assert main_texts(at, "success") == [
        f"Re-run queued as run [`{new['run_id']}`](run_detail?run_id={new['run_id']}), with the same input."
    ]

    # simulate with 2 tasks: steps -1, 0, 1 (plan), 2 (both works), 3 (summarize), as LangGraph saved them
    assert [t.metadata["step"] for t in checkpoints(orch.config, run_id)] == [-1, 0, 1, 2, 3]
    at.button(key="detail_delete").click().run()  # inside the "Delete run" popover
    assert not at.exception
    assert orch.store.get_run(run_id) is None
    assert orch.store.get_tasks(run_id) == []
    assert checkpoints(orch.config, run_id) == []
    assert main_texts(at, "success") == ["Deleted: the run, its task rows and its checkpoints are gone."]
    assert any("No run has the id" in w for w in main_texts(at, "warning"))
    assert orch.store.get_run(new["run_id"]) is not None


def test_cancel_a_queued_run(orch: Orchestrator):
    run_id = orch.launch("simulate", {"tasks": 2}, [])
    at = open_page("run_detail", run_id=run_id)
    assert ":gray[:material/schedule:] queued · simulate" in main_texts(at, "subheader")
    at.button(key="detail_cancel").click().run()  # inside the "Cancel run" popover
    assert not at.exception
    run = orch.store.get_run(run_id)
    assert (run["status"], run["error"]) == ("cancelled", "Cancelled on request.")
    assert ":gray[:material/block:] cancelled · simulate" in main_texts(at, "subheader")
    assert main_texts(at, "success") == ["Cancelled: the run stopped and will not continue."]
    # Why it ended is said, but a cancel is not an error: no red box.
    assert main_texts(at, "info") == ["Cancelled on request."]
    assert main_texts(at, "error") == []


def test_cancel_a_running_run_says_it_stops_within_a_heartbeat(orch: Orchestrator):
    run_id = orch.launch("simulate", {"tasks": 2}, [])
    at = open_page("run_detail", run_id=run_id)
    assert orch.store.set_status(run_id, "running")  # an executor holds it now
    at.button(key="detail_cancel").click().run()
    assert not at.exception
    assert orch.store.get_run(run_id)["cancel_requested"]
    assert main_texts(at, "success") == ["Cancellation requested: the run stops within a heartbeat."]


def test_resume_a_failed_run(orch: Orchestrator):
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1, "fail_rate": 1.0}, [])
    assert execute(orch, [run_id])[run_id]["status"] == "failed"
    at = open_page("run_detail", run_id=run_id)
    assert ":red[:material/error:] failed · simulate" in main_texts(at, "subheader")
    assert main_texts(at, "error")[0].startswith("RuntimeError: simulated failure")
    at.button(key="detail_resume").click().run()
    assert not at.exception
    assert orch.store.get_run(run_id)["status"] == "queued"
    assert main_texts(at, "success") == ["Resumed: the run is queued and continues from its last checkpoint."]


@pytest.fixture
def awaiting_run(orch: Orchestrator) -> str:
    """A plan_execute run that needs approval, run by the executor until it waits."""
    run_id = orch.launch("plan_execute", {"goal": GOAL, "require_approval": True}, ["approval"])
    assert execute(orch, [run_id])[run_id]["status"] == "awaiting_input"
    return run_id


def test_approve_the_proposed_plan(orch: Orchestrator, awaiting_run: str):
    at = open_page("run_detail", run_id=awaiting_run)
    assert not at.exception
    assert ":material/front_hand: Waiting for approval" in main_texts(at, "subheader")
    (editor,) = at.data_editor
    assert list(editor.value["task"]) == PLAN
    at.button(key="detail_approve").click().run()
    assert not at.exception
    run = orch.store.get_run(awaiting_run)
    assert run["status"] == "queued"
    assert list(run["resume_value"]["resume"].values()) == [PLAN]
    assert main_texts(at, "success") == ["Answer sent: the run is queued and continues."]


def test_approve_an_edited_plan_and_the_run_carries_it_out(orch: Orchestrator, awaiting_run: str):
    at = open_page("run_detail", run_id=awaiting_run)
    # Edit the plan the way the browser reports it: rename row 0, delete row 1, add one.
    at.session_state["detail_plan"] = {
        "edited_rows": {0: {"task": "Gather the data"}},
        "added_rows": [{"task": "Publish it"}],
        "deleted_rows": [1],
    }
    at.run()
    at.button(key="detail_approve").click().run()
    assert not at.exception
    edited = ["Gather the data", "Write the report", "Publish it"]
    assert list(orch.store.get_run(awaiting_run)["resume_value"]["resume"].values()) == [edited]

    run = execute(orch, [awaiting_run], until=FINISHED)[awaiting_run]
    assert run["status"] == "succeeded"
    assert run["state_snapshot"]["plan"] == edited
    assert [r["task"] for r in run["state_snapshot"]["results"]] == edited

    # The checkpoints name what wrote them, never a task id (the answer goes to `approve` by its
    # interrupt id, so the node itself wrote the step after it).
    at = open_page("run_detail", run_id=awaiting_run)
    (history,) = frame_with(tab(at, "Checkpoints"), "step", "written by")
    writers = [w for w in history["written by"] if isinstance(w, str)]  # (the first has none)
    assert writers == ["(input)", "planner", "approve", "worker", "summarize"], writers
    assert not [w for w in writers if re.search(r"[0-9a-f]{8}", w)], writers


def test_reject_with_a_reason(orch: Orchestrator, awaiting_run: str):
    at = open_page("run_detail", run_id=awaiting_run)
    at.text_input(key="detail_reason").input("too risky").run()
    at.button(key="detail_reject").click().run()
    assert not at.exception
    run = orch.store.get_run(awaiting_run)
    assert (run["status"], run["error"]) == ("cancelled", "Rejected: too risky")
    assert ":gray[:material/block:] cancelled · plan_execute" in main_texts(at, "subheader")
    assert ":material/front_hand: Waiting for approval" not in main_texts(at, "subheader")


@pytest.mark.parametrize("action", ["cancel", "reject"])
def test_the_outcome_sentence_shows_when_an_action_ends_the_run(
    orch: Orchestrator, awaiting_run: str, action: str
):
    at = open_page("run_detail", run_id=awaiting_run)
    at.button(key=f"detail_{action}").click().run()
    assert not at.exception
    assert orch.store.get_run(awaiting_run)["status"] == "cancelled"
    said = {
        "cancel": "Cancelled: the run stopped and will not continue.",
        "reject": "Rejected: the run is cancelled.",
    }
    assert main_texts(at, "success") == [said[action]]


def test_reject_with_a_reason_typed_just_before_the_click(orch: Orchestrator, awaiting_run: str):
    at = open_page("run_detail", run_id=awaiting_run)
    at.text_input(key="detail_reason").input("too risky")
    at.button(key="detail_reject").click()
    at.run()
    assert not at.exception
    assert orch.store.get_run(awaiting_run)["error"] == "Rejected: too risky"


# -- 4. compare ---------------------------------------------------------------------------------


def highlighted_cells(at: AppTest) -> set[tuple[str, int]]:
    """(row label, run index) of the side-by-side cells the Styler colours."""
    (element,) = [df for df in at.dataframe if "Status" in list(df.value.index)]
    labels = list(element.value.index)
    cells = set()
    # The Styler's CSS, e.g. "#T_ab_row1_col1, #T_ab_row6_col1 { background-color: #fff3b0 }".
    for selectors, rules in re.findall(r"([^{}]+)\{([^}]*)\}", element.proto.arrow_data.styler.styles):
        if "#fff3b0" in rules:
            cells |= {(labels[int(r)], int(c)) for r, c in re.findall(r"row(\d+)_col(\d+)", selectors)}
    return cells


def test_compare_two_hand_made_runs(orch: Orchestrator):
    created = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    common = {
        "workflow": "simulate",
        "created_at": created,
        "started_at": created + dt.timedelta(seconds=1),
        "finished_at": created + dt.timedelta(seconds=4),
        "tasks_total": 10,
        "tasks_completed": 8,
        "tags": ["pair"],
    }
    orch.store.insert_many(
        [
            {
                **common,
                "run_id": "aaaa0001",
                "status": "succeeded",
                "tasks_failed": 0,
                "input": {"tasks": 10, "seed": 1, "opts": {"mode": "fast"}},
                "state_snapshot": {"summary": {"count": 10, "total": 5}, "results": [1, 2]},
            },
            {
                **common,
                "run_id": "bbbb0002",
                "status": "failed",
                "tasks_failed": 2,
                "input": {"tasks": 10, "seed": 2, "opts": {"mode": "fast", "retry": True}},
                "state_snapshot": {"summary": {"count": 8, "total": 5}, "results": [1, 2, 3]},
            },
        ]
    )
    at = open_page("compare", run_ids="aaaa0001,bbbb0002")
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [df.value for df in at.dataframe if "Status" in list(df.value.index)]
    assert list(table.columns) == ["1: aaaa0001", "2: bbbb0002"]
    assert list(table.index)[:13] == [
        "Workflow",
        "Status",
        "Created at",
        "Work time",
        "Wall time",
        "Tasks total",
        "Tasks completed",
        "Tasks failed",
        "Success rate",
        "Model calls",
        "Tokens",
        "Cost",
        "Tags",
    ]
    # then the input and state fields (a set: JSONB keeps keys in its own order)
    fields = {
        "input.tasks",
        "input.seed",
        "input.opts.mode",
        "input.opts.retry",
        "state.summary.count",
        "state.summary.total",
        "state.results",
    }
    assert set(list(table.index)[13:]) == fields and len(table.index) == 20
    assert list(table.loc["input.opts.retry"]) == ["–", "true"]  # run 1 has no such field
    assert list(table.loc["state.results"]) == ["[1, 2]", "[1, 2, 3]"]
    assert list(table.loc["Status"]) == ["succeeded", "failed"]
    assert list(table.loc["Cost"]) == ["$0.000000", "$0.000000"]  # as run detail shows a cost
    # One format for each: a percentage, and durations as on every page.
    assert list(table.loc["Success rate"]) == ["80.0%", "80.0%"]
    assert list(table.loc["Wall time"]) == ["3.0 s", "3.0 s"]
    differing = {"input.seed", "input.opts.retry", "state.summary.count", "state.results"}
    # Two runs that differ: run 2's cell is marked (on a tie, run 1's value is the usual one).
    assert highlighted_cells(at) == {("Status", 1), ("Tasks failed", 1)} | {(f, 1) for f in differing}

    at.toggle(key="compare_only_diff").set_value(True).run()
    (table,) = [df.value for df in at.dataframe if "Status" in list(df.value.index)]
    assert list(table.index)[:2] == ["Status", "Tasks failed"] and set(list(table.index)[2:]) == differing
    assert [list(table.loc[m]) for m in ("Status", "Tasks failed")] == [["succeeded", "failed"], ["0", "2"]]
    assert highlighted_cells(at) == {("Status", 1), ("Tasks failed", 1)} | {(f, 1) for f in differing}

    # Input and state, key by key: exactly the changed paths.
    markdown = main_texts(at, "markdown")
    assert "**Input**: 2 differences" in markdown
    assert "**State snapshot**: 2 differences" in markdown
    # (Sets: JSONB does not keep the keys' order, so PostgreSQL lists them in another order.)
    input_diff, state_diff = frame_with(at, "path", "change", "left", "right")
    assert set(zip(input_diff["path"], input_diff["change"], strict=True)) == {
        ("seed", "changed"),
        ("opts.retry", "added"),
    }
    assert set(zip(state_diff["path"], state_diff["change"], strict=True)) == {
        ("summary.count", "changed"),
        ("results[2]", "added"),
    }
    assert at.query_params == {"run_ids": "aaaa0001,bbbb0002"}


def test_compare_diff_table_shows_json_values_as_written(orch: Orchestrator):
    now = dt.datetime.now(dt.UTC)
    base = {"workflow": "simulate", "status": "succeeded", "created_at": now}
    orch.store.insert_many(
        [
            {**base, "run_id": "left0001", "state_snapshot": {"count": 10}},
            {**base, "run_id": "rite0002", "state_snapshot": {"count": 8, "extra": 1}},
        ]
    )
    at = open_page("compare", run_ids="left0001,rite0002")
    assert not at.exception
    (state_diff,) = frame_with(at, "path", "change", "left", "right")
    rows = {
        path: (left, right)
        for path, left, right in zip(state_diff["path"], state_diff["left"], state_diff["right"], strict=True)
    }
    assert rows["count"] == ("10", "8")
    assert isinstance(rows["extra"][0], str) and rows["extra"][1] == "1"


@pytest.fixture
def simulate_trio(orch: Orchestrator) -> tuple[str, str, str]:
    """Three finished simulate runs: a and c with the same input, b with another seed."""
    inputs = [{"tasks": 3, "delay_ms": 1, "seed": s} for s in (1, 2, 1)]
    ids = [orch.launch("simulate", i, ["trio"]) for i in inputs]
    assert {r["status"] for r in execute(orch, ids).values()} == {"succeeded"}
    return ids[0], ids[1], ids[2]


def divergence_frame(at: AppTest):
    (frame,) = frame_with(at, "step", "equal", "differing")
    return frame


def test_compare_divergence_names_the_first_diverging_step(orch: Orchestrator, simulate_trio):
    a, b, _c = simulate_trio
    at = open_page("compare", run_ids=f"{a},{b}")
    assert not at.exception, [e.value for e in at.exception]
    # The seed is part of the input, which the graph writes into its state at step 0.
    (warning,) = main_texts(at, "warning")
    assert warning == "Runs agree up to step -1; at step 0: different `seed`."
    steps = divergence_frame(at)
    # Both runs' steps, as LangGraph's own saver holds them: -1 (input) to 3 (summarize).
    for run_id in (a, b):
        assert [t.metadata["step"] for t in checkpoints(orch.config, run_id)] == [-1, 0, 1, 2, 3]
    assert list(steps["step"]) == [-1, 0, 1, 2, 3]
    # The input checkpoint holds no state yet; from step 0 on the seed is in the state, so every
    # later step differs too.
    assert list(steps["equal"]) == [True, False, False, False, False]
    writers = ["", "(input)", "plan", "work", "summarize"]  # the nodes of each step, by hand
    assert list(steps["run 1 wrote"]) == list(steps["run 2 wrote"]) == writers
    assert steps.loc[steps["step"] == 0, "differing"].item().startswith("seed")


def test_compare_runs_that_agree(orch: Orchestrator, simulate_trio):
    a, _b, c = simulate_trio
    # simulate with 3 tasks has 5 checkpoints (steps -1 to 3), as LangGraph's own saver holds them
    steps = 5
    assert len(checkpoints(orch.config, a)) == len(checkpoints(orch.config, c)) == steps
    for ids in (f"{a},{a}", f"{a},{c}"):
        at = open_page("compare", run_ids=ids)
        assert not at.exception, [e.value for e in at.exception]
        assert main_texts(at, "success") == [f"Runs agree at every step ({steps} steps)."]
        assert all(divergence_frame(at)["equal"])
        assert not main_texts(at, "warning")


def test_compare_runs_of_different_workflows_and_a_missing_id(orch: Orchestrator):
    now = dt.datetime.now(dt.UTC)
    orch.store.insert_many(
        [
            {"run_id": "sim00001", "workflow": "simulate", "status": "succeeded", "created_at": now},
            {"run_id": "plan0001", "workflow": "plan_execute", "status": "succeeded", "created_at": now},
        ]
    )
    at = open_page("compare", run_ids="sim00001,plan0001,gone0001")
    assert not at.exception, [e.value for e in at.exception]
    (info,) = main_texts(at, "info")
    assert info.startswith("Runs of different workflows (simulate, plan_execute) have different graphs")
    (warning,) = main_texts(at, "warning")
    assert "No run has the id `gone0001`" in warning
    (table,) = [df.value for df in at.dataframe if "Status" in list(df.value.index)]
    assert list(table.columns) == ["1: sim00001", "2: plan0001"]


# -- 5. overview --------------------------------------------------------------------------------


def overview_rows(now: dt.datetime) -> list[dict[str, Any]]:
    """Runs in the last 7 days (c*), the 7 days before (p*) and long before (o1)."""

    def row(name, status, ago, seconds=None, completed=0, failed=0, workflow="simulate"):
        created = now - ago
        started = created + dt.timedelta(seconds=1) if seconds is not None else None
        finished = started + dt.timedelta(seconds=seconds) if seconds is not None else None
        return {
            "run_id": name,
            "workflow": workflow,
            "status": status,
            "created_at": created,
            "started_at": started,
            "finished_at": finished,
            "tasks_total": completed + failed,
            "tasks_completed": completed,
            "tasks_failed": failed,
            # It worked a fifth of its wall time (the rest: waits), so the two are told apart.
            "work_seconds": seconds / 5 if seconds is not None else None,
        }

    h, d = dt.timedelta(hours=1), dt.timedelta(days=1)
    return [
        row("c1", "succeeded", 1 * h, 10, completed=5),
        row("c2", "succeeded", 30 * h, 20, completed=3),
        row("c3", "failed", 2 * d, 30, completed=2, failed=1),
        row("c4", "failed", 3 * d, 40, failed=2, workflow="plan_execute"),
        row("c5", "cancelled", 4 * d),
        row("c6", "queued", 5 * h),
        row("c7", "succeeded", 6 * d, 50, completed=6),
        row("p1", "succeeded", 8 * d, 5, completed=4),
        row("p2", "failed", 9 * d, 15, completed=1, failed=1),
        row("p3", "succeeded", 10 * d, 25, completed=2),
        row("o1", "succeeded", 20 * d, 99, completed=9),
    ]


def figures(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.main.metric}


def test_overview_figures_against_the_previous_period(orch: Orchestrator):
    orch.store.insert_many(overview_rows(dt.datetime.now(dt.UTC)))
    at = open_page("overview")
    assert not at.exception, [e.value for e in at.exception]
    # Last 7 days: c1..c7; finished c1,c2,c3,c4,c5,c7 (3 succeeded); wall times 10,20,30,40,50,
    # work times a fifth of them: 2,4,6,8,10. The 7 days before: p1..p3; 2 of 3 succeeded; wall
    # times 5,15,25, work 1,3,5.
    week = {
        "Runs": ("7", "4"),
        "Success rate": ("50.0%", "-16.7%"),  # 3/6 against 2/3
        "Failures": ("2", "1"),
        "Median work time": ("6.0 s", "+3.0 s"),
        "p95 work time": ("9.6 s", "+4.8 s"),  # 8 + 0.8 * 2 against 3 + 0.9 * 2
        "Tasks completed": ("16", "9"),
        "Tasks failed": ("3", "2"),
        "Tasks / minute": (f"{16 / (7 * 24 * 60):.2f}", f"{9 / (7 * 24 * 60):+.2f}"),
    }
    assert figures(at) == week
    # Wall time, one click away.
    at.toggle(key="overview_wall").set_value(True).run()
    wall = figures(at)
    assert (wall["Median wall time"], wall["p95 wall time"]) == (("30.0 s", "+15.0 s"), ("48.0 s", "+24.0 s"))
    at.toggle(key="overview_wall").set_value(False).run()
    (by_workflow,) = frame_with(at, "workflow", "runs", "success_rate")
    assert dict(zip(by_workflow["workflow"], by_workflow["runs"], strict=True)) == {
        "simulate": 6,
        "plan_execute": 1,
    }

    at.segmented_control(key="overview_period").set_value("24h").run()
    assert not at.exception, [e.value for e in at.exception]
    # Last 24 h: c1 (succeeded, 10 s, 5 tasks) and c6 (queued); the 24 h before: c2 (20 s, 3 tasks).
    day_figures = figures(at)
    assert day_figures["Runs"] == ("2", "1")
    assert day_figures["Success rate"] == ("100.0%", "")  # no change: no green "↑ +0.0%"
    assert day_figures["Median work time"] == ("2.0 s", "-2.0 s")
    assert day_figures["Tasks completed"] == ("5", "2")

    at.segmented_control(key="overview_period").set_value("custom").run()
    assert not at.exception, [e.value for e in at.exception]
    # The default custom range, the last 7 calendar days through today (8 days), holds c1..c7;
    # the 8 days before it hold p1..p3 (o1 is older).
    custom = figures(at)
    for label in ("Runs", "Success rate", "Failures", "Median work time", "p95 work time", "Tasks completed"):
        assert custom[label] == week[label], label


def test_overview_of_an_empty_database(orch: Orchestrator):
    at = open_page("overview")
    assert not at.exception, [e.value for e in at.exception]
    # 0 against 0: no change, so no delta (not a green "↑ +0.00")
    assert figures(at) == {label: (value, "") for label, (value, _) in figures(at).items()}
    assert figures(at)["Runs"] == ("0", "")
    assert figures(at)["Tasks / minute"] == ("0.00", "")
    assert "No runs in this period." in main_texts(at, "info")


# -- 6. what a person sees: what the browser showed wrong (issue #9) ----------------------------

UTC_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"  # the one way a moment is written
TABLE_TIME = "YYYY-MM-DD HH:mm:ss [UTC]"  # the same, in a table's datetime column


def test_runs_over_time_of_24_hours_is_hourly_after_7_days_in_one_process(engine, store):
    """Item 3: the bucket's unit is part of the statement, not cached away by the first query."""
    from orchestrator.metrics import Period, runs_over_time

    now = dt.datetime.now(dt.UTC).replace(minute=30, second=0, microsecond=0)
    created = [now - dt.timedelta(hours=h) for h in range(6)]
    store.insert_many(
        [
            {"run_id": f"hour-{i}", "workflow": "simulate", "status": "succeeded", "created_at": at}
            for i, at in enumerate(created)
        ]
    )
    end = now + dt.timedelta(minutes=1)
    week = runs_over_time(engine, Period(end - dt.timedelta(days=7), end))
    day = runs_over_time(engine, Period(end - dt.timedelta(days=1), end))
    assert {r["bucket"] for r in week} == {at.strftime("%Y-%m-%d 00:00") for at in created}
    assert sorted(r["bucket"] for r in day) == sorted(at.strftime("%Y-%m-%d %H:00") for at in created)
    assert all(r["runs"] == 1 for r in day)


def chart_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def domain_span(spec: dict[str, Any]) -> dt.timedelta:
    """The length of time a chart's x axis shows (its scale's domain, two Vega-Lite DateTimes)."""
    first, last = (
        dt.datetime(d["year"], d["month"], d["date"], d.get("hours", 0), d.get("minutes", 0))
        for d in spec["encoding"]["x"]["scale"]["domain"]
    )
    return last - first


def test_overview_when_no_run_of_the_period_has_finished(orch: Orchestrator):
    """Item 4: runs, but no duration to draw: a sentence, not Altair's error."""
    now = dt.datetime.now(dt.UTC)
    base = {"workflow": "simulate", "created_at": now - dt.timedelta(minutes=5)}
    orch.store.insert_many(
        [
            {**base, "run_id": "waiting1", "status": "queued"},
            {**base, "run_id": "going001", "status": "running", "started_at": now, "tasks_total": 3},
        ]
    )
    at = open_page("overview")
    assert not at.exception, [e.value for e in at.exception]
    assert figures(at)["Runs"] == ("2", "2")
    assert "No run of this period has finished yet." in main_texts(at, "caption")


def test_overview_shows_the_whole_period_and_names_the_period_before(orch: Orchestrator):
    """Item 5: every bucket of the period on the axis (not only those with runs), and plain words."""
    now = dt.datetime.now(dt.UTC)
    orch.store.insert_many(
        [
            {"run_id": f"one-day-{i}", "workflow": "simulate", "status": "succeeded", "created_at": at}
            for i, at in enumerate([now - dt.timedelta(days=3), now - dt.timedelta(hours=2)])
        ]
    )
    cases = [
        ("7d", "the previous 7 days", dt.timedelta(days=7), dt.timedelta(days=9)),
        ("24h", "the previous 24 hours", dt.timedelta(hours=24), dt.timedelta(hours=26)),
        ("30d", "the previous 30 days", dt.timedelta(days=30), dt.timedelta(days=32)),
        ("custom", "the previous 8 days", dt.timedelta(days=8), dt.timedelta(days=8)),
    ]
    at = open_page("overview")
    for choice, words, shortest, longest in cases:
        at.segmented_control(key="overview_period").set_value(choice).run()
        assert not at.exception, (choice, [e.value for e in at.exception])
        (caption,) = [c for c in main_texts(at, "caption") if "compared with" in c]
        assert re.fullmatch(rf"{UTC_TIME} – {UTC_TIME}, compared with {words}\.", caption), caption
        over_time = chart_specs(at)[0]
        assert shortest <= domain_span(over_time) <= longest, (choice, over_time["encoding"]["x"])


def test_launch_again_on_every_run_and_resume_on_a_failed_runs_card(orch: Orchestrator):
    """Item 6: "Launch again…" drawn for every run; a failed run's card on Launch has Resume."""
    launcher = "browser:again"
    failed = orch.launch("simulate", {"tasks": 2, "delay_ms": 1, "fail_rate": 1.0}, [], launched_by=launcher)
    good = orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, [], launched_by=launcher)
    finished = execute(orch, [failed, good])
    assert [finished[r]["status"] for r in (failed, good)] == ["failed", "succeeded"]
    for run_id in (failed, good):
        at = open_page("run_detail", run_id=run_id)
        (link,) = [p for p in at.get("page_link") if p.value == "Launch again…"]
        assert link.proto.page.endswith("launch") and link.proto.query_string == f"from_run={run_id}"

    at = open_page("launch", by=launcher)
    assert not at.exception, [e.value for e in at.exception]
    keys = {b.key for b in at.button}
    assert f"launch_live_{failed}_resume" in keys and f"launch_live_{good}_resume" not in keys
    assert len([p for p in at.get("page_link") if p.value == "Launch again…"]) == 2
    at.button(key=f"launch_live_{failed}_resume").click().run()
    assert orch.store.get_run(failed)["status"] == "queued"


def dataframe_columns(frame: Any) -> dict[str, dict[str, Any]]:
    return json.loads(frame.proto.columns or "{}")


def test_tables_show_a_dash_for_nothing_and_one_time_format(orch: Orchestrator, awaiting_run: str):
    """Item 8: no literal None, whole tags, one UTC time format on every page, green progress."""
    at = open_page("runs")
    (table,) = [df for df in at.dataframe if "progress" in df.value.columns]
    assert table.proto.placeholder == "–"
    # The waiting run: how many tasks are to come is not known (plan_execute plans none ahead), so
    # no progress bar yet, shown as –; its wall time runs on while it waits, its work time does not.
    assert pd_isna(table.value.loc[0, "progress"])
    assert table.value.loc[0, "wall_seconds"] > table.value.loc[0, "work_seconds"] > 0
    columns = dataframe_columns(table)
    assert columns["created_at"]["type_config"]["format"] == TABLE_TIME
    assert columns["created_at"]["type_config"]["timezone"] == "UTC"
    assert table.value.loc[0, "tags"] == "approval"  # text, as long as it is
    assert columns["progress"]["type_config"]["color"] not in ("red", "#ff4b4b")

    at = open_page("run_detail", run_id=awaiting_run)
    header = rf"Created {UTC_TIME} · started {UTC_TIME} · finished – · tags: `approval`"
    assert any(re.fullmatch(header, c) for c in main_texts(at, "caption")), main_texts(at, "caption")
    (tasks,) = [df for df in at.dataframe if "node" in df.value.columns]
    (history,) = [df for df in at.dataframe if "written by" in df.value.columns]
    assert tasks.proto.placeholder == history.proto.placeholder == "–"
    assert dataframe_columns(tasks)["started_at"]["type_config"]["format"] == TABLE_TIME
    assert dataframe_columns(history)["time"]["type_config"]["format"] == TABLE_TIME
    assert all(isinstance(t, dt.datetime) for t in history.value["time"])

    at = open_page("overview")
    (caption,) = [c for c in main_texts(at, "caption") if "compared with" in c]
    assert re.match(rf"{UTC_TIME} – {UTC_TIME}, ", caption), caption


def pd_isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def emoji(text: str) -> list[str]:
    """Characters drawn from an emoji font (empty boxes on a machine without one)."""
    import unicodedata

    return sorted({c for c in text if ord(c) > 0x2100 and unicodedata.category(c) == "So"})


def test_no_page_draws_an_emoji(orch: Orchestrator, awaiting_run: str):
    """Item 9: icons are Material Symbols (a font the app serves), for statuses, buttons and banners."""
    failed = orch.launch(
        "simulate", {"tasks": 2, "delay_ms": 1, "fail_rate": 1.0}, [], launched_by="browser:x"
    )
    execute(orch, [failed])
    pages = {
        "runs": {},
        "run_detail": {"run_id": failed},
        "compare": {"run_ids": f"{failed},{awaiting_run}"},
        "overview": {},
        "launch": {"by": "browser:x"},
    }
    for page, params in pages.items():
        at = open_page(page, **params)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not emoji(rendered_dump(at)), (page, emoji(rendered_dump(at)))
    at = open_page("run_detail", run_id=awaiting_run)
    assert not emoji(rendered_dump(at))
    assert ":material/" in rendered_dump(at)


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (99_999, "99,999"), (100_000, "100K"), (250_123, "250K"), (999_499, "999K"), (999_500, "1.0M"),
     (1_000_000, "1.0M"), (1_234_567, "1.2M")],
)  # fmt: skip
def test_sidebar_counts_fit_half_the_sidebar(n, shown):
    from dashboard.formatting import count_text

    assert count_text(n) == shown
