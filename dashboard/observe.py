"""Run detail's view of what a run's tasks logged and the model calls they made."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard.formatting import MISSING, time_column
from orchestrator.observe.conversation import Turn
from orchestrator.observe.figures import COST_FORMAT, cost_text, run_tokens
from orchestrator.observe.reads import LEVELS, level_name, level_number
from orchestrator.operations import Orchestrator
from orchestrator.rows import TaskRow

# The lines a page shows at most: the newest ones (the CLI's `logs` prints them all).
SHOWN_LINES = 500
ALL_TASKS = ""


def usage_line(run: Mapping[str, Any]) -> str:
    """The run's log warnings and errors, and its model calls' tokens and cost, in one line."""
    logged = f"Logged {run.get('warnings', 0):,} warnings and {run.get('errors', 0):,} errors"
    calls = run.get("model_calls", 0)
    if not calls:
        return logged + " · no model calls"
    return (
        f"{logged} · {calls:,} model calls: {run_tokens(run):,} tokens ({run.get('input_tokens', 0):,} input, "
        f"{run.get('output_tokens', 0):,} output), {cost_text(run.get('cost_usd', 0.0))}"
    )


def _task_label(task_id: str, tasks: Mapping[str, TaskRow], counts: Mapping[str, int]) -> str:
    if task_id == ALL_TASKS:
        return f"All tasks ({sum(counts.values()):,} lines)"
    task = tasks.get(task_id)
    node = task["node"] if task else "?"
    return f"{node} · {task_id[:8]} · {counts.get(task_id, 0):,} lines"


def render_log_filters(orch: Orchestrator, run_id: str, tasks: Sequence[TaskRow]) -> tuple[str, int, str]:
    """The task, the lowest level and the text to show the logs of (the choices persist)."""
    counts = orch.observations.log_counts(run_id)
    by_id = {t["task_id"]: t for t in tasks}
    # A line of no task (retention's mark, task id "") shows among all tasks' lines only.
    options = [ALL_TASKS, *by_id, *sorted(t for t in counts if t not in by_id and t != ALL_TASKS)]
    left, middle, right = st.columns([3, 1, 2])
    task_id = left.selectbox(
        "Task",
        options,
        format_func=lambda t: _task_label(t, by_id, counts),
        key="detail_log_task",
        help="A task's lines, its input and output; the Tasks tab gives each task's id (its first 8 characters)",
    )
    level = middle.selectbox("Level", LEVELS, key="detail_log_level", help="This level and above")
    text = right.text_input(
        "Search", key="detail_log_search", placeholder="text in the message", max_chars=200
    )
    return task_id or ALL_TASKS, level_number(level), text


def render_logs(orch: Orchestrator, run_id: str, task_id: str, min_level: int, text: str) -> None:
    lines = orch.observations.logs(
        run_id, task_id=task_id or None, min_level=min_level, text=text, limit=SHOWN_LINES, newest=True
    )
    if not lines:
        st.caption("No log lines match." if (task_id or min_level or text) else "Nothing logged yet.")
        return
    if len(lines) == SHOWN_LINES:
        st.caption(f"The newest {SHOWN_LINES} lines; `orchestrator logs {run_id}` prints them all.")
    st.dataframe(
        [
            {
                "at": line["at"],
                "level": level_name(line["level"]),
                "node": line["node"],
                "task": line["task_id"][:8],
                "logger": line["logger"],
                "message": line["message"],
            }
            for line in lines
        ],
        column_config={
            "at": time_column("Time"),
            "level": st.column_config.TextColumn("Level"),
            "node": st.column_config.TextColumn("Node"),
            "task": st.column_config.TextColumn("Task"),
            "logger": st.column_config.TextColumn("Logger"),
            "message": st.column_config.TextColumn("Message", width="large"),
        },
        hide_index=True,
        key="detail_logs",
    )


def render_task_io(orch: Orchestrator, run_id: str, task_id: str) -> None:
    """What a task was given and what it wrote (bounded; secret-named keys' values shown as ***)."""
    for io in orch.observations.task_io(run_id, task_id):
        left, right = st.columns(2)
        left.markdown(f"**Input** (attempt {io['attempt']})")
        left.json(io["input"] if io["input"] is not None else {}, expanded=1)
        right.markdown("**Output**")
        right.json(io["output"] if io["output"] is not None else {}, expanded=1)


def _call_columns() -> dict[str, Any]:
    """The labels both model-call tables share (the stored names stay in the data)."""
    return {
        "node": st.column_config.TextColumn("Node"),
        "model": st.column_config.TextColumn("Model"),
        "input_tokens": st.column_config.NumberColumn("Input tokens"),
        "output_tokens": st.column_config.NumberColumn("Output tokens"),
        "cached_tokens": st.column_config.NumberColumn("Cached tokens"),
    }


def render_model_calls(orch: Orchestrator, run: Mapping[str, Any]) -> None:
    run_id = run["run_id"]
    st.caption(usage_line(run))
    by_node = orch.observations.model_calls_by_node(run_id)
    if not by_node:
        st.caption("No model calls recorded.")
        return
    st.markdown("**Per node and model**")
    st.dataframe(
        by_node,
        column_config={
            **_call_columns(),
            "calls": st.column_config.NumberColumn("Calls"),
            "cost_usd": st.column_config.NumberColumn(
                "Cost", format=COST_FORMAT, help="Empty: no price configured"
            ),
            "latency_seconds": st.column_config.NumberColumn("Time in calls", format="%.3f s"),
        },
        hide_index=True,
        placeholder="no price",
        key="detail_model_nodes",
    )
    st.markdown("**Calls**")
    st.dataframe(
        [
            {
                "started_at": c["started_at"],
                "node": c["node"] or MISSING,
                "task": (c["task_id"] or "")[:8] or MISSING,
                "model": c["model"],
                "input_tokens": c["input_tokens"],
                "output_tokens": c["output_tokens"],
                "cached_tokens": c["cached_tokens"],
                "cost_usd": c["cost_usd"],
                "latency_seconds": c["latency_seconds"],
                "error": c["error"],
            }
            for c in orch.observations.model_calls(run_id)
        ],
        column_config={
            **_call_columns(),
            "started_at": time_column("Started"),
            "task": st.column_config.TextColumn("Task"),
            "error": st.column_config.TextColumn("Error"),
            "cost_usd": st.column_config.NumberColumn("Cost", format=COST_FORMAT),
            "latency_seconds": st.column_config.NumberColumn("Latency", format="%.3f s"),
        },
        hide_index=True,
        placeholder=MISSING,
        key="detail_model_calls",
    )


AVATARS = {"human": "user", "ai": "assistant", "system": ":material/settings:", "tool": ":material/build:"}


def render_conversation(turns: Sequence[Turn]) -> None:
    """A state's messages as a chat: roles, text, the tools called and their results."""
    for turn in turns:
        with st.chat_message(turn.role, avatar=AVATARS.get(turn.role)):
            if turn.role == "tool":
                st.caption(
                    f"Result of {turn.name or 'a tool'}"
                    + (f" (call `{turn.tool_call_id}`)" if turn.tool_call_id else "")
                )
            elif turn.name:
                st.caption(turn.name)
            if turn.content:
                st.markdown(turn.content)
            for call in turn.tool_calls:
                st.caption(f"Calls {call['name']}" + (f" (call `{call['id']}`)" if call["id"] else ""))
                st.json(call["args"] or {}, expanded=False)
