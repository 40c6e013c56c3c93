"""An independent reader of what LangGraph saved: its own sync savers, opened from the test's
database, not the orchestrator's code. Tests compare the orchestrator's records with this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from orchestrator.config import OrchestratorConfig

# Pending-write channels that do not mean "this task finished with a result".
NOT_DONE = {"__error__", "__interrupt__", "__resume__"}
# The task id LangGraph writes a Command's own writes under (not a node's execution).
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"


@contextmanager
def langgraph_saver(config: OrchestratorConfig) -> Iterator[BaseCheckpointSaver[Any]]:
    """LangGraph's own sync saver on the test's database."""
    if config.checkpoint_mode == "sqlite":
        with SqliteSaver.from_conn_string(config.sqlite_path) as saver:
            yield saver
    else:
        uri = config.postgres_url().set(drivername="postgresql").render_as_string(hide_password=False)
        with PostgresSaver.from_conn_string(uri) as saver:
            yield saver


def checkpoints(config: OrchestratorConfig, run_id: str) -> list[CheckpointTuple]:
    """The run's root checkpoints, oldest first, each with its pending writes."""
    with langgraph_saver(config) as saver:
        found = list(saver.list({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}))
    return list(reversed(found))


def saved_writes(config: OrchestratorConfig, run_id: str, channel: str) -> list[Any]:
    """Every value a task wrote to `channel` that LangGraph saved, over the whole history."""
    return [
        value for t in checkpoints(config, run_id) for _, ch, value in t.pending_writes or [] if ch == channel
    ]


def saved_task_ids(config: OrchestratorConfig, run_id: str) -> set[str]:
    """The node executions whose writes were saved: they finished, and a resume will not run
    them again. (The writes on the "input" checkpoint are the run's input, not a node's.)"""
    return {
        task_id
        for t in checkpoints(config, run_id)
        if (t.metadata or {}).get("source") != "input"
        for task_id, ch, _ in t.pending_writes or []
        if ch not in NOT_DONE and task_id != NULL_TASK_ID
    }
