"""Issue 12 on the pages, with Streamlit's AppTest, on a SQLite file and on a real PostgreSQL
database: every kind of interrupt answered from run detail (a JSON box, an Agent Inbox request's
allowed responses, several questions by id), the launch page's config form, presets and graph,
the workflow kept in the URL, the run's graph coloured by its tasks, "Fork from here" with an
edited state, compare naming where a fork parts, the Workers page and the waiting reason.

The team's graph is tests/team_workflows.py (`invoices`), configured through the environment as
a team would. Expected values are written by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from orchestrator.workers import WorkerStore
from tests.apptest_helpers import execute, main_texts, open_page
from tests.checkpoint_reader import checkpoints
from tests.helpers import queue_unchecked_answer

TEAM = {
    "invoices": "tests.team_workflows:build_invoices",
    "signoff": "tests.launch_workflows:build_signoff",
    "noentry": "tests.launch_workflows:build_no_entry",
}
LEDGER = {"ledger_url": "https://ledger.example/api"}
QUESTION = {"question": "Post these invoices?", "invoices": 4}
FINAL = ("succeeded", "failed", "cancelled", "interrupted")


@pytest.fixture
def team(app_config: OrchestratorConfig, clean_env: pytest.MonkeyPatch) -> Iterator[Orchestrator]:
    """An Orchestrator on the app's database, the app and it configured with the team's workflow."""
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps(TEAM))
    orch = Orchestrator(OrchestratorConfig())
    asyncio.run(startup(orch.config, orch.engine))
    yield orch
    orch.engine.dispose()


def launch_invoices(orch: Orchestrator, tmp_path: Any, **input: Any) -> str:
    return orch.launch("invoices", {"count": 4, "dir": str(tmp_path), **input}, config=LEDGER)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    return ok(at.button(key=key).click().run())


def graph_spec(at: AppTest) -> str:
    (chart,) = at.get("graphviz_chart")
    return str(chart.proto.spec)


# -- answering from run detail -----------------------------------------------------------------


def test_a_dict_question_answered_with_json_from_run_detail(team: Orchestrator, tmp_path: Any) -> None:
    run_id = launch_invoices(team, tmp_path)
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    at = ok(open_page("run_detail", run_id=run_id))
    # A plain question is answered, not approved.
    assert ":material/front_hand: Waiting for your answer" in main_texts(at, "subheader")
    box = at.text_area(key="detail_answer")
    assert json.loads(box.value) == QUESTION and box.value.startswith('{\n  "')  # prefilled, indented
    # The run's graph: each node coloured by its tasks, `review` waiting at its question.
    dot = graph_spec(at)
    assert '"check" [label="check\\n4 done", fillcolor="#e8f5e9", color="#2e7d32"];' in dot
    # Waiting for a person: its own words and colour, not a crash's "stopped".
    assert '"review" [label="review\\n1 waiting for an answer", fillcolor="#f1e8fd", color="#7b3fe4"];' in dot
    assert '"post" [label="post", fillcolor="#ffffff", color="#9e9e9e"];' in dot
    assert "Config: `ledger_url` = `https://ledger.example/api`" in main_texts(at, "markdown")

    box.input("{")  # not JSON: one sentence, under the box it is about, nothing sent
    click(at, "detail_send")
    sentence = "Answer failed: The answer is not valid JSON (Expecting property name enclosed in double quotes at character 1)."
    assert main_texts(at, "error") == [sentence]
    (answer_column,) = [c for c in at.columns if any(t.key == "detail_answer" for t in c.text_area)]
    assert [e.value for e in answer_column.error] == [sentence]
    assert team.get_run(run_id)["status"] == "awaiting_input"

    at.text_area(key="detail_answer").input('{"post": false}')
    click(at, "detail_send")
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")
    run = team.get_run(run_id)
    assert run["status"] == "queued"
    assert list(run["resume_value"]["resume"].values()) == [{"post": False}]
    run = execute(team, [run_id], until=FINAL)[run_id]
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["review"] == {"post": False}
    assert "posted" not in run["state_snapshot"]  # the graph took the answer: no posting


def test_an_agent_inbox_request_edited_and_another_responded_from_run_detail(
    team: Orchestrator, tmp_path: Any
) -> None:
    edited, responded = launch_invoices(team, tmp_path), launch_invoices(team, tmp_path)
    execute(team, [edited, responded])
    for run_id in (edited, responded):
        team.approve(run_id)  # the dict question approved as proposed
    assert {r["status"] for r in execute(team, [edited, responded]).values()} == {"awaiting_input"}

    at = ok(open_page("run_detail", run_id=edited))
    assert "Post the checked invoices to the ledger?" in main_texts(at, "markdown")
    keys = {b.key for b in at.button}
    assert {"detail_accept", "detail_edit", "detail_respond", "detail_ignore"} <= keys
    assert "detail_approve" not in keys  # an Agent Inbox request is answered with its own responses
    args = at.text_area(key="detail_edit_args")
    assert json.loads(args.value) == {"url": "https://ledger.example/api", "invoices": 4}
    args.input('{"url": "https://other.example", "invoices": 3}')
    click(at, "detail_edit")
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")

    at = ok(open_page("run_detail", run_id=responded))
    at.text_input(key="detail_response_text").input("wait for the audit")
    click(at, "detail_respond")
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")

    done = execute(team, [edited, responded], until=FINAL)
    assert done[edited]["status"] == done[responded]["status"] == "succeeded"
    assert done[edited]["state_snapshot"]["posted"] == {
        "posted": True,
        "args": {"url": "https://other.example", "invoices": 3},
    }
    assert done[responded]["state_snapshot"]["posted"] == {"posted": False, "note": "wait for the audit"}


def waiting_row(orch: Orchestrator, questions: list[dict[str, Any]], launched_by: str | None = None) -> str:
    """A run row waiting at the given questions (its snapshot, as the executor writes it)."""
    run_id = orch.launch("simulate", {"tasks": 1}, launched_by=launched_by)
    orch.store.update_run(run_id, status="awaiting_input", state_snapshot={"__interrupt__": questions})
    return run_id


def test_a_request_shows_only_the_responses_it_allows(team: Orchestrator) -> None:
    request = {
        "action_request": {"action": "send_mail", "args": {"to": "ops@example.com"}},
        "config": {"allow_accept": True, "allow_edit": False, "allow_respond": True, "allow_ignore": False},
        "description": "Send the mail?",
    }
    run_id = waiting_row(team, [{"id": "q1", "value": [request]}])
    at = ok(open_page("run_detail", run_id=run_id))
    keys = {b.key for b in at.button if b.key and b.key.startswith("detail_")}
    assert {"detail_accept", "detail_respond"} <= keys
    assert not {"detail_edit", "detail_ignore", "detail_approve"} & keys
    assert not [t for t in at.text_area if t.key == "detail_edit_args"]
    click(at, "detail_respond")  # no text: one sentence, nothing sent
    assert main_texts(at, "error") == ["Response failed: A response needs some text."]
    click(at, "detail_accept")
    assert team.get_run(run_id)["resume_value"] == {"resume": {"q1": [{"type": "accept", "args": None}]}}


def test_a_launch_card_answers_an_agent_inbox_request(team: Orchestrator) -> None:
    request = {
        "action_request": {"action": "send_mail", "args": {"to": "ops@example.com"}},
        "config": {"allow_accept": False, "allow_edit": True, "allow_respond": False, "allow_ignore": True},
    }
    run_id = waiting_row(team, [{"id": "q1", "value": request}], launched_by="browser:cards")
    at = ok(open_page("launch", by="browser:cards"))
    card = f"launch_live_{run_id}"
    keys = {b.key for b in at.button if b.key and b.key.startswith(card)}
    assert keys == {f"{card}_edit", f"{card}_ignore", f"{card}_cancel"}  # and the card's Cancel
    at.text_area(key=f"{card}_edit_args").input('{"to": "team@example.com"}')
    click(at, f"{card}_edit")
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")
    # Asked alone (not in a list), answered alone.
    assert team.get_run(run_id)["resume_value"] == {
        "resume": {
            "q1": {"type": "edit", "args": {"action": "send_mail", "args": {"to": "team@example.com"}}}
        }
    }


def test_several_questions_are_answered_each_by_its_id(team: Orchestrator) -> None:
    run_id = waiting_row(
        team, [{"id": "first", "value": {"amount": 10}}, {"id": "second", "value": {"amount": 20}}]
    )
    at = ok(open_page("run_detail", run_id=run_id))
    assert "The run asks 2 questions; answer each one by its id." in main_texts(at, "caption")
    assert "**Question 2** · interrupt `second`" in main_texts(at, "markdown")
    assert json.loads(at.text_area(key="detail_0_answer").value) == {"amount": 10}
    assert json.loads(at.text_area(key="detail_1_answer").value) == {"amount": 20}
    click(at, "detail_1_approve")  # approve the second as proposed
    assert team.get_run(run_id)["resume_value"] == {"resume": {"second": True}}


def test_a_workflow_with_an_answer_model_gets_a_form_with_every_error_at_once(team: Orchestrator) -> None:
    run_id = team.launch("signoff", {"amount": 300})
    assert execute(team, [run_id])[run_id]["status"] == "awaiting_input"
    at = ok(open_page("run_detail", run_id=run_id))
    assert "Your answer (Signoff)" in main_texts(at, "caption")
    assert at.number_input(key="detail_field_amount").value == 300  # prefilled from the question
    at.number_input(key="detail_field_amount").set_value(5000)
    submit(at, "Send answer")  # the approver left empty
    assert main_texts(at, "error") == ["Approver is required.", "Amount must be at most 1000."]
    assert team.get_run(run_id)["status"] == "awaiting_input"

    at.text_input(key="detail_field_approver").input("Ada")
    at.number_input(key="detail_field_amount").set_value(250)
    submit(at, "Send answer")
    assert "Answer sent: the run is queued and continues." in main_texts(at, "success")
    run = execute(team, [run_id], until=FINAL)[run_id]
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["signed"] == {"approver": "Ada", "amount": 250}


# -- launch: config form, errors at once, presets, URL, graph ------------------------------------

FORM = "launch_invoices_new"


def submit(at: AppTest, label: str = "Launch") -> AppTest:
    (button,) = [b for b in at.button if b.label == label]
    return ok(button.click().run())


def test_launch_config_form_every_error_at_once_presets_and_the_graph(team: Orchestrator) -> None:
    at = ok(open_page("launch", workflow="invoices"))  # the URL names the workflow
    assert at.selectbox(key="launch_workflow").value == "invoices"
    assert '"review" -> "approve_post" [style=dashed, label=""];' in graph_spec(at)
    assert at.text_input(key=f"{FORM}_config_ledger_url").label == "Ledger URL"

    at.number_input(key=f"{FORM}_invoices_count").set_value(0)
    at.text_area(key=f"{FORM}_invoices_labels").input('{"quarter": "four"}')
    submit(at)
    assert team.store.count_runs() == 0
    errors = main_texts(at, "error")
    assert errors == [
        "Labels quarter must be a whole number.",
        "Count must be at least 1.",
        "Ledger URL is required.",
    ]

    # A model validator's message, which belongs to no one field.
    at.number_input(key=f"{FORM}_invoices_count").set_value(2)
    at.number_input(key=f"{FORM}_invoices_fail_on").set_value(5)
    at.text_area(key=f"{FORM}_invoices_labels").input('{"quarter": 4}')
    at.text_input(key=f"{FORM}_config_ledger_url").input("https://ledger.example/api")
    submit(at)
    assert team.store.count_runs() == 0
    assert main_texts(at, "error") == ["fail_on must name one of the invoices."]

    at.number_input(key=f"{FORM}_invoices_fail_on").set_value(None)
    submit(at)
    (row,) = team.store.query_runs().rows
    run = team.get_run(row["run_id"])
    assert (run["input"], run["config"]) == (
        {"count": 2, "fail_on": None, "dir": "", "gated_from": None, "labels": {"quarter": 4}},
        {"ledger_url": "https://ledger.example/api"},
    )

    at.text_input(key=f"{FORM}_preset_name").input("emea")
    submit(at, "Save preset")
    assert "Saved preset **emea** for invoices." in main_texts(at, "success")
    (preset,) = team.presets.list("invoices")
    assert (preset["name"], preset["input"]["labels"], preset["config"]) == ("emea", {"quarter": 4}, LEDGER)

    at.selectbox(key="launch_preset_invoices").set_value("emea").run()
    ok(at)
    assert at.number_input(key=f"{FORM}_preset_emea_invoices_count").value == 2
    assert at.text_input(key=f"{FORM}_preset_emea_config_ledger_url").value == "https://ledger.example/api"
    at.number_input(key=f"{FORM}_preset_emea_invoices_count").set_value(3)
    submit(at)
    newest = team.get_run(team.store.query_runs(limit=1).rows[0]["run_id"])
    assert (newest["preset"], newest["input"]["count"], newest["config"]) == ("emea", 3, LEDGER)

    at = ok(open_page("launch"))
    at.selectbox(key="launch_workflow").set_value("plan_execute").run()
    assert at.query_params["workflow"] == "plan_execute"


def test_a_graph_that_does_not_compile_is_one_sentence_not_a_traceback(team: Orchestrator) -> None:
    at = ok(open_page("launch", workflow="noentry"))
    assert not at.get("graphviz_chart")
    assert (
        "The graph of 'noentry' cannot be drawn here (ValueError: Graph must have an entrypoint: "
        "add at least one edge from START to another node)."
    ) in main_texts(at, "caption")


def test_a_workflow_without_a_config_schema_takes_any_json_config(team: Orchestrator) -> None:
    at = ok(open_page("launch", workflow="simulate"))
    box = at.text_area(key="launch_simulate_new_config_json")
    box.input('{"region": ')
    submit(at)
    assert main_texts(at, "error") == ["Config is not valid JSON (Expecting value at character 11)."]
    at.text_area(key="launch_simulate_new_config_json").input('{"thread_id": "mine"}')
    submit(at)
    assert main_texts(at, "error") == ["Config key 'thread_id' is set by the orchestrator."]
    assert team.store.count_runs() == 0
    at.text_area(key="launch_simulate_new_config_json").input('{"region": "EMEA"}')
    submit(at)
    (row,) = team.store.query_runs().rows
    assert team.get_run(row["run_id"])["config"] == {"region": "EMEA"}


# -- fork from a checkpoint, and compare -----------------------------------------------------------


def test_fork_from_here_with_an_edited_state_and_compare_names_the_parting_step(team: Orchestrator) -> None:
    goal = "Collect logs; parse them"
    parent = team.launch("plan_execute", {"goal": goal, "require_approval": True})
    execute(team, [parent])
    at_question = next(t for t in checkpoints(team.config, parent) if t.metadata.get("step") == 1)
    checkpoint_id = at_question.config["configurable"]["checkpoint_id"]

    at = ok(open_page("run_detail", run_id=parent))
    chooser = at.selectbox(key="detail_checkpoint")
    (index,) = [i for i in chooser.options if i.startswith("step 1 ")]
    chooser.set_value(index).run()
    box = at.text_area(key=f"detail_fork_{checkpoint_id}")
    state = json.loads(box.value)
    assert state["goal"] == goal and state["plan"] == ["Collect logs", "Parse them"]

    box.input("{not json")
    click(at, "detail_fork_button")
    assert main_texts(at, "error") == [
        "Fork failed: The state is not valid JSON (Expecting property name enclosed in double quotes at character 1)."
    ]
    assert team.store.count_runs() == 1

    at.text_area(key=f"detail_fork_{checkpoint_id}").input(json.dumps({**state, "goal": "Edited goal"}))
    click(at, "detail_fork_button")
    (message,) = main_texts(at, "success")
    fork_id = next(r["run_id"] for r in team.store.query_runs().rows if r["run_id"] != parent)
    assert (
        message
        == f"Forked from step 1, with `goal` changed: new run [`{fork_id}`](run_detail?run_id={fork_id})."
    )
    fork = team.get_run(fork_id)
    assert (fork["parent_run_id"], fork["parent_checkpoint_id"], fork["parent_step"]) == (
        parent,
        checkpoint_id,
        1,
    )
    run = execute(team, [fork_id])[fork_id]
    assert run["status"] == "awaiting_input"
    assert run["state_snapshot"]["goal"] == "Edited goal"

    at = ok(open_page("run_detail", run_id=fork_id))
    assert (
        f":material/call_split: Forked from run [`{parent}`](run_detail?run_id={parent}) at step 1 "
        f"(checkpoint `{checkpoint_id}`)."
    ) in main_texts(at, "markdown")

    at = ok(open_page("compare", run_ids=f"{parent},{fork_id}"))
    assert (
        f"Run 2: {fork_id[:8]} is a fork of run 1: {parent[:8]} from step 1 (checkpoint `{checkpoint_id}`): "
        "they share every checkpoint up to it and part after it."
    ) in main_texts(at, "info")


def test_a_run_failed_on_a_wrong_answer_is_corrected_from_the_page(team: Orchestrator) -> None:
    run_id = team.launch("plan_execute", {"goal": "Collect logs; parse them", "require_approval": True})
    execute(team, [run_id])
    with pytest.raises(InputError, match="list of task strings"):
        team.approve(run_id, {"plan": 5})  # a wrong answer is refused at once
    queue_unchecked_answer(team, run_id, {"plan": 5})  # as an older version took it: the run fails on it
    assert execute(team, [run_id], until=FINAL)[run_id]["status"] == "failed"
    at_question = next(t for t in checkpoints(team.config, run_id) if t.metadata.get("step") == 1)
    checkpoint_id = at_question.config["configurable"]["checkpoint_id"]

    at = ok(open_page("run_detail", run_id=run_id))
    assert (
        ":material/call_split: To correct this run (a wrong answer, a bad value in its state), fork it from a "
        "checkpoint before the failure: Checkpoints tab, Fork from here. Resume replays the same answer."
    ) in main_texts(at, "caption")
    chooser = at.selectbox(key="detail_checkpoint")
    (step_1,) = [o for o in chooser.options if o.startswith("step 1 ")]
    chooser.set_value(step_1).run()
    click(at, "detail_fork_button")  # the state as it was: the question is asked again
    fork_id = next(r["run_id"] for r in team.store.query_runs().rows if r["run_id"] != run_id)
    assert team.get_run(fork_id)["parent_checkpoint_id"] == checkpoint_id
    assert f"Forked from step 1: new run [`{fork_id}`](run_detail?run_id={fork_id})." in main_texts(
        at, "success"
    )
    assert execute(team, [fork_id])[fork_id]["status"] == "awaiting_input"

    at = ok(open_page("run_detail", run_id=fork_id))
    assert list(at.data_editor[0].value["task"]) == ["Collect logs", "Parse them"]
    click(at, "detail_approve")
    run = execute(team, [fork_id], until=FINAL)[fork_id]
    assert run["status"] == "succeeded", run["error"]
    assert run["state_snapshot"]["plan"] == ["Collect logs", "Parse them"]
    assert team.get_run(run_id)["status"] == "failed"  # the parent is left as it was


def test_launch_again_fills_the_config_too(team: Orchestrator, tmp_path: Any) -> None:
    source = launch_invoices(team, tmp_path)
    at = ok(open_page("launch", from_run=source))
    assert at.selectbox(key="launch_workflow").value == "invoices"
    form = f"launch_invoices_{source}"
    assert at.number_input(key=f"{form}_invoices_count").value == 4
    assert at.text_input(key=f"{form}_config_ledger_url").value == "https://ledger.example/api"


# -- workers and the waiting reason --------------------------------------------------------------


def test_workers_page_and_the_waiting_reason(team: Orchestrator) -> None:
    queued = team.launch("plan_execute", {"goal": "Write it"}, launched_by="browser:waiting")
    at = ok(open_page("workers"))
    assert [m.value for m in at.main.metric] == ["0", "0", "0"]
    at = ok(open_page("run_detail", run_id=queued))
    assert (
        "No worker is online; start one (python -m orchestrator worker) or the dashboard's executor."
        in main_texts(at, "warning")
    )

    workers = WorkerStore(team.engine)
    workers.register("box-a:1", host="box-a", pid=1, concurrency=4, workflows=["simulate"], broken={})
    workers.register(
        "box-b:2",
        host="box-b",
        pid=2,
        concurrency=2,
        workflows=["simulate", "plan_execute"],
        broken={"x": "no module"},
    )
    workers.stopped("box-b:2")
    at = ok(open_page("workers"))
    assert [(m.label, m.value) for m in at.main.metric] == [
        ("Online", "1"),
        ("Offline", "1"),
        ("Runs in progress", "0"),
    ]
    (table,) = [df.value for df in at.main.dataframe if "worker" in df.value.columns]
    assert list(table["worker"]) == ["box-a:1", "box-b:2"]
    assert list(table["online"]) == ["online", "offline"]
    assert [list(w) for w in table["workflows"]] == [["simulate"], ["plan_execute", "simulate"]]
    assert "Worker `box-b:2` cannot load **x**: no module" in main_texts(at, "warning")

    reason = (
        "No online worker can run workflow 'plan_execute'; start a worker that can import it "
        "(python -m orchestrator workers lists what each worker runs)."
    )
    at = ok(open_page("run_detail", run_id=queued))
    assert reason in main_texts(at, "warning")
    at = ok(open_page("launch", by="browser:waiting"))
    assert reason in main_texts(at, "warning")


def test_workers_gone_longer_than_a_day_are_hidden_and_each_says_when_it_was_last_seen(
    team: Orchestrator,
) -> None:
    from orchestrator.db import workers as workers_table

    store = WorkerStore(team.engine)
    for name in ("live:1", "recent:2", "old:3"):
        store.register(name, host=name.split(":")[0], pid=1, concurrency=1, workflows=["simulate"], broken={})
    store.stopped("recent:2")
    with team.engine.begin() as conn:  # old:3's last heartbeat, two days ago (recent:2's an hour ago)
        for name, age in (("recent:2", dt.timedelta(hours=1)), ("old:3", dt.timedelta(days=2))):
            row = conn.execute(select(workers_table.c.heartbeat_at).where(workers_table.c.worker == name)).one()
            conn.execute(
                update(workers_table).where(workers_table.c.worker == name).values(heartbeat_at=row[0] - age)
            )
    at = ok(open_page("workers"))
    (table,) = [df.value for df in at.main.dataframe if "worker" in df.value.columns]
    assert list(table["worker"]) == ["live:1", "recent:2"]
    assert list(table["seen"]) == ["now", "1 h ago"]
    assert "1 worker offline for more than 24 h is hidden." in main_texts(at, "caption")
    assert [(m.label, m.value) for m in at.main.metric][:2] == [("Online", "1"), ("Offline", "2")]

    at.toggle(key="workers_show_all").set_value(True).run()
    (table,) = [df.value for df in at.main.dataframe if "worker" in df.value.columns]
    assert list(table["worker"]) == ["live:1", "old:3", "recent:2"]
    assert list(table["seen"])[1] == "48 h ago"
