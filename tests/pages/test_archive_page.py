"""The archive view: another backend opened from the sidebar (the other backend than the live one:
a PostgreSQL database beside a live SQLite file, a SQLite file beside a live PostgreSQL), marked on
every page, read-only, its password never shown; compare puts its run beside a live one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page
from tests.pages.test_runs_page import shown_ids

SECRET = "pw-s3cret-never-shown"
# The run actions' buttons (dashboard/actions.py) a live succeeded run offers: none in an archive.
ACTION_KEYS = ("_cancel", "_resume", "_rerun", "_delete")


def seed(orch: Orchestrator, prefix: str, statuses: list[str]) -> list[str]:
    """Runs `<prefix>0`, `<prefix>1`, … of `simulate`, a minute apart; returned newest first."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    ids = [f"{prefix}{n}" for n in range(len(statuses))]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": status,
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": n + 1},
                "tags": [prefix],
            }
            for n, (run_id, status) in enumerate(zip(ids, statuses, strict=True))
        ]
    )
    return ids[::-1]


@pytest.fixture
def archive(
    page_orch: Orchestrator, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Orchestrator]]:
    """The other backend, set up and holding runs `old0..old2`: (its location as typed, its orchestrator).
    A PostgreSQL archive's URI holds a password (the test server trusts it) that must never show."""
    if page_orch.config.checkpoint_mode == "sqlite":
        uri = request.getfixturevalue("postgres_uri")
        location = uri.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)
        assert SECRET in location
        config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=location, env_file=None)
    else:
        location = str(tmp_path / "archived" / "orchestrator.db")
        Path(location).parent.mkdir()
        config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=location, env_file=None)
    orch = Orchestrator(config)
    seed(orch, "old", ["succeeded", "failed", "interrupted"])
    yield location, orch
    orch.engine.dispose()


def texts(at: AppTest) -> str:
    """Every text the session shows, in the sidebar and the page, with the URL."""
    shown = [
        str(element.value)
        for kind in ("markdown", "caption", "warning", "error", "info", "success", "title", "subheader")
        for element in getattr(at, kind)
    ]
    shown += [str(w.value) for w in at.text_input] + [str(at.query_params)]
    return "\n".join(shown)


def open_archive(at: AppTest, location: str) -> AppTest:
    at.text_input(key="sidebar_archive_input").input(location)
    at.button(key="sidebar_archive_open").click()
    return at.run()


def test_an_archive_opens_read_only_marked_on_every_page_and_compares_with_a_live_run(
    page_orch: Orchestrator, archive: tuple[str, Orchestrator]
) -> None:
    location, _ = archive
    live = seed(page_orch, "new", ["succeeded", "queued"])
    at = open_page("runs")
    assert shown_ids(at) == live
    assert not [w for w in at.warning if "Archive" in str(w.value)]

    open_archive(at, location)
    assert not at.exception, [e.value for e in at.exception]
    assert shown_ids(at) == ["old2", "old1", "old0"]  # the archive's runs, not the live ones
    (banner,) = [str(w.value) for w in at.warning if "**Archive:**" in str(w.value)]
    assert "read-only" in banner
    assert at.button(key="sidebar_archive_close")
    assert "Read-only: launching and run actions are off." in [str(i.value) for i in at.sidebar.info]
    assert SECRET not in texts(at)

    # No bulk action offers to change an archived run.
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not [w.key for w in [*at.button, *at.selectbox] if w.key and w.key.startswith("runs_bulk")]
    # Nor can anything be imported into it, or exported from this view.
    assert not at.get("file_uploader")
    assert "Off: this view is read-only (an archive, or a read-only dashboard)." in [
        str(c.value) for c in at.caption
    ]

    # Compare selected names the archive's runs as such.
    at.session_state["runs_table"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    at.button(key="runs_compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params == {"run_ids": "archive:old2,archive:old1"}
    assert any("2: old1 (archive)" in df.value.columns for df in at.dataframe)

    # The archive stays open on another page: its run's detail, with no action.
    at.switch_page("app_pages/run_detail.py")
    at.query_params["run_id"] = "old0"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [str(w.value) for w in at.warning if "**Archive:**" in str(w.value)] == [banner]
    assert any("succeeded · simulate" in text for text in main_texts(at, "subheader"))  # the archive's old0
    assert not [b.key for b in at.button if b.key and b.key.endswith(ACTION_KEYS)]
    assert SECRET not in texts(at)

    # Compare: the archive's old1 beside the live new0 (archive:<id> names the archive's run).
    at.switch_page("app_pages/compare.py")
    at.query_params.clear()
    at.query_params["run_ids"] = f"{live[-1]},archive:old1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [df.value for df in at.dataframe if "1: new0" in df.value.columns]
    assert list(table.columns) == ["1: new0", "2: old1 (archive)"]
    assert SECRET not in texts(at)

    at.button(key="sidebar_archive_close").click()
    at.switch_page("app_pages/runs.py")
    at.query_params.clear()
    at.run()
    assert shown_ids(at) == live
    assert not [w for w in at.warning if "**Archive:**" in str(w.value)]


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("no/such/archive.db", "No file at 'no/such/archive.db'"),
        ("postgresql://postgres:x@127.0.0.1:1/nothing", "PostgreSQL at 127.0.0.1:1 does not answer"),
    ],
)
def test_an_archive_that_cannot_be_opened_is_one_sentence(
    page_orch: Orchestrator, typed: str, sentence: str
) -> None:
    at = open_page("runs")
    open_archive(at, typed)
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [str(e.value) for e in at.sidebar.error]
    assert error.startswith(sentence) and error.count(". ") == 0
    assert not [w for w in at.warning if "**Archive:**" in str(w.value)]


def test_a_database_without_runs_tables_is_no_archive(page_orch: Orchestrator, tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    at = open_page("runs")
    open_archive(at, str(other))
    (error,) = [str(e.value) for e in at.sidebar.error]
    assert "holds no orchestrator runs (it has no runs table)" in error
