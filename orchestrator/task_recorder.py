"""A run's task events as LangGraph's stream reports them, written in batches through the run's
fence (`FencedRun`): a task's start, its wait for a slot, the start of its work, its end."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

from orchestrator.db import utcnow
from orchestrator.fenced_run import FencedRun, TaskEvent
from orchestrator.observe.capture import RunObservations
from orchestrator.status import TaskStatus

# Task events are written at least this often while a run goes (or when this many wait).
FLUSH_SECONDS = 0.25
FLUSH_EVENTS = 500
# ... or when this many log lines and model calls wait.
FLUSH_LINES = 5000


class TaskRecorder:
    """Collects one run's task events and writes them in batches, through the run's fence.

    A task's end is written once what it wrote is saved (its writes, or the checkpoint of its
    step), so `run_tasks` never says a task succeeded whose result a crash or an outage lost:
    until then the row says it is running."""

    def __init__(self, run: FencedRun, observations: RunObservations | None = None):
        self.run = run
        # What the run's tasks log and their model calls (orchestrator.observe), written with the events.
        self.observations = observations if observations is not None else RunObservations(run.run_id)
        self.pending: list[TaskEvent] = []
        # Ends of tasks whose writes are not saved yet, and the tasks whose writes are.
        self.held: dict[str, TaskEvent] = {}
        self.saved: set[str] = set()
        # The step the tasks starting now belong to (from LangGraph's checkpoints stream).
        self.step: int | None = None
        # When a task gave its concurrency slot back: its work's end, as the node saw it (the end
        # event of LangGraph's task stream comes a moment later).
        self.work_done: dict[str, dt.datetime] = {}
        # What each running task was given (its input, kept until it ends with what it wrote).
        self.inputs: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        # Metrics its nodes recorded (orchestrator.record_metric), written with the next batch:
        # a node's own write from the event loop would wait on the savers' (SQLite's one writer).
        self.metrics: list[tuple[str, float, int | None]] = []
        self._metrics_lock = threading.Lock()

    def add_metric(self, name: str, value: float, step: int | None) -> None:
        """A metric a node recorded (from any thread: sync nodes run in LangGraph's)."""
        with self._metrics_lock:
            self.metrics.append((name, value, step))

    def add(self, chunk: dict[str, Any]) -> None:
        """A chunk of LangGraph's `tasks` stream: a task started, or ended."""
        now = utcnow()
        if "triggers" in chunk:
            self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "start", step=self.step))
            self.inputs[chunk["id"]] = chunk.get("input")
            return
        now = self.work_done.pop(chunk["id"], now)
        self.observations.task_ended(chunk["id"], chunk["name"])
        self.observations.add_io(chunk["id"], self.inputs.pop(chunk["id"], None), chunk.get("result"))
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
        return len(self.pending) >= FLUSH_EVENTS or len(self.observations) >= FLUSH_LINES

    async def flush(self) -> bool:
        """Write what is pending (True if there was something to write); on a database error the
        events stay for the next flush."""
        async with self._lock:
            with self._metrics_lock:
                metrics, self.metrics = self.metrics, []
            observed = self.observations.take()
            if not self.pending and not metrics and not observed:
                return False
            events, self.pending = self.pending, []
            write = asyncio.ensure_future(asyncio.to_thread(self._write, events, observed, metrics))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # Keep the lock until this batch is written: a later batch (the task ends, the
                # run's final status) must never overtake it.
                await asyncio.wait([write])
                if not write.cancelled():
                    write.exception()  # seen: a lost claim's refusal is the run's to say, not asyncio's
                raise
            except Exception:
                self.pending[:0] = events
                with self._metrics_lock:
                    self.metrics[:0] = metrics
                self.observations.put_back(observed)
                raise
            return True

    def _write(
        self, events: list[TaskEvent], observed: Any, metrics: list[tuple[str, float, int | None]]
    ) -> None:
        if events or observed:
            self.run.record_task_events(events, observed)
        if metrics:
            self.run.record_metrics(metrics)
