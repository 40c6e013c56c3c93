"""Two people answering one question on the page (both backends): the first answer wins, the
second sees one sentence saying who answered, when and what; a wrong plan is refused at once."""

from __future__ import annotations

import json
import re

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute, main_texts, open_page

WAITING = {"goal": "Collect logs; parse them; report", "require_approval": True, "max_tasks": 3}


def test_the_second_answer_on_the_page_is_refused_with_who_when_and_what(page_orch: Orchestrator) -> None:
    run_id = page_orch.launch("plan_execute", WAITING)
    assert execute(page_orch, [run_id])[run_id]["status"] == "awaiting_input"
    first, second = open_page("run_detail", run_id=run_id), open_page("run_detail", run_id=run_id)
    for at in (first, second):
        assert not at.exception, [e.value for e in at.exception]
        assert ":material/front_hand: Waiting for approval" in main_texts(at, "subheader")

    first.button(key="detail_approve").click().run()
    assert not first.exception
    assert main_texts(first, "success") == ["Answer sent: the run is queued and continues."]
    (answer,) = page_orch.store.get_answers(run_id)
    plan = ["Collect logs", "Parse them", "Report"]  # the editor's plan, as drawn
    assert answer["answered_by"].startswith("browser:") and answer["answer"] == plan

    second.text_input(key="detail_reason").input("too broad")
    second.button(key="detail_reject").click().run()  # still showing the question it was drawn with
    assert not second.exception
    (error,) = main_texts(second, "error")
    assert re.fullmatch(
        rf"Reject failed: Run {run_id} was already answered by {answer['answered_by']} at "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        + re.escape(f"(approved with {json.dumps(plan)}); your answer was not sent."),
        error,
    ), error
    assert page_orch.get_run(run_id)["status"] == "queued"
    assert len(page_orch.store.get_answers(run_id)) == 1


def test_a_plan_longer_than_max_tasks_is_refused_on_the_page(page_orch: Orchestrator) -> None:
    run_id = page_orch.launch("plan_execute", WAITING)
    assert execute(page_orch, [run_id])[run_id]["status"] == "awaiting_input"
    at = open_page("run_detail", run_id=run_id)
    at.session_state["detail_plan"] = {
        "added_rows": [{"task": "one more"}],
        "edited_rows": {},
        "deleted_rows": [],
    }
    at.button(key="detail_approve").click().run()
    assert not at.exception
    assert main_texts(at, "error") == [
        "Approve failed: The plan has 4 steps and this run takes at most 3 (its max_tasks); remove steps, "
        "or launch a run with a larger max_tasks."
    ]
    assert page_orch.get_run(run_id)["status"] == "awaiting_input"
    assert page_orch.store.get_answers(run_id) == []
