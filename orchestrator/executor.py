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
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command
from sqlalchemy import Engine

from orchestrator import rollup
from orchestrator.checkpointer import open_checkpointer
from orchestrator.claims import Claim, ClaimLost, ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.errors import OrchestratorError, ReadOnlyError
from orchestrator.execution import (
    FLUSH_SECONDS,
    TaskRecorder,
    checkpoint_truth,
    format_error,
    graph_config,
    limit_concurrency,
    resume_answer,
    shielded,
)
from orchestrator.fenced_saver import FencedSaver
from orchestrator.outage import (
    MAX_BACKOFF_SECONDS,
    OUTAGE_REASON,
    REQUEUE_PATIENCE_SECONDS,
    Outage,
    WriteGate,
    is_transient,
)
from orchestrator.rows import RunRow
from orchestrator.snapshots import to_jsonable
from orchestrator.status import RunStatus
from orchestrator.workers import WorkerStore
from orchestrator.workflows import WorkflowRegistry, WorkflowSpec, load_registry
from orchestrator.workflows.limits import release_run, slot_event, watch_run

logger = logging.getLogger("orchestrator.executor")
# How often a serving executor folds the overview's rollup deltas (orchestrator.rollup).
ROLLUP_FOLD_SECONDS = 10.0


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class RunHandle:
    """One run this executor holds."""

    claim: Claim
    row: RunRow
    recorder: TaskRecorder
    task: asyncio.Task[None] | None = None
    # Why the run's task was cancelled: "cancelled" (asked to), "released" (shutdown), "lost", or
    # "outage" (the database was away longer than the stale window).
    stop_reason: str | None = None
    # Once the run is writing its end, a heartbeat that no longer finds it running is expected.
    ending: bool = False
    # When the claim was last confirmed by the database (monotonic clock).
    confirmed_at: float = field(default_factory=time.monotonic)
    # The database check of the claim in flight, which every write waiting on it shares.
    checking: asyncio.Future[None] | None = None


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
        # Shut while the database cannot save what this executor's runs would do (made on its loop).
        self.gate: WriteGate | None = None
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
        self.gate = WriteGate(self.config.stale_after_seconds, self._ping)
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
                logger.warning(
                    "Workflow %s cannot be loaded, so this worker runs none of its runs: %s", name, reason
                )
            self._ready.set()
            logger.info("Executor %s serving (concurrency %d)", self.worker, self.concurrency)
            upkeep = asyncio.create_task(self._upkeep())
            folding = asyncio.create_task(self._fold_rollup())
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
                folding.cancel()
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
            began = time.monotonic()
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
                self._database_answers(began)
            except Exception as exc:
                wait = min(wait, outage.failed(exc))
                self._database_answers(None if is_transient(exc) else began)
                if self.gate is not None and not self.gate.patient():
                    # Away longer than the stale window: another executor may take the runs over
                    # when it is back. Stop them; each is queued again once the database answers.
                    for handle in list(self._runs.values()):
                        self._stop_run(handle, "outage")
            await asyncio.sleep(wait)

    def _database_answers(self, began: float | None) -> None:
        """Open the write gate (a write that began at `began` was saved), or shut it (None: a
        write found the database away)."""
        if self.gate is None:
            return
        if began is None:
            self.gate.failed()
        else:
            self.gate.succeeded(began)

    async def _ping(self) -> None:
        """A round trip to the database (the write gate's probe)."""
        await asyncio.to_thread(self.store.ping)

    async def _fold_rollup(self) -> None:
        """Keep the overview's unfolded deltas few (it reads them, folded or not). A loop of its
        own: a fold waiting for SQLite's write lock must never delay a heartbeat."""
        while True:
            await asyncio.sleep(ROLLUP_FOLD_SECONDS)
            with contextlib.suppress(Exception):  # compact logs why; the next fold tries again
                await asyncio.to_thread(rollup.compact, self.store.engine)

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
                self._stop_run(handle, "lost")  # `_after_stop` says so, whoever noticed first

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
        checkpoint write; a claim confirmed recently enough is trusted without a query).

        The writes that find the trust lapsed at the same time (the tasks of one step finish
        together) wait on one check instead of each asking the database: each still writes
        only after a check that started after its trust lapsed has confirmed the claim."""
        if time.monotonic() - handle.confirmed_at < self._trust_seconds:
            return
        check = handle.checking
        if check is None or check.done():
            check = handle.checking = asyncio.ensure_future(self._confirm(handle))
            # Retrieved here too, so a check whose every waiter was cancelled logs nothing.
            check.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: a write cancelled while it waits does not cancel the others' check.
        await asyncio.shield(check)

    async def _confirm(self, handle: RunHandle) -> None:
        asked = time.monotonic()
        if not await asyncio.to_thread(self.store.holds, handle.claim):
            raise ClaimLost(f"Run {handle.claim.run_id} is no longer held by attempt {handle.claim.attempt}.")
        handle.confirmed_at = max(handle.confirmed_at, asked)

    # -- one run ----------------------------------------------------------------------------

    async def execute_claimed(self, row: RunRow) -> None:
        """Execute a run this caller has claimed already (`run --wait` uses this)."""
        async with open_checkpointer(self.config, max_connections=2, engine=self.engine) as saver:
            self._saver = saver
            self._loop = asyncio.get_running_loop()
            self.gate = WriteGate(self.config.stale_after_seconds, self._ping)
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
            assert self._saver is not None and self.gate is not None
            spec = self.registry.get(handle.row["workflow"])
            saver = FencedSaver(
                self._saver,
                partial(self._guard, handle),
                gate=self.gate,
                on_writes_saved=handle.recorder.writes_saved,
                on_checkpoint_saved=handle.recorder.checkpoint_saved,
            )
            watch_run(run_id, self.gate)
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
                elif (event := slot_event(chunk)) is not None:
                    handle.recorder.add_slot_event(*event)
                if handle.recorder.full:
                    await handle.recorder.flush()
            flusher.cancel()
            handle.recorder.release_ended()  # the graph is done: every write it made is saved
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
            await shielded(self._after_stop(handle, graph, cfg, reason))
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
                await shielded(self._requeue_after_outage(handle))
            else:
                logger.info("Run %s failed: %s", run_id, exc)
                await shielded(self._after_failure(handle, graph, cfg, exc))
        finally:
            if flusher is not None:
                flusher.cancel()
            release_run(run_id)

    async def _flush_loop(self, handle: RunHandle) -> None:
        """Write the run's task events at least every FLUSH_SECONDS, so the page sees them and
        a crash loses at most that much (the checkpoints say the rest on resume)."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            began = time.monotonic()
            try:
                if await handle.recorder.flush():
                    self._database_answers(began)
            except ClaimLost:
                self._stop_run(handle, "lost")
                return
            except Exception as exc:
                if is_transient(exc):
                    self._database_answers(None)
                else:
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
        truth = await checkpoint_truth(self._saver, graph, cfg)
        await asyncio.to_thread(self.store.reconcile_tasks, handle.claim, truth)
        if row["resume_value"] is not None:
            state = await graph.aget_state(cfg)
            answer = resume_answer(row["resume_value"].get("resume"), [i.id for i in state.interrupts])
            if answer:
                return Command(resume=answer)
        return None

    async def _after_stop(self, handle: RunHandle, graph: Any, cfg: Any, reason: str) -> None:
        if reason == "outage":
            logger.warning("Run %s was cut off from the database for too long", handle.claim.run_id)
            await self._requeue_after_outage(handle)
            return
        if reason == "lost":
            logger.warning(
                "Run %s is no longer held by this executor (attempt %d); stopped it without writing",
                handle.claim.run_id,
                handle.claim.attempt,
            )
            return
        if reason == "cancelled":
            handle.recorder.release_ended()  # the run ends here: its tasks' ends are what they were
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
        handle.recorder.release_ended()  # the graph raised: the run ends with its tasks as they ended
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
                    logger.warning(
                        "Run %s: %s", handle.claim.run_id, OUTAGE_REASON if status == "queued" else status
                    )
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
            logger.warning(
                "Could not read the latest state of a stopped run (%s: %s)", type(exc).__name__, exc
            )
            return None

    async def _finish(
        self, handle: RunHandle, status: RunStatus, *, snapshot: Any = None, error: str | None = None
    ) -> None:
        done = await asyncio.to_thread(
            self.store.finish, handle.claim, status, snapshot=snapshot, error=error
        )
        if not done:
            logger.warning(
                "Run %s was taken over before it could be marked %s; left as the new holder says",
                handle.claim.run_id,
                status,
            )
