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
from functools import partial
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import Engine

from orchestrator import rollup
from orchestrator.checkpointer import open_checkpointer
from orchestrator.claims import ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.errors import ReadOnlyError
from orchestrator.observe.retention import prune_observations
from orchestrator.observe.traces import RunTracer, run_tracer
from orchestrator.outage import Outage, WriteGate, is_transient
from orchestrator.rows import RunRow
from orchestrator.run_attempt import STOP_ASKED_AGAIN_SECONDS, RunAttempt, StopReason
from orchestrator.workers import WorkerStore
from orchestrator.workflows import WorkflowRegistry, load_registry

logger = logging.getLogger("orchestrator.executor")
# How often a serving executor folds the overview's rollup deltas (orchestrator.rollup).
ROLLUP_FOLD_SECONDS = 10.0
# Retention (ORCHESTRATOR_LOG_RETENTION_DAYS): a first cut a minute after start, then hourly.
PRUNE_FIRST_SECONDS = 60.0
PRUNE_SECONDS = 3600.0
# When the process ends (Ctrl-C on the dashboard), runs still going get this long to finish.
EXIT_GRACE_SECONDS = 2.0


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        self._saver: BaseCheckpointSaver[Any] | None = None
        self._runs: dict[str, RunAttempt] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        # Set when a run ends: a slot is free, so the claim loop looks at the queue at once rather
        # than at its next poll (made on the loop, in `serve`).
        self._slot_freed: asyncio.Event | None = None
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
        # Stop before the interpreter shuts its thread pools down (a dashboard stopped with Ctrl-C):
        # these hooks run last-registered first, so before concurrent.futures' own, and the loop
        # never meets "cannot schedule new futures after interpreter shutdown".
        threading._register_atexit(self._stop_at_exit)  # type: ignore[attr-defined]
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

    def _stop_at_exit(self) -> None:
        """The process is ending: stop quickly; runs still going are released, to resume later."""
        self.stop(grace=EXIT_GRACE_SECONDS)

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
        self._slot_freed = asyncio.Event()
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
            pruning = asyncio.create_task(self._prune_observations())
            outage = Outage("claim loop")
            try:
                while not self._stop.is_set():
                    self._slot_freed.clear()
                    try:
                        await self._claim_and_start()
                        outage.recovered()
                    except Exception as exc:
                        # The outage's backoff: a run ending meanwhile does not cut it short.
                        with contextlib.suppress(TimeoutError):  # not wait_for: see WriteGate
                            async with asyncio.timeout(outage.failed(exc)):
                                await self._stop.wait()
                        continue
                    await self._next_poll()
            finally:
                upkeep.cancel()
                folding.cancel()
                pruning.cancel()
                await self._drain(self._grace)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.workers.stopped, self.worker)
        logger.info("Executor %s stopped", self.worker)

    async def _next_poll(self) -> None:
        """Wait `poll_seconds`, or less: until a run ends (its slot is free) or `stop` is set."""
        assert self._stop is not None and self._slot_freed is not None
        waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._slot_freed.wait())]
        try:
            await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

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
        assert self._saver is not None and self.gate is not None
        logger.info("Claimed run %s (%s), attempt %d", row["run_id"], row["workflow"], row["attempt"])
        attempt = RunAttempt(
            row,
            self.store,
            saver=self._saver,
            gate=self.gate,
            registry=self.registry,
            trust_seconds=self.config.heartbeat_seconds,
            log_level=self.config.log_level_number,
            log_lines_per_task=self.config.log_lines_per_task,
            log_count_level=logging.getLevelNamesMapping()[self.config.log_count_level],
            model_prices=self.config.model_prices,
            redact_keys=self.config.redact_keys,
        )
        task = asyncio.create_task(self._execute(attempt), name=f"run-{attempt.run_id}")
        attempt.task = task
        self._runs[attempt.run_id] = attempt
        task.add_done_callback(partial(self._forget, attempt.run_id))
        return task

    async def _execute(self, attempt: RunAttempt) -> None:
        """The attempt; then, when OpenTelemetry's variables ask for it, its spans, sent from a
        thread once it ended, never on its tasks' way (orchestrator.observe.traces; asyncio.run
        waits for that thread before it returns, so `run --wait` sends them too)."""
        try:
            await attempt.execute()
        finally:
            tracer = run_tracer()
            if tracer is not None:
                asyncio.get_running_loop().run_in_executor(
                    None, self._send_traces, tracer, attempt.run_id, attempt.claim.attempt
                )

    def _send_traces(self, tracer: RunTracer, run_id: str, attempt: int) -> None:
        try:
            tracer.export_attempt(self.engine, run_id, attempt)
        except Exception:  # a tracing backend away never fails a run
            logger.warning("Could not send the traces of run %s", run_id, exc_info=True)

    def _forget(self, run_id: str, _task: asyncio.Task[None]) -> None:
        self._runs.pop(run_id, None)
        if self._slot_freed is not None:
            self._slot_freed.set()

    async def _drain(self, grace: float) -> None:
        if not self._runs:
            return
        logger.info("Waiting up to %.0f s for %d running runs", grace, len(self._runs))
        tasks = [a.task for a in self._runs.values() if a.task is not None]
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        while pending:  # asked again until each stops (RunAttempt.stop: a cancel can be dropped)
            for attempt in list(self._runs.values()):
                if attempt.task in pending:
                    attempt.stop(StopReason.RELEASED)
            _done, pending = await asyncio.wait(pending, timeout=STOP_ASKED_AGAIN_SECONDS)

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
                    for attempt in list(self._runs.values()):
                        attempt.stop(StopReason.OUTAGE)
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

    async def _prune_observations(self) -> None:
        """Retention (ORCHESTRATOR_LOG_RETENTION_DAYS): cut old runs' logs and model calls once
        soon after start, then every PRUNE_SECONDS; a loop of its own, as the fold's."""
        days = self.config.log_retention_days
        if days is None:
            return
        await asyncio.sleep(PRUNE_FIRST_SECONDS)
        while True:
            try:
                pruned = await asyncio.to_thread(prune_observations, self.store.engine, days)
                if pruned.runs:
                    logger.info("Retention cut the logs and model calls of %d runs (%s)", pruned.runs, pruned)
            except Exception:  # the next round tries again
                logger.warning("Retention could not cut old logs this time", exc_info=True)
            await asyncio.sleep(PRUNE_SECONDS)

    async def _heartbeat(self) -> None:
        attempts = list(self._runs.values())
        if not attempts:
            return
        asked = time.monotonic()
        held, cancel = await asyncio.to_thread(self.store.heartbeat, [a.claim for a in attempts])
        for attempt in attempts:
            if attempt.run_id in held:
                attempt.confirmed(asked)
                if attempt.run_id in cancel:
                    attempt.stop(StopReason.CANCELLED)
            elif not attempt.ending:
                attempt.stop(StopReason.LOST)  # the attempt says so, whoever noticed first

    def cancel_local(self, run_id: str) -> None:
        """Cancel a run this executor holds (called on the executor's loop)."""
        attempt = self._runs.get(run_id)
        if attempt is not None:
            attempt.stop(StopReason.CANCELLED)

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
