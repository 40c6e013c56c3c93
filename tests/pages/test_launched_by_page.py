"""The runs page's "Launched by" filter (both backends): from the URL and back into it."""

from __future__ import annotations

import datetime as dt

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import open_page
from tests.pages.test_runs_page import shown_ids

WHO = {"a0": "ann@example.com", "a1": "cli:bob@box", "a2": "ann@example.com", "a3": None}


def seed(orch: Orchestrator) -> None:
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": "queued",
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": 1},
                "tags": [],
                "launched_by": who,
            }
            for n, (run_id, who) in enumerate(WHO.items())
        ]
    )


def test_launched_by_filters_and_round_trips_through_the_url(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs", launched_by="ann@example.com")
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="runs_launched_by").value == "ann@example.com"
    assert shown_ids(at) == ["a2", "a0"]

    at.text_input(key="runs_launched_by").set_value("cli:bob@box").run()
    assert shown_ids(at) == ["a1"]
    assert at.query_params["launched_by"] == "cli:bob@box"

    at.text_input(key="runs_launched_by").set_value("").run()
    assert shown_ids(at) == ["a3", "a2", "a1", "a0"]
    assert "launched_by" not in at.query_params
