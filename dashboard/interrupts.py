"""Answer a waiting run's questions (its pending `interrupt()`s), on run detail and the launch cards.

Each pending interrupt gets the answer UI its question calls for, keyed by the interrupt's id:
- an Agent Inbox `HumanInterrupt`: a button or box for exactly the responses it allows
  (accept, edit the action's arguments, respond with text, ignore);
- a plan list (`{"plan": [...]}`, plan_execute's question): the plan as an editable table;
- a workflow with an `answer_model`: a form drawn from that model;
- anything else: a JSON box prefilled from the question.
Every plain question can also be approved as proposed (no value) or rejected (with a reason);
the package decides what each sends (`orchestrator.interrupts`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.actions import current_launcher, do_action, edited_plan, show_failure, show_failures
from dashboard.input_form import collect_input, render_schema_form
from dashboard.looks import ACTION_ICONS, icon
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.interrupts import allowed_responses, human_request
from orchestrator.operations import Orchestrator
from orchestrator.status import Action
from orchestrator.validation import parse_json
from orchestrator.workflows import WorkflowSpec

ERRORS_KEY = "interrupts_errors"  # {widget prefix: {field: message}} of the last answer sent


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def render_interrupts(orch: Orchestrator, run: Mapping[str, Any], key: str) -> None:
    """For a run awaiting input: every pending question with its answer UI (`key` prefixes the widgets;
    with several questions, `<key>_<n>` for the n-th)."""
    pending = orch.pending_interrupts(run["run_id"])
    if not pending or orch.config.read_only:
        show_failures(key)  # an answer refused because the run moved on: said here all the same
        return
    spec: WorkflowSpec | None
    try:
        spec = orch.registry.get(run["workflow"])
    except OrchestratorError:
        spec = None  # a workflow this dashboard cannot load: JSON answers still work
    with st.container(border=True):
        # A plan is approved; any other question is answered.
        approval = all(isinstance(p["value"], dict) and isinstance(p["value"].get("plan"), list) for p in pending)
        st.subheader(f"{icon('front_hand')} Waiting for {'approval' if approval else 'your answer'}")
        if len(pending) > 1:
            st.caption(f"The run asks {len(pending)} questions; answer each one by its id.")
        for index, item in enumerate(pending):
            prefix = key if len(pending) == 1 else f"{key}_{index}"
            if len(pending) > 1:
                if index:
                    st.divider()
                st.markdown(f"**Question {index + 1}** · interrupt `{item['id']}`")
            render_question(orch, spec, run["run_id"], item, prefix)


def render_question(
    orch: Orchestrator, spec: WorkflowSpec | None, run_id: str, item: dict[str, Any], prefix: str
) -> None:
    """The answer UI for one pending interrupt ({"id", "value"})."""
    value, interrupt_id = item["value"], str(item["id"])
    if human_request(value) is not None:
        render_human_request(orch, run_id, value, interrupt_id, prefix)
        return
    plan = value.get("plan") if isinstance(value, dict) else None
    answer: Callable[[], list[str] | None]
    if isinstance(plan, list):
        _render_plan(plan, prefix)
        answer = lambda: edited_plan(plan, st.session_state.get(f"{prefix}_plan"))  # noqa: E731
    elif spec is not None and spec.answer_model is not None:
        _render_answer_form(orch, spec, run_id, value, interrupt_id, prefix)
        answer = lambda: None  # noqa: E731
    else:
        _render_json_answer(orch, run_id, value, interrupt_id, prefix)
        answer = lambda: None  # noqa: E731
    st.text_input("Reason (for a rejection)", key=f"{prefix}_reason")
    row = st.container(horizontal=True)
    row.button(
        "Approve",
        type="primary",
        key=f"{prefix}_approve",
        icon=icon(ACTION_ICONS[Action.APPROVE]),
        help="Approve as proposed (an edited plan is sent as edited)",
        on_click=do_action,
        # Read the editor and the reason when clicked: the click may arrive with the last edit.
        args=(
            "Approve",
            lambda: orch.approve(run_id, answer(), interrupt_id=interrupt_id, answered_by=current_launcher()),
            None,
            f"{prefix}_buttons",
        ),
    )
    row.button(
        "Reject",
        key=f"{prefix}_reject",
        icon=icon(ACTION_ICONS[Action.REJECT]),
        help="The graph gets the rejection when it takes one; otherwise the run is cancelled",
        on_click=do_action,
        args=(
            "Reject",
            lambda: orch.reject(
                run_id,
                st.session_state.get(f"{prefix}_reason", ""),
                interrupt_id=interrupt_id,
                answered_by=current_launcher(),
            ),
            None,
            f"{prefix}_buttons",
        ),
    )
    show_failure(f"{prefix}_buttons")


def _render_plan(plan: list[Any], prefix: str) -> None:
    st.caption("Edit the plan: change, add or remove tasks, then approve.")
    st.data_editor(
        pd.DataFrame({"task": [str(t) for t in plan]}),
        num_rows="dynamic",
        key=f"{prefix}_plan",
        column_config={"task": st.column_config.TextColumn("Task", required=True, width="large")},
        hide_index=True,
    )
    edited = edited_plan(plan, st.session_state.get(f"{prefix}_plan"))
    # Says when the edits reached the server: Approve sends what this line counts.
    changed = " (edited)" if edited != [str(t).strip() for t in plan] else ""
    st.caption(f"{len(edited)} tasks will run{changed}.")


def _send_json(orch: Orchestrator, run_id: str, interrupt_id: str, prefix: str) -> str:
    raw = st.session_state.get(f"{prefix}_answer", "")
    if not str(raw).strip():
        raise InputError("The answer is empty; write a JSON value, or use Approve to approve as proposed.")
    return orch.approve(
        run_id, parse_json(raw, "The answer"), interrupt_id=interrupt_id, answered_by=current_launcher()
    )


def _render_json_answer(orch: Orchestrator, run_id: str, value: Any, interrupt_id: str, prefix: str) -> None:
    question, answer = st.columns(2, gap="large")
    question.markdown("**The question**")
    question.json(value, expanded=2)
    # Forms: what was typed is sent with the click, never a keystroke behind it.
    with answer.form(f"{prefix}_answer_form", border=False, enter_to_submit=False):
        st.text_area(
            "Your answer (JSON)",
            value=_pretty(value),
            key=f"{prefix}_answer",
            height=140,
            help="Any JSON value; it is what interrupt() returns in the graph. Prefilled with the question.",
        )
        st.form_submit_button(
            "Send answer",
            key=f"{prefix}_send",
            icon=icon("send"),
            on_click=do_action,
            args=("Answer", lambda: _send_json(orch, run_id, interrupt_id, prefix), None, f"{prefix}_answer"),
        )
    with answer:
        show_failure(f"{prefix}_answer")  # under the box it is about


def _render_answer_form(
    orch: Orchestrator, spec: WorkflowSpec, run_id: str, value: Any, interrupt_id: str, prefix: str
) -> None:
    assert spec.answer_model is not None
    st.markdown("**The question**")
    st.json(value, expanded=2)
    errors = st.session_state.get(ERRORS_KEY, {}).get(prefix, {})
    start = value if isinstance(value, dict) else {}
    with st.form(f"{prefix}_form", enter_to_submit=False, border=False):
        st.caption(f"Your answer ({spec.answer_model.__name__})")
        values = render_schema_form(spec.answer_model.model_json_schema(), start, errors, f"{prefix}_field")
        sent = st.form_submit_button("Send answer", icon=icon("send"))
    if sent:
        data, parse_errors = collect_input(values)
        found: dict[str, str] = dict(parse_errors)
        try:
            spec.validate_answer(data)
        except InputError as exc:
            found = {**(exc.field_errors or {"input": str(exc)}), **found}
        st.session_state.setdefault(ERRORS_KEY, {})[prefix] = found
        if not found:
            do_action(
                "Answer",
                lambda: orch.approve(run_id, data, interrupt_id=interrupt_id, answered_by=current_launcher()),
            )
        st.rerun()


def _send_edit(orch: Orchestrator, run_id: str, value: Any, interrupt_id: str, prefix: str) -> str:
    args = parse_json(st.session_state.get(f"{prefix}_edit_args", ""), "The arguments")
    if not isinstance(args, dict):
        raise InputError("The arguments must be a JSON object of names and values.")
    return orch.respond(run_id, "edit", args, interrupt_id=interrupt_id, answered_by=current_launcher())


def render_human_request(orch: Orchestrator, run_id: str, value: Any, interrupt_id: str, prefix: str) -> None:
    """An Agent Inbox request: its action and arguments, and exactly the responses it allows."""
    request = human_request(value)
    assert request is not None
    action = request["action_request"]
    allowed = allowed_responses(value)
    if request.get("description"):
        st.markdown(str(request["description"]))
    shown, edit = st.columns(2, gap="large")
    shown.markdown(f"Action **`{action.get('action')}`** with the arguments")
    shown.json(action.get("args") or {}, expanded=2)
    if not allowed:
        st.warning("This request allows no response; cancel the run or fork it.", icon=icon("block"))
        return
    if "edit" in allowed:
        with edit.form(f"{prefix}_edit_form", border=False, enter_to_submit=False):
            st.text_area(
                "Edit the arguments (JSON)",
                value=_pretty(action.get("args") or {}),
                key=f"{prefix}_edit_args",
                height=120,
            )
            st.form_submit_button(
                "Send edited arguments",
                key=f"{prefix}_edit",
                icon=icon("edit"),
                on_click=do_action,
                args=("Edit", lambda: _send_edit(orch, run_id, value, interrupt_id, prefix), None, f"{prefix}_edit"),
            )
        with edit:
            show_failure(f"{prefix}_edit")
    if "response" in allowed:
        with st.form(f"{prefix}_respond_form", border=False, enter_to_submit=False):
            st.text_input(
                "Respond with text", key=f"{prefix}_response_text", placeholder="what the agent should know"
            )
            st.form_submit_button(
                "Send response",
                key=f"{prefix}_respond",
                icon=icon("chat"),
                on_click=do_action,
                args=(
                    "Response",
                    lambda: orch.respond(
                        run_id,
                        "response",
                        st.session_state.get(f"{prefix}_response_text", ""),
                        interrupt_id=interrupt_id,
                        answered_by=current_launcher(),
                    ),
                    None,
                    f"{prefix}_respond",
                ),
            )
        show_failure(f"{prefix}_respond")
    row = st.container(horizontal=True)
    if "accept" in allowed:
        row.button(
            "Accept",
            type="primary",
            key=f"{prefix}_accept",
            icon=icon("check"),
            help="Carry out the action as proposed",
            on_click=do_action,
            args=(
                "Accept",
                lambda: orch.respond(
                    run_id, "accept", interrupt_id=interrupt_id, answered_by=current_launcher()
                ),
            ),
        )
    if "ignore" in allowed:
        row.button(
            "Ignore",
            key=f"{prefix}_ignore",
            icon=icon("do_not_disturb_on"),
            help="Skip the action",
            on_click=do_action,
            args=(
                "Ignore",
                lambda: orch.respond(
                    run_id, "ignore", interrupt_id=interrupt_id, answered_by=current_launcher()
                ),
            ),
        )
