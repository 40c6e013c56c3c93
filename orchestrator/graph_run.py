"""A run's graph as the executor runs it: its config, its concurrency bound, what its
checkpoints say really ran, the answer it resumes with; and two small helpers of a run's
attempt (its error's text, work that must finish even when cancelled)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import traceback
from collections.abc import Awaitable, Coroutine
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph

from orchestrator.fenced_run import TaskTruth
from orchestrator.status import TaskStatus
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.limits import slot

logger = logging.getLogger("orchestrator.executor")

# LangGraph's pending-write channels that do not mean "this task finished with a result".
NOT_DONE = frozenset({"__error__", "__interrupt__", "__resume__"})


def format_error(exc: BaseException) -> str:
    """The message on the first line, then the traceback."""
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def graph_config(
    run_id: str, spec: WorkflowSpec, input: dict[str, Any] | None, run_config: dict[str, Any] | None = None
) -> tuple[RunnableConfig, int | None]:
    """The RunnableConfig of a run, and the workflow's `max_concurrency` (applied apart).

    The workflow's own run config, the run's `configurable` keys over the workflow's, the run's
    thread, and `run_id` and `workflow` in every checkpoint's metadata.
    """
    extra, max_concurrency = spec.graph_run_config(input or {})
    config: RunnableConfig = {
        **extra,  # type: ignore[typeddict-item]
        "configurable": {**(extra.get("configurable") or {}), **(run_config or {}), "thread_id": run_id},
        "metadata": {**(extra.get("metadata") or {}), "run_id": run_id, "workflow": spec.name},
    }
    return config, max_concurrency


def limit_concurrency(graph: StateGraph, limit: int) -> StateGraph:
    """Wrap every node of an uncompiled graph so at most `limit` of the run's tasks work at once.

    This is what LangGraph's `max_concurrency` does, without holding each finished task's
    writes back until the whole step ends (see orchestrator.workflows.limits)."""
    for name, node in list(graph.nodes.items()):
        graph.nodes[name] = dataclasses.replace(node, runnable=_limited(node.runnable, name, limit))
    return graph


def _limited(runnable: Any, name: str, limit: int) -> Runnable[Any, Any]:
    async def run(state: Any, config: RunnableConfig) -> Any:
        async with slot(config, "max_concurrency", limit):
            return await runnable.ainvoke(state, config)

    return RunnableLambda(run, name=name)


async def checkpoint_truth(
    saver: BaseCheckpointSaver[Any], graph: Any, cfg: RunnableConfig
) -> list[TaskTruth]:
    """Every task of the run's history with its node, and whether it finished.

    A step followed by a checkpoint of the loop completed, so all its tasks finished (even one
    whose own writes were not saved: LangGraph applied them to the state in memory). A step
    followed by an edit of the state (a fork's `update_state`) ran none of its tasks. In the
    latest step, a task finished when its writes were saved, or failed when its error was.
    """
    thread: RunnableConfig = {
        "configurable": {"thread_id": cfg["configurable"]["thread_id"], "checkpoint_ns": ""}
    }
    writes = {
        t.config["configurable"]["checkpoint_id"]: list(t.pending_writes or [])
        async for t in saver.alist(thread)
    }
    history = [snapshot async for snapshot in graph.aget_state_history(cfg)]
    history.reverse()
    truth: list[TaskTruth] = []
    for index, snapshot in enumerate(history):
        saved = writes.get(snapshot.config["configurable"]["checkpoint_id"], [])
        completed = index + 1 < len(history) and (history[index + 1].metadata or {}).get("source") == "loop"
        started = _timestamp(snapshot.created_at)
        finished = _timestamp(history[index + 1].created_at) if completed else None
        step = (snapshot.metadata or {}).get("step")
        for task in snapshot.tasks:
            if task.name.startswith("__"):
                continue
            channels = [(channel, value) for task_id, channel, value in saved if task_id == task.id]
            error = next((value for channel, value in channels if channel == "__error__"), None)
            message: str | None = None
            if completed or any(channel not in NOT_DONE for channel, _ in channels):
                outcome = str(TaskStatus.SUCCEEDED)
            elif isinstance(error, BaseException) and not isinstance(error, asyncio.CancelledError):
                outcome, message = str(TaskStatus.FAILED), f"{type(error).__name__}: {error}"
            else:
                outcome = "none"
            truth.append(
                TaskTruth(
                    task.id,
                    task.name,
                    outcome,
                    message,
                    None if step is None else step + 1,
                    started,
                    finished,
                )
            )
    return truth


def resume_answer(stored: Any, pending_ids: list[str]) -> dict[str, Any] | None:
    """The answer to send as `Command(resume={interrupt_id: value})`, or None when the
    interrupts it answers are no longer pending (the answer reached the graph already).

    Answers are stored by interrupt id. An answer from before that (a bare value) answers the
    one pending interrupt, if there is exactly one.
    """
    if isinstance(stored, dict) and stored and all(isinstance(k, str) and k in pending_ids for k in stored):
        return dict(stored)
    if isinstance(stored, dict) and stored and all(_looks_like_interrupt_id(k) for k in stored):
        answered = {k: v for k, v in stored.items() if k in pending_ids}
        return answered or None
    if len(pending_ids) == 1:
        return {pending_ids[0]: stored}
    return None


def _looks_like_interrupt_id(key: Any) -> bool:
    return isinstance(key, str) and len(key) == 32 and all(c in "0123456789abcdef" for c in key)


def _timestamp(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


async def shielded(work: Coroutine[Any, Any, None] | Awaitable[None]) -> None:
    """Run `work` to its end even if the calling task is cancelled again meanwhile."""
    inner = asyncio.ensure_future(work)
    while not inner.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(inner)
    inner.result()
