"""Fork a run from one of its checkpoints: a new thread that holds the parent's history up to
that checkpoint, through LangGraph's savers' API (`list`, `put`, `put_writes`), never their tables.

The copy keeps checkpoint ids, so the fork's history is the parent's up to the fork point and
compare can say where the two part. The fork point's own pending writes (progress made after
it) are left behind: the fork runs that step again, which is how a wrong answer to an
interrupt is corrected. An edited state goes in with LangGraph's `update_state`, each key as
edited: a key with a reducer (`Annotated[list, operator.add]`) gets LangGraph's `Overwrite`,
so the edited list replaces the old one instead of being added to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.channels.binop import BinaryOperatorAggregate
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointMetadata, CheckpointTuple
from langgraph.graph import StateGraph
from langgraph.types import Overwrite

from orchestrator.errors import InputError
from orchestrator.validation import shown


def state_update(builder: StateGraph, values: Any) -> dict[str, Any]:
    """`values` (the keys a person edited) as an update that sets each key to exactly its edited
    value: checked against the workflow's state keys, reducer keys wrapped in `Overwrite`.

    InputError in one sentence for anything but an object of the state's keys."""
    channels = builder.schemas.get(builder.state_schema, {})
    if not isinstance(values, Mapping):
        raise InputError(
            f"The state to fork with must be a JSON object of the workflow's state keys, not {type(values).__name__}."
        )
    if set(channels) == {"__root__"}:  # a state without declared keys (StateGraph(dict))
        return dict(values)
    unknown = sorted(str(key) for key in values if key not in channels)
    if unknown:
        raise InputError(
            f"The workflow's state has no key {shown(unknown[0])}; give only its keys ({', '.join(sorted(channels))})."
        )
    return {
        key: Overwrite(value=value) if isinstance(channels[key], BinaryOperatorAggregate) else value
        for key, value in values.items()
    }


def history_until(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str
) -> list[CheckpointTuple]:
    """The thread's root checkpoints from the first to `checkpoint_id`, oldest first."""
    tuples = list(saver.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}))
    tuples.reverse()
    ids = [t.config["configurable"]["checkpoint_id"] for t in tuples]
    if checkpoint_id not in ids:
        raise InputError(
            f"Run {thread_id} has no checkpoint {checkpoint_id!r}; choose one from its checkpoint list."
        )
    return tuples[: ids.index(checkpoint_id) + 1]


def copy_until(
    saver: BaseCheckpointSaver[Any], source: str, target: str, checkpoint_id: str, metadata: dict[str, Any]
) -> RunnableConfig:
    """Copy `source`'s checkpoints up to `checkpoint_id` into the empty thread `target`.

    `metadata` is added to every copied checkpoint's metadata (the fork's run id). Returns the
    config of the copied fork point.
    """
    parent: RunnableConfig | None = None
    last: RunnableConfig | None = None
    chain = history_until(saver, source, checkpoint_id)
    for index, item in enumerate(chain):
        config: RunnableConfig = {"configurable": {"thread_id": target, "checkpoint_ns": ""}}
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        checkpoint = item.checkpoint
        copied: CheckpointMetadata = {**(item.metadata or {})}
        copied.update(metadata)  # type: ignore[typeddict-item]
        last = saver.put(config, checkpoint, copied, dict(checkpoint.get("channel_versions") or {}))
        if index < len(chain) - 1:
            by_task: dict[str, list[tuple[str, Any]]] = {}
            for task_id, channel, value in item.pending_writes or []:
                by_task.setdefault(task_id, []).append((channel, value))
            for task_id, writes in by_task.items():
                saver.put_writes(last, writes, task_id)
        parent = last
    assert last is not None
    return last


def writer_of(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str, task_nodes: dict[str, str]
) -> str | None:
    """The one node whose writes produced the checkpoint (from its parent's pending writes and
    `task_nodes`, task id -> node), or None when several nodes, none, or unknown tasks wrote it.

    An edited state is applied as this node's update, so the graph goes on from where it was.
    LangGraph's own guess (`versions_seen`) misses the tasks of a `Send` fan-out and takes the
    node before it, whose branch would then send the whole fan-out again."""
    chain = history_until(saver, thread_id, checkpoint_id)
    if len(chain) < 2:
        return None
    nodes = {task_nodes.get(task_id) for task_id, _, _ in chain[-2].pending_writes or []}
    if len(nodes) == 1 and None not in nodes:
        return nodes.pop()
    return None
