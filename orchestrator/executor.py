"""The executor: claims queued runs and executes them with LangGraph, on one asyncio loop.

An executor opens its own async saver on its own loop (a saver is bound to the loop it was
made on), claims up to `concurrency` queued runs at a time, keeps their heartbeat fresh,
cancels the ones asked to cancel, records task events (flushed at least every 0.25 s), and
writes each run's final status and state snapshot. It also marks runs whose executor died as
`interrupted`.

Every write for a run is fenced by the claim (see orchestrator.claims): an executor that lost
its run stops it without writing. A database outage does not stop an executor: its loops log
once per outage and retry with backoff, and a run cut off by the outage is queued again, to
continue from its last checkpoint, as soon as the database answers.

    >>> executor = Executor(OrchestratorConfig())
    >>> executor.start()        # a thread of its own (the dashboard's embedded executor)
    >>> executor.stop()

`python -m orchestrator worker` runs `Executor.serve` in the foreground instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.types import Command
from psycopg_pool import PoolTimeout
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from orchestrator.checkpointer import open_checkpointer
from orchestrator.claims import Claim, ClaimLost, ClaimStore, TaskEvent, TaskTruth
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, utcnow
from orchestrator.errors import OrchestratorError, ReadOnlyError
from orchestrator.fenced_saver import FencedSaver
from orchestrator.rows import RunRow
from orchestrator.snapshots import to_jsonable
from orchestrator.status import RunStatus, TaskStatus
from orchestrator.workers import WorkerStore
from orchestrator.workflows import WorkflowRegistry, WorkflowSpec, load_registry
from orchestrator.workflows.limits import release_run, slot, work_started_task

logger = logging.getLogger("orchestrator.executor")

# LangGraph's pending-write channels that do not mean "this task finished with a result".
NOT_DONE = frozenset({"__error__", "__interrupt__", "__resume__"})
# Task events are written at least this often while a run goes (or when this many wait).
FLUSH_SECONDS = 0.25
FLUSH_EVENTS = 500
# Backoff of the executor's loops while the database does not answer.
MAX_BACKOFF_SECONDS = 5.0
# How long a run cut off by an outage waits for the database to be queued again.
REQUEUE_PATIENCE_SECONDS = 600.0
OUTAGE_REASON = (
    "The database stopped answering while the run was going; it was queued again to continue "
    "from its last checkpoint."
)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def format_error(exc: BaseException) -> str:
    """The message on the first line, then the traceback."""
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the database being unreachable for a while."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | PoolTimeout | ConnectionError):
            return True
        if isinstance(current, DBAPIError) and (
            current.connection_invalidated or isinstance(current.orig, psycopg.OperationalError)
        ):
            return True
        if isinstance(current, sqlite3.OperationalError) and "locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


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


class Outage:
    """Logs a database outage once when it starts and once when it ends; gives the backoff."""

    def __init__(self, loop_name: str):
        self.loop_name = loop_name
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next try."""
        if self.since is None:
            self.since = time.monotonic()
            if is_transient(exc):
                logger.warning(
                    "Database not answering (%s); the executor's %s keeps retrying",
                    type(exc).__name__,
                    self.loop_name,
                )
            else:
                logger.exception("The executor's %s failed; retrying", self.loop_name)
        self.failures += 1
        return min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** min(self.failures, 5))

    def recovered(self) -> None:
        if self.since is not None:
            logger.warning(
                "Database answers again; the executor's %s resumed after %.1f s",
                self.loop_name,
                time.monotonic() - self.since,
            )
        self.since, self.failures = None, 0


class TaskRecorder:
    """Collects one run's task events and writes them in batches, fenced by its claim."""

    def __init__(self, store: ClaimStore, claim: Claim):
        self.store, self.claim = store, claim
        self.pending: list[TaskEvent] = []
        # The step the tasks starting now belong to (from LangGraph's checkpoints stream).
        self.step: int | None = None
        self._lock = asyncio.Lock()

    def add(self, chunk: dict[str, Any]) -> None:
        """A chunk of LangGraph's `tasks` stream: a task started, or ended."""
        now = utcnow()
        if "triggers" in chunk:
            self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "start", step=self.step))
            return
        error = chunk.get("error")
        if error is not None:
            status, message = TaskStatus.FAILED, f"{type(error).__name__}: {error}"
        elif chunk.get("interrupts"):
            status, message = TaskStatus.INTERRUPTED, None
        else:
            status, message = TaskStatus.SUCCEEDED, None
        self.pending.append(TaskEvent(chunk["id"], chunk["name"], now, "end", status=status, error=message))

    def add_work(self, task_id: str) -> None:
        """The task got its concurrency slot and started its work (see workflows.limits.slot)."""
        self.pending.append(TaskEvent(task_id, "", utcnow(), "work"))

    @property
    def full(self) -> bool:
        return len(self.pending) >= FLUSH_EVENTS

    async def flush(self) -> None:
        """Write what is pending; on a database error the events stay for the next flush."""
        async with self._lock:
            if not self.pending:
                return
            events, self.pending = self.pending, []
            write = asyncio.ensure_future(asyncio.to_thread(self.store.record_task_events, self.claim, events))
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


@dataclass
class RunHandle:
    """One run this executor holds."""

    claim: Claim
    row: RunRow
    recorder: TaskRecorder
    task: asyncio.Task[None] | None = None
    # Why the run's task was cancelled: "cancelled" (asked to), "released" (shutdown), "lost".
    stop_reason: str | None = None
    # Once the run is writing its end, a heartbeat that no longer finds it running is expected.
    ending: bool = False
    # When the claim was last confirmed by the database (monotonic clock).
    confirmed_at: float = field(default_factory=time.monotonic)


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
        if config.read_only:
            raise ReadOnlyError(
                "This orchestrator is read-only (ORCHESTRATOR_READ_ONLY is set), so it runs no workflows; "
                "start workers from a writable configuration."
            )
        self.config = config
        self.engine = engine or make_engine(config)
        self.store = ClaimStore(self.engine)
        self.workers = WorkerStore(self.engine)
        self.registry = registry or load_registry(config.workflows, config.model)
        self.concurrency = concurrency or config.concurrency
        self.worker = worker or default_worker_name()
        self.poll_seconds = poll_seconds
        # A claim confirmed within one heartbeat cannot have been taken over: another executor
        # only takes a run whose heartbeat is stale_after_seconds old (several heartbeats). A
        # longer gap (a paused process, a cut-off network) is checked with the database.
        self._trust_seconds = config.heartbeat_seconds
        self._saver: BaseCheckpointSaver[Any] | None = None
        self._runs: dict[str, RunHandle] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._grace = 10.0
        self._ready = threading.Event()
        self.error: BaseException | None = None

    # -- in a thread of its own (the dashboard) ---------------------------------------------

    def start(self) -> None:
        """Run `serve` on a new event loop in a daemon thread; returns once it is serving."""
        if self._thread and self._thread.is_alive():
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._thread_main, name="orchestrator-executor", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=60)
        if self.error is not None:
            raise self.error

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.serve())
        except Exception as exc:
            self.error = exc
            logger.error("The embedded executor stopped: %s", exc)
        finally:
            self._ready.set()

    def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let running runs finish for `grace` seconds, then release them."""
        self._grace = grace
        if self._loop and self._stop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(grace + 30)

    @property
    def is_alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    @property
    def running(self) -> list[str]:
        """The runs this executor holds now."""
        return list(self._runs)

    # -- the loop ---------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event | None = None, *, grace: float | None = None) -> None:
        """Claim and execute runs until `stop` is set; then finish or release what is held."""
        if grace is not None:
            self._grace = grace
        self._loop = asyncio.get_running_loop()
        self._stop = stop or asyncio.Event()
        async with open_checkpointer(
            self.config, max_connections=self.concurrency + 2, engine=self.engine
        ) as saver:
            self._saver = saver
            await asyncio.to_thread(
                self.workers.register,
                self.worker,
                host=socket.gethostname(),
                pid=os.getpid(),
                concurrency=self.concurrency,
                workflows=self.registry.names(),
                broken=self.registry.errors(),
            )
            for name, reason in self.registry.errors().items():
                logger.warning("Workflow %s cannot be loaded, so this worker runs none of its runs: %s", name, reason)
            self._ready.set()
            logger.info("Executor %s serving (concurrency %d)", self.worker, self.concurrency)
            upkeep = asyncio.create_task(self._upkeep())
            outage = Outage("claim loop")
            try:
                while not self._stop.is_set():
                    wait = self.poll_seconds
                    try:
                        await self._claim_and_start()
                        outage.recovered()
                    except Exception as exc:
                        wait = outage.failed(exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), wait)
            finally:
                upkeep.cancel()
                await self._drain(self._grace)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.workers.stopped, self.worker)
        logger.info("Executor %s stopped", self.worker)

    async def _claim_and_start(self) -> None:
        free = self.concurrency - len(self._runs)
        if free <= 0:
            return
        claimed = await asyncio.to_thread(
            self.store.claim_queued, self.worker, free, workflows=self.registry.names()
        )
        for row in claimed:
            self._start(row)

    def _start(self, row: RunRow) -> asyncio.Task[None]:
        claim = Claim(row["run_id"], row["attempt"])
        logger.info("Claimed run %s (%s), attempt %d", claim.run_id, row["workflow"], claim.attempt)
        handle = RunHandle(claim, row, TaskRecorder(self.store, claim))
        task = asyncio.create_task(self._execute(handle), name=f"run-{claim.run_id}")
        handle.task = task
        self._runs[claim.run_id] = handle
        task.add_done_callback(partial(self._forget, claim.run_id))
        return task

    def _forget(self, run_id: str, _task: asyncio.Task[None]) -> None:
        self._runs.pop(run_id, None)

    async def _drain(self, grace: float) -> None:
        if not self._runs:
            return
        logger.info("Waiting up to %.0f s for %d running runs", grace, len(self._runs))
        tasks = [h.task for h in self._runs.values() if h.task is not None]
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for handle in list(self._runs.values()):
            if handle.task in pending:
                self._stop_run(handle, "released")
        if pending:
            await asyncio.wait(pending)

    async def _upkeep(self) -> None:
        """Heartbeats, cancel requests, lost claims, and recovery of runs whose executor died."""
        outage = Outage("heartbeat")
        next_recovery = 0.0
        while True:
            wait = self.config.heartbeat_seconds
            try:
                await self._heartbeat()
                await asyncio.to_thread(self.workers.beat, self.worker, len(self._runs))
                if time.monotonic() >= next_recovery:
                    next_recovery = time.monotonic() + max(self.config.stale_after_seconds / 3, 1.0)
                    stale = await asyncio.to_thread(
                        self.store.mark_stale_interrupted, self.config.stale_after_seconds
                    )
                    for run_id in stale:
                        logger.warning(
                            "Run %s had no heartbeat for %.0f s; marked interrupted",
                            run_id,
                            self.config.stale_after_seconds,
                        )
                outage.recovered()
            except Exception as exc:
                wait = min(wait, outage.failed(exc))
            await asyncio.sleep(wait)

    async def _heartbeat(self) -> None:
        handles = list(self._runs.values())
        if not handles:
            return
        asked = time.monotonic()
        held, cancel = await asyncio.to_thread(self.store.heartbeat, [h.claim for h in handles])
        for handle in handles:
            if handle.claim.run_id in held:
                handle.confirmed_at = asked
                if handle.claim.run_id in cancel:
                    self._stop_run(handle, "cancelled")
            elif not handle.ending:
                logger.warning(
                    "Run %s is no longer held by this executor (attempt %d); stopping it without writing",
                    handle.claim.run_id,
                    handle.claim.attempt,
                )
                self._stop_run(handle, "lost")

    def _stop_run(self, handle: RunHandle, reason: str) -> None:
        """Cancel a run's task once (a second cancel would interrupt its clean-up)."""
        if handle.stop_reason is not None or handle.ending or handle.task is None or handle.task.done():
            return
        handle.stop_reason = reason
        handle.task.cancel()

    def cancel_local(self, run_id: str) -> None:
        """Cancel a run this executor holds (called on the executor's loop)."""
        handle = self._runs.get(run_id)
        if handle is not None:
            self._stop_run(handle, "cancelled")

    async def _guard(self, handle: RunHandle) -> None:
        """Raise ClaimLost unless this executor still holds the run (checked before each
        checkpoint write; a claim confirmed recently enough is trusted without a query)."""
        if time.monotonic() - handle.confirmed_at < self._trust_seconds:
            return
        asked = time.monotonic()
        if not await asyncio.to_thread(self.store.holds, handle.claim):
            raise ClaimLost(f"Run {handle.claim.run_id} is no longer held by attempt {handle.claim.attempt}.")
        handle.confirmed_at = asked

    # -- one run ----------------------------------------------------------------------------

    async def execute_claimed(self, row: RunRow) -> None:
        """Execute a run this caller has claimed already (`run --wait` uses this)."""
        async with open_checkpointer(self.config, max_connections=2, engine=self.engine) as saver:
            self._saver = saver
            self._loop = asyncio.get_running_loop()
            upkeep = asyncio.create_task(self._upkeep())
            try:
                await self._start(row)
            finally:
                upkeep.cancel()

    async def _execute(self, handle: RunHandle) -> None:
        run_id = handle.claim.run_id
        graph: Any = None
        cfg: RunnableConfig | None = None
        flusher: asyncio.Task[None] | None = None
        try:
            assert self._saver is not None
            spec = self.registry.get(handle.row["workflow"])
            saver = FencedSaver(self._saver, partial(self._guard, handle))
            cfg, max_concurrency = graph_config(run_id, spec, handle.row["input"], handle.row["config"])
            builder = spec.build()
            if max_concurrency is not None:
                builder = limit_concurrency(builder, max_concurrency)
            graph = builder.compile(checkpointer=saver)
            graph_input = await self._graph_input(spec, handle, graph, cfg)
            flusher = asyncio.create_task(self._flush_loop(handle))
            # durability="sync": each step's checkpoint is saved before the next step starts. With
            # "async" a crash can keep task writes whose checkpoint was never saved, and the
            # resumed run would execute that whole step again.
            stream = graph.astream(
                graph_input,
                cfg,
                context=spec.context(handle.row["config"]),
                stream_mode=["tasks", "custom", "checkpoints"],
                durability="sync",
            )
            async for mode, chunk in stream:
                if mode == "tasks":
                    handle.recorder.add(chunk)
                elif mode == "checkpoints":
                    # Tasks that start after the checkpoint of step N belong to step N + 1.
                    handle.recorder.step = int((chunk.get("metadata") or {}).get("step", -1)) + 1
                elif (task_id := work_started_task(chunk)) is not None:
                    handle.recorder.add_work(task_id)
                if handle.recorder.full:
                    await handle.recorder.flush()
            flusher.cancel()
            await handle.recorder.flush()
            state = await graph.aget_state(cfg)
            handle.ending = True
            if state.interrupts:
                pending = [{"id": i.id, "value": to_jsonable(i.value)} for i in state.interrupts]
                snapshot = {**to_jsonable(state.values), "__interrupt__": pending}
                await self._finish(handle, RunStatus.AWAITING_INPUT, snapshot=snapshot)
            else:
                await self._finish(handle, RunStatus.SUCCEEDED, snapshot=to_jsonable(state.values))
        except asyncio.CancelledError:
            reason = handle.stop_reason or "released"
            handle.ending = True
            await _shielded(self._after_stop(handle, graph, cfg, reason))
        except ClaimLost:
            logger.warning(
                "Run %s is no longer held by this executor (attempt %d); stopped it without writing",
                run_id,
                handle.claim.attempt,
            )
        except Exception as exc:
            handle.ending = True
            if is_transient(exc):
                logger.warning("Run %s was cut off from the database (%s)", run_id, type(exc).__name__)
                await _shielded(self._requeue_after_outage(handle))
            else:
                logger.info("Run %s failed: %s", run_id, exc)
                await _shielded(self._after_failure(handle, graph, cfg, exc))
        finally:
            if flusher is not None:
                flusher.cancel()
            release_run(run_id)

    async def _flush_loop(self, handle: RunHandle) -> None:
        """Write the run's task events at least every FLUSH_SECONDS, so the page sees them and
        a crash loses at most that much (the checkpoints say the rest on resume)."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await handle.recorder.flush()
            except ClaimLost:
                self._stop_run(handle, "lost")
                return
            except Exception as exc:
                if not is_transient(exc):
                    logger.exception("Recording task events of run %s failed", handle.claim.run_id)

    async def _graph_input(
        self, spec: WorkflowSpec, handle: RunHandle, graph: Any, cfg: RunnableConfig
    ) -> Any:
        """Fresh input, the answer to a pending interrupt, or None to continue from the checkpoint."""
        assert self._saver is not None
        row = handle.row
        checkpoint = await self._saver.aget_tuple({"configurable": {"thread_id": row["run_id"]}})
        if checkpoint is None:
            return spec.initial_state(row["input"] or {})
        # Resumed: first make the task rows say what the checkpoints say really ran.
        truth = await self._checkpoint_truth(graph, cfg)
        await asyncio.to_thread(self.store.reconcile_tasks, handle.claim, truth)
        if row["resume_value"] is not None:
            state = await graph.aget_state(cfg)
            answer = resume_answer(row["resume_value"].get("resume"), [i.id for i in state.interrupts])
            if answer:
                return Command(resume=answer)
        return None

    async def _checkpoint_truth(self, graph: Any, cfg: RunnableConfig) -> list[TaskTruth]:
        """Every task of the run's history with its node, and whether it finished.

        A step followed by another checkpoint completed, so all its tasks finished (even one
        whose own writes were not saved: LangGraph applied them to the state in memory). In the
        latest step, a task finished when its writes were saved, or failed when its error was.
        """
        assert self._saver is not None
        thread: RunnableConfig = {
            "configurable": {"thread_id": cfg["configurable"]["thread_id"], "checkpoint_ns": ""}
        }
        writes = {
            t.config["configurable"]["checkpoint_id"]: list(t.pending_writes or [])
            async for t in self._saver.alist(thread)
        }
        history = [snapshot async for snapshot in graph.aget_state_history(cfg)]
        history.reverse()
        truth: list[TaskTruth] = []
        for index, snapshot in enumerate(history):
            saved = writes.get(snapshot.config["configurable"]["checkpoint_id"], [])
            completed = index + 1 < len(history)
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
                        task.id, task.name, outcome, message, None if step is None else step + 1, started, finished
                    )
                )
        return truth

    async def _after_stop(self, handle: RunHandle, graph: Any, cfg: Any, reason: str) -> None:
        if reason == "lost":
            logger.warning("Run %s stopped: another executor holds it now", handle.claim.run_id)
            return
        with contextlib.suppress(Exception):
            await handle.recorder.flush()
        snapshot = await self._latest_values(graph, cfg)
        if reason == "cancelled":
            logger.info("Run %s cancelled", handle.claim.run_id)
            await self._finish(handle, RunStatus.CANCELLED, snapshot=snapshot, error="Cancelled on request.")
        else:
            # Shutting down: give the run back to the queue; the next executor continues it
            # from its last checkpoint.
            logger.info("Run %s released back to the queue", handle.claim.run_id)
            await asyncio.to_thread(self.store.release, handle.claim, snapshot=snapshot)

    async def _after_failure(self, handle: RunHandle, graph: Any, cfg: Any, exc: Exception) -> None:
        with contextlib.suppress(Exception):
            await handle.recorder.flush()
        snapshot = await self._latest_values(graph, cfg)
        message = str(exc) if isinstance(exc, OrchestratorError) else format_error(exc)
        await self._finish(handle, RunStatus.FAILED, snapshot=snapshot, error=message)

    async def _requeue_after_outage(self, handle: RunHandle) -> None:
        """Queue a run cut off by an outage again as soon as the database answers (bounded)."""
        deadline = time.monotonic() + REQUEUE_PATIENCE_SECONDS
        delay = 0.25
        while True:
            try:
                with contextlib.suppress(ClaimLost):
                    await handle.recorder.flush()
                status = await asyncio.to_thread(
                    self.store.release, handle.claim, reason=OUTAGE_REASON, auto_retry=True
                )
                if status is not None:
                    logger.warning("Run %s: %s", handle.claim.run_id, OUTAGE_REASON if status == "queued" else status)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    logger.error(
                        "Run %s could not be queued again (%s); it will be marked interrupted",
                        handle.claim.run_id,
                        type(exc).__name__,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _latest_values(self, graph: Any, cfg: Any) -> Any:
        if graph is None or cfg is None:
            return None
        try:
            return to_jsonable((await graph.aget_state(cfg)).values)
        except Exception as exc:
            logger.warning("Could not read the latest state of a stopped run (%s: %s)", type(exc).__name__, exc)
            return None

    async def _finish(
        self, handle: RunHandle, status: RunStatus, *, snapshot: Any = None, error: str | None = None
    ) -> None:
        done = await asyncio.to_thread(self.store.finish, handle.claim, status, snapshot=snapshot, error=error)
        if not done:
            logger.warning(
                "Run %s was taken over before it could be marked %s; left as the new holder says",
                handle.claim.run_id,
                status,
            )


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


async def _shielded(work: Coroutine[Any, Any, None] | Awaitable[None]) -> None:
    """Run `work` to its end even if the calling task is cancelled again meanwhile."""
    inner = asyncio.ensure_future(work)
    while not inner.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(inner)
    inner.result()

