"""A run's checkpoint history, read with LangGraph's own sync savers (never by parsing their tables).

Each checkpoint becomes a plain dict: its id, step, source, time, the nodes whose writes
produced it and the state channels they changed. The writes that produced checkpoint N are
the pending writes stored on its parent, N-1; their task ids name nodes through `run_tasks`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.checkpointer import open_sync_saver
from orchestrator.config import OrchestratorConfig
from orchestrator.snapshots import to_jsonable

# LangGraph's bookkeeping channels, not part of the user's state.
INTERNAL_PREFIXES = ("branch:", "__", "start:")
# The task id LangGraph writes a Command's own writes under (Command(resume=...): an answer).
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"
RESUME_WRITER = "(resume value)"
# The checkpoint a fork's edit of the state made (`update_state`, source "update"), and what its
# own writes led to, are written by that edit, not by a node.
EDIT_WRITER = "(state edited)"


def is_state_channel(channel: str) -> bool:
    return not channel.startswith(INTERNAL_PREFIXES)


def checkpoint_history(
    config: OrchestratorConfig, run_id: str, task_nodes: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The run's checkpoints, oldest first, each with `values` (its JSON-safe state).

    `task_nodes` maps task ids to node names (from RunStore.get_tasks) to name the writers.
    """
    task_nodes = task_nodes or {}
    with open_sync_saver(config) as saver:
        try:
            tuples = list(saver.list({"configurable": {"thread_id": run_id}}))
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            tuples = []  # read-only, and no executor ever set the saver's tables up: no checkpoints
    tuples.reverse()
    history: list[dict[str, Any]] = []
    parent_writes: list[tuple[str, str, Any]] = []
    parent_source = None
    for t in tuples:
        metadata = t.metadata or {}
        # The writes on an "input" checkpoint are the run's input, not a node's; those on an edit's
        # checkpoint are the edit's (LangGraph names them by an id of its own).
        unknown = {"input": "(input)", "update": EDIT_WRITER}.get(parent_source or "")
        writers = sorted(
            {
                RESUME_WRITER
                if task_id == NULL_TASK_ID
                else task_nodes.get(task_id) or unknown or task_id[:8]
                for task_id, _, _ in parent_writes
            }
        )
        if metadata.get("source") == "update":
            writers = [EDIT_WRITER]
        values = t.checkpoint.get("channel_values", {})
        history.append(
            {
                "checkpoint_id": t.config["configurable"]["checkpoint_id"],
                "step": metadata.get("step"),
                "source": metadata.get("source"),
                "created_at": t.checkpoint.get("ts"),
                "writers": writers,
                "changed": sorted({ch for _, ch, _ in parent_writes if is_state_channel(ch)}),
                "next": sorted({task_nodes.get(w[0], "") for w in t.pending_writes or []} - {""}),
                "values": to_jsonable({k: v for k, v in values.items() if is_state_channel(k)}),
            }
        )
        parent_writes = list(t.pending_writes or [])
        parent_source = metadata.get("source")
    return history
