"""A run's checkpoint history, read with LangGraph's own sync savers (never by parsing their tables).

Each checkpoint becomes a plain dict: its id, step, source, time, the nodes whose writes
produced it and the state channels they changed. The writes that produced checkpoint N are
the pending writes stored on its parent, N-1; their task ids name nodes through `run_tasks`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import ormsgpack

from orchestrator.checkpointer import open_sync_saver
from orchestrator.config import OrchestratorConfig

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


class ShapeOnlySerde:
    """A serializer for reading a history's shape (ids, steps, sources, writers, next) and no
    values: the checkpoint's own dict is decoded, every stored object in it (a Send, a message, a
    team's class) becomes None. Decoding those objects imports their modules: LangGraph's Send
    imports langgraph.types, which loads langchain-core and langsmith, most of the CLI `show`'s
    start-up. It never writes."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        raise TypeError("a shape-only reader writes nothing")

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        kind, payload = data
        if kind == "msgpack":
            return ormsgpack.unpackb(
                payload, ext_hook=lambda _code, _data: None, option=ormsgpack.OPT_NON_STR_KEYS
            )
        if kind == "json":
            return json.loads(payload)
        return None


def checkpoint_history(
    config: OrchestratorConfig,
    run_id: str,
    task_nodes: dict[str, str] | None = None,
    *,
    values: bool = True,
) -> list[dict[str, Any]]:
    """The run's checkpoints, oldest first, each with `values` (its JSON-safe state).

    `task_nodes` maps task ids to node names (from RunStore.get_tasks) to name the writers.
    `values=False` reads the shape only (no `values`, nothing stored decoded): the CLI's `show`.
    """
    task_nodes = task_nodes or {}
    if values:
        from orchestrator.snapshots import to_jsonable  # langchain-core: only where values are read
    with open_sync_saver(config, serde=None if values else ShapeOnlySerde()) as saver:
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
        entry: dict[str, Any] = {
            "checkpoint_id": t.config["configurable"]["checkpoint_id"],
            "step": metadata.get("step"),
            "source": metadata.get("source"),
            "created_at": t.checkpoint.get("ts"),
            "writers": writers,
            "changed": sorted({ch for _, ch, _ in parent_writes if is_state_channel(ch)}),
            "next": sorted({task_nodes.get(w[0], "") for w in t.pending_writes or []} - {""}),
        }
        if values:
            state = t.checkpoint.get("channel_values", {})
            entry["values"] = to_jsonable({k: v for k, v in state.items() if is_state_channel(k)})
        history.append(entry)
        parent_writes = list(t.pending_writes or [])
        parent_source = metadata.get("source")
    return history
