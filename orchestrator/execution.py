"""How one run is executed: its graph config, its task events, what its checkpoints say really
ran, and the answers it resumes with. The `Executor` (orchestrator.executor) schedules runs and
keeps them alive; this is what it uses (and orchestrator.outage, for when the database is away).
"""

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

from orchestrator.claims import Claim, ClaimStore, TaskEvent, TaskTruth
from orchestrator.db import utcnow
from orchestrator.status import TaskStatus
from orchestrator.workflows import WorkflowSpec
from orchestrator.workflows.limits import slot

logger = logging.getLogger("orchestrator.executor")

# LangGraph's pending-write channels that do not mean "this task finished with a result".
NOT_DONE = frozenset({"__error__", "__interrupt__", "__resume__"})
# Task events are written at least this often while a run goes (or when this many wait).
FLUSH_SECONDS = 0.25
FLUSH_EVENTS = 500
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


class TaskRecorder:
    """Collects one run's task events and writes them in batches, fenced by its claim.

    A task's end is written once what it wrote is saved (its writes, or the checkpoint of its
    step), so `run_tasks` never says a task succeeded whose result a crash or an outage lost:
    until then the row says it is running."""

    def __init__(self, store: ClaimStore, claim: Claim):
        self.store, self.claim = store, claim
        self.pending: list[TaskEvent] = []
        # Ends of tasks whose writes are not saved yet, and the tasks whose writes are.
        self.held: dict[str, TaskEvent] = {}
        self.saved: set[str] = set()
        # The step the tasks starting now belong to (from LangGraph's checkpoints stream).
        self.step: int | None = None
        # When a task gave its concurrency slot back: its work's end, as the node saw it (the end
        # event of LangGraph's task stream comes a moment later).
        self.work_done: dict[str, dt.datetime] = {}
        self._lock = asyncio.Lock()

    def add(self, chunk: dict[str, Any]) -> None:
        """A chunk of LangGraph's `tasks` stream: a task started, or ended."""
        now = utcnow()
        if "triggers" in chunk:
            self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "start", step=self.step))
            return
        now = self.work_done.pop(chunk["id"], now)
        error = chunk.get("error")
        if error is not None:
            status, message = TaskStatus.FAILED, f"{type(error).__name__}: {error}"
        elif chunk.get("interrupts"):
            # It asked a person (interrupt()): it waits for the answer, then runs again.
            status, message = TaskStatus.AWAITING_INPUT, None
        else:
            status, message = TaskStatus.SUCCEEDED, None
        event = TaskEvent(chunk["id"], chunk["name"], now, "end", status=status, error=message)
        if chunk["id"] in self.saved:
            self.pending.append(event)
        else:
            self.held[chunk["id"]] = event

    def writes_saved(self, task_id: str) -> None:
        """The saver saved the task's writes (its result, its error or its question)."""
        self.saved.add(task_id)
        if (event := self.held.pop(task_id, None)) is not None:
            self.pending.append(event)

    def checkpoint_saved(self) -> None:
        """The saver saved a checkpoint: the step whose tasks ended before it is saved with them
        (a task that wrote nothing is known to have ended only now)."""
        self.release_ended()

    def release_ended(self) -> None:
        """Write every task end held back (the run came to rest: its graph ran them)."""
        self.pending.extend(self.held.values())
        self.held.clear()

    def add_slot_event(self, kind: str, task_id: str, at: dt.datetime) -> None:
        """The task waits for a concurrency slot ("wait"), got one and started its work ("work"),
        or gave it back ("done", its work's end); `at` is when, in the node (workflows.limits.slot)."""
        if kind == "done":
            self.work_done[task_id] = at
        else:
            self.pending.append(TaskEvent(task_id, "", at, kind))

    @property
    def full(self) -> bool:
        return len(self.pending) >= FLUSH_EVENTS

    async def flush(self) -> bool:
        """Write what is pending (True if there was something to write); on a database error the
        events stay for the next flush."""
        async with self._lock:
            if not self.pending:
                return False
            events, self.pending = self.pending, []
            write = asyncio.ensure_future(
                asyncio.to_thread(self.store.record_task_events, self.claim, events)
            )
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # Keep the lock until this batch is written: a later batch (the task ends, the
                # run's final status) must never overtake it.
                await asyncio.wait([write])
                raise
            except Exception:
                self.pending[:0] = events
                raise
            return True


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
