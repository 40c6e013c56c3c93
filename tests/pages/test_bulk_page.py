"""The runs page's bulk actions (both backends): the selected runs or every run matching the
filters, a confirmation that says how many and which statuses are skipped, then the outcome;
none in read-only mode."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import RunStatus
from tests.apptest_helpers import open_page, reset_streamlit
from tests.pages.test_runs_page import select_rows, shown_ids

# Six runs, newest first: what each one's status is.
STATUSES = [
    RunStatus.QUEUED,
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.QUEUED,
    RunStatus.CANCELLED,
    RunStatus.SUCCEEDED,
]


def seed(orch: Orchestrator) -> list[str]:
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    ids = [f"b{n:02d}" for n in range(len(STATUSES))]
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": status,
                "created_at": base - dt.timedelta(minutes=n),
                "input": {"tasks": 1},
                "tags": [],
            }
            for n, (run_id, status) in enumerate(zip(ids, STATUSES, strict=True))
        ]
    )
    return ids


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.main.warning]


def test_bulk_cancel_of_the_selected_runs(page_orch: Orchestrator) -> None:
    ids = seed(page_orch)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert shown_ids(at) == ids
    assert at.button(key="runs_bulk_review").disabled  # nothing selected
    select_rows(at, [0, 1, 3])
    at.selectbox(key="runs_bulk_action").set_value("cancel")
    at.button(key="runs_bulk_review").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert warnings(at) == [
        "Would cancel 2 runs (2 queued); 1 skipped (1 succeeded): only queued, running, waiting or "
        "interrupted runs can be cancelled."
    ]
    assert page_orch.get_run("b00")["status"] == RunStatus.QUEUED  # nothing done yet
    assert at.button(key="runs_bulk_confirm").label == "Yes, cancel 2 runs"
    at.button(key="runs_bulk_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.main.success] == [
        "Cancelled 2 runs (2 queued); 1 skipped (1 succeeded): only queued, running, waiting or "
        "interrupted runs can be cancelled."
    ]
    assert [page_orch.get_run(r)["status"] for r in ids] == [
        "cancelled",
        "succeeded",
        "failed",
        "cancelled",
        "cancelled",
        "succeeded",
    ]


def test_bulk_delete_of_every_run_matching_the_filters(page_orch: Orchestrator) -> None:
    ids = seed(page_orch)
    at = open_page("runs", status="succeeded,queued")
    assert sorted(shown_ids(at)) == ["b00", "b01", "b03", "b05"]
    at.radio(key="runs_bulk_scope").set_value("matching").run()
    at.selectbox(key="runs_bulk_action").set_value("delete")
    at.button(key="runs_bulk_review").click().run()
    assert warnings(at) == [
        "Would delete 2 runs (2 succeeded); 2 skipped (2 queued): only waiting, succeeded, failed, "
        "cancelled or interrupted runs can be deleted."
    ]
    at.button(key="runs_bulk_back").click().run()  # changed my mind: nothing happens
    assert not warnings(at) and page_orch.store.count_runs() == 6
    at.button(key="runs_bulk_review").click().run()
    at.button(key="runs_bulk_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(shown_ids(at)) == ["b00", "b03"]
    assert sorted(page_orch.store.statuses(ids)) == ["b00", "b02", "b03", "b04"]


def test_no_bulk_actions_in_read_only_mode(page_orch: Orchestrator, clean_env: pytest.MonkeyPatch) -> None:
    seed(page_orch)
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    reset_streamlit()
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert len(shown_ids(at)) == 6
    assert not [b for b in at.button if b.key and b.key.startswith("runs_bulk")]
    reset_streamlit()


def test_bulk_tagging_of_the_selected_runs(page_orch: Orchestrator) -> None:
    ids = seed(page_orch)
    at = open_page("runs")
    select_rows(at, [1, 2])
    at.selectbox(key="runs_bulk_action").set_value("tag").run()
    at.text_input(key="runs_bulk_add").set_value("checked, week-49")
    at.button(key="runs_bulk_review").click().run()
    assert warnings(at) == ["Would tag 2 runs (1 succeeded, 1 failed)."]
    at.button(key="runs_bulk_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [page_orch.get_run(r)["tags"] for r in ids[:3]] == [
        [],
        ["checked", "week-49"],
        ["checked", "week-49"],
    ]
    assert sorted(r["run_id"] for r in page_orch.store.page_runs(RunFilter(text="week-49"))) == ids[1:3]
