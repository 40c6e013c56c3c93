"""The executor: claims queued runs and executes them with LangGraph, on one asyncio loop.

An executor opens its own async saver on its own loop (a saver is bound to the loop it was
made on), claims up to `concurrency` queued runs at a time, keeps their heartbeat fresh,
cancels the ones asked to cancel, records task events in batches, and writes each run's
final status and state snapshot. It also marks runs whose executor died as `interrupted`.

    >>> executor = Executor(OrchestratorConfig())
    >>> executor.start()        # a thread of its own (the dashboard's embedded executor)
    >>> executor.stop()

`python -m orchestrator worker` runs `Executor.serve` in the foreground instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command
from sqlalchemy import Engine

from orchestrator.checkpointer import open_checkpointer
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, utcnow
from orchestrator.errors import OrchestratorError
from orchestrator.runs import RunStore, TaskEvent
from orchestrator.snapshots import to_jsonable
from orchestrator.workflows import WorkflowRegistry, WorkflowSpec, load_registry

logger = logging.getLogger("orchestrator.executor")

# LangGraph's pending-write channels that do not mean "this task finished with a result".
NOT_DONE = frozenset({"__error__", "__interrupt__", "__resume__"})
# Task events are written at most this often (or when this many are waiting), per run.
FLUSH_SECONDS = 0.5
FLUSH_EVENTS = 500


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def format_error(exc: BaseException) -> str:
    """The message on the first line, then the traceback."""
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def graph_config(run_id: str, spec: WorkflowSpec, input: dict | None) -> dict[str, Any]:
    """The RunnableConfig of a run: its thread, and `run_id` in every checkpoint's metadata."""
    return {
        **spec.run_config(input or {}),
        "configurable": {"thread_id": run_id},
        "metadata": {"run_id": run_id, "workflow": spec.name},
    }


class TaskRecorder:
    """Collects one run's task events from LangGraph's `tasks` stream and writes them in batches."""

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.pending: list[TaskEvent] = []
        self.last_flush = time.monotonic()

    def add(self, chunk: dict[str, Any]) -> None:
        now = utcnow()
        if "triggers" in chunk:  # a task started
            self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "start"))
            return
        error = chunk.get("error")
        if error is not None:
            status, message = "failed", f"{type(error).__name__}: {error}"
        elif chunk.get("interrupts"):
            status, message = "interrupted", None
        else:
            status, message = "succeeded", None
        self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "end", status=status, error=message))

    async def flush(self, *, force: bool = True) -> None:
        due = len(self.pending) >= FLUSH_EVENTS or time.monotonic() - self.last_flush >= FLUSH_SECONDS
        if not self.pending or not (force or due):
            return
        events, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        await asyncio.to_thread(self.store.record_task_events, self.run_id, events)


class Executor:
    """Claims and executes queued runs; see the module docstring."""

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        engine: Engine | None = None,
        registry: WorkflowRegistry | None = None,
        concurrency: int | None = None,
        worker: str | None = None,
        poll_seconds: float = 0.5,
    ):
        self.config = config
        self.engine = engine or make_engine(config)
        self.store = RunStore(self.engine)
        self.registry = registry or load_registry(config.workflows, config.model)
        self.concurrency = concurrency or config.concurrency or 1
        self.worker = worker or default_worker_name()
        self.poll_seconds = poll_seconds
        self._saver: BaseCheckpointSaver | None = None
        self._running: dict[str, asyncio.Task] = {}
        self._stop_reason: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    # -- in a thread of its own (the dashboard) ---------------------------------------------

    def start(self) -> None:
        """Run `serve` on a new event loop in a daemon thread; returns once it is serving."""
        if self._thread and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._thread_main, name="orchestrator-executor", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.serve())
        except Exception:
            logger.exception("The embedded executor stopped")
        finally:
            self._ready.set()

    def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let running runs finish for `grace` seconds, then release them."""
        if self._loop and self._stop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(grace + 15)

    @property
    def is_alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # -- the loop ---------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event | None = None, *, grace: float = 10.0) -> None:
        """Claim and execute runs until `stop` is set; then finish or release what is held."""
        self._loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        async with open_checkpointer(
            self.config, max_connections=self.concurrency + 2, engine=self.engine
        ) as saver:
            self._saver = saver
            self._ready.set()
            logger.info("Executor %s serving (concurrency %d)", self.worker, self.concurrency)
            upkeep = asyncio.create_task(self._upkeep())
            try:
                while not self._stop.is_set():
                    await self._claim_and_start()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.poll_seconds)
            finally:
                upkeep.cancel()
                await self._drain(grace)
        logger.info("Executor %s stopped", self.worker)

    async def _claim_and_start(self) -> None:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return
        for row in await asyncio.to_thread(self.store.claim_queued, self.worker, free):
            self._start(row)

    def _start(self, row: dict[str, Any]) -> asyncio.Task:
        logger.info("Claimed run %s (%s)", row["run_id"], row["workflow"])
        task = asyncio.create_task(self._execute(row), name=f"run-{row['run_id']}")
        self._running[row["run_id"]] = task
        task.add_done_callback(lambda _t, run_id=row["run_id"]: self._running.pop(run_id, None))
        return task

    async def _drain(self, grace: float) -> None:
        if not self._running:
            return
        logger.info("Waiting up to %.0fs for %d running runs", grace, len(self._running))
        _done, pending = await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in pending:
            self._stop_reason[task.get_name().removeprefix("run-")] = "released"
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _upkeep(self) -> None:
        """Heartbeats, cancel requests, and recovery of runs whose executor died."""
        stale_after = dt.timedelta(seconds=self.config.stale_after_seconds)
        next_recovery = 0.0
        while True:
            try:
                cancel = await asyncio.to_thread(self.store.heartbeat, list(self._running), self.worker)
                for run_id in cancel:
                    self.cancel_local(run_id)
                if time.monotonic() >= next_recovery:
                    next_recovery = time.monotonic() + max(stale_after.total_seconds() / 3, 1.0)
                    for run_id in await asyncio.to_thread(self.store.mark_stale_interrupted, stale_after):
                        await asyncio.to_thread(self.store.close_open_tasks, run_id)
                        logger.warning(
                            "Run %s had no heartbeat for %s; marked interrupted", run_id, stale_after
                        )
            except Exception:
                # A database hiccup must not stop the heartbeats of the runs still going.
                logger.exception("Executor upkeep failed; retrying")
            await asyncio.sleep(self.config.heartbeat_seconds)

    def cancel_local(self, run_id: str) -> None:
        """Cancel a run this executor holds (called on the executor's loop)."""
        task = self._running.get(run_id)
        if task and not task.done():
            self._stop_reason[run_id] = "cancelled"
            task.cancel()

    # -- one run ----------------------------------------------------------------------------

    async def execute_claimed(self, row: dict[str, Any]) -> None:
        """Execute a run this caller has claimed already (`run --wait` uses this)."""
        async with open_checkpointer(self.config, max_connections=2, engine=self.engine) as saver:
            self._saver = saver
            self._loop = asyncio.get_running_loop()
            upkeep = asyncio.create_task(self._upkeep())
            try:
                await self._start(row)
            finally:
                upkeep.cancel()

    async def _execute(self, row: dict[str, Any]) -> None:
        run_id = row["run_id"]
        recorder = TaskRecorder(self.store, run_id)
        graph = cfg = None
        try:
            spec = self.registry.get(row["workflow"])
            graph = spec.build().compile(checkpointer=self._saver)
            cfg = graph_config(run_id, spec, row["input"])
            graph_input = await self._graph_input(spec, row, cfg)
            async for mode, chunk in graph.astream(graph_input, cfg, stream_mode=["tasks", "values"]):
                if mode == "tasks":
                    recorder.add(chunk)
                    await recorder.flush(force=False)
            await recorder.flush()
            state = await graph.aget_state(cfg)
            if state.interrupts:
                pending = [{"id": i.id, "value": to_jsonable(i.value)} for i in state.interrupts]
                snapshot = {**to_jsonable(state.values), "__interrupt__": pending}
                await self._finish(run_id, "awaiting_input", snapshot=snapshot)
            else:
                await self._finish(run_id, "succeeded", snapshot=to_jsonable(state.values))
        except asyncio.CancelledError:
            reason = self._stop_reason.pop(run_id, "released")
            await self._after_stop(run_id, recorder, graph, cfg, reason)
        except Exception as exc:
            logger.info("Run %s failed: %s", run_id, exc)
            await recorder.flush()
            snapshot = await self._latest_values(graph, cfg)
            message = str(exc) if isinstance(exc, OrchestratorError) else format_error(exc)
            await self._finish(run_id, "failed", snapshot=snapshot, error=message)
        finally:
            await asyncio.to_thread(self.store.close_open_tasks, run_id)

    async def _graph_input(self, spec: WorkflowSpec, row: dict[str, Any], cfg: dict) -> Any:
        """Fresh input, the answer to a pending interrupt, or None to continue from the checkpoint."""
        if row.get("resume_value") is not None:
            await asyncio.to_thread(self.store.update_run, row["run_id"], resume_value=None)
            return Command(resume=row["resume_value"]["resume"])
        checkpoint = await self._saver.aget_tuple({"configurable": {"thread_id": row["run_id"]}})
        if checkpoint is None:
            return spec.initial_state(row["input"] or {})
        # Continue from the checkpoint. Tasks whose results it already holds are not run again;
        # make sure their rows say so, even if the executor died before writing their end.
        done = {task_id for task_id, channel, _ in checkpoint.pending_writes or [] if channel not in NOT_DONE}
        await asyncio.to_thread(self.store.mark_tasks_succeeded, row["run_id"], done)
        return None

    async def _after_stop(
        self, run_id: str, recorder: TaskRecorder, graph: Any, cfg: Any, reason: str
    ) -> None:
        await recorder.flush()
        snapshot = await self._latest_values(graph, cfg)
        if reason == "cancelled":
            logger.info("Run %s cancelled", run_id)
            await self._finish(run_id, "cancelled", snapshot=snapshot, error="Cancelled on request.")
        else:
            # Shutting down: give the run back to the queue; the next executor continues it
            # from its last checkpoint.
            logger.info("Run %s released back to the queue", run_id)
            await asyncio.to_thread(
                self.store.update_run,
                run_id,
                expected=["running"],
                status="queued",
                worker=None,
                state_snapshot=snapshot,
            )

    async def _latest_values(self, graph: Any, cfg: Any) -> Any:
        if graph is None:
            return None
        try:
            return to_jsonable((await graph.aget_state(cfg)).values)
        except Exception:
            return None

    async def _finish(
        self, run_id: str, status: str, *, snapshot: Any = None, error: str | None = None
    ) -> None:
        await asyncio.to_thread(
            self.store.set_status, run_id, status, expected=["running"], error=error, snapshot=snapshot
        )
