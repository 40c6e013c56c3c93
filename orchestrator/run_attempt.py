"""One attempt of one run on an executor: from its claim to its end.

It builds the run's graph on the executor's saver, fenced (orchestrator.fenced_saver) by its
claim, streams it, records its task events, and writes how the attempt ended: the run succeeded,
failed or waits for an answer; was cancelled; went back to the queue (shutdown, an outage beyond
the stale window); or was lost to another executor (nothing written then). It writes only
through its `FencedRun`: it holds no other write of a run.

The executor (orchestrator.executor) claims runs, keeps their heartbeat, and stops an attempt
with a `StopReason`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from orchestrator.claims import Claim, ClaimLost, ClaimStore
from orchestrator.errors import OrchestratorError
from orchestrator.fenced_saver import FencedSaver
from orchestrator.graph_run import (
    checkpoint_truth,
    format_error,
    graph_config,
    limit_concurrency,
    resume_answer,
    shielded,
)
from orchestrator.observe import capture
from orchestrator.observe.model_calls import ModelCallRecorder, with_recorder
from orchestrator.observe.redact import Redactor
from orchestrator.outage import (
    MAX_BACKOFF_SECONDS,
    OUTAGE_REASON,
    REQUEUE_PATIENCE_SECONDS,
    WriteGate,
    is_transient,
)
from orchestrator.rows import RunRow
from orchestrator.run_metrics import close_metrics, open_metrics
from orchestrator.snapshots import to_jsonable
from orchestrator.status import CANCELLED_ON_REQUEST, RunStatus
from orchestrator.task_recorder import FLUSH_SECONDS, TaskRecorder
from orchestrator.workflows import WorkflowRegistry, WorkflowSpec
from orchestrator.workflows.limits import release_run, slot_event, watch_run

logger = logging.getLogger("orchestrator.executor")
# A stop not begun this long after it was asked is asked again (RunAttempt.stop).
STOP_ASKED_AGAIN_SECONDS = 2.0


class StopReason(StrEnum):
    """Why an attempt was stopped before its graph ended."""

    CANCELLED = "cancelled"  # a person asked
    RELEASED = "released"  # the executor shuts down: back to the queue
    LOST = "lost"  # another executor holds the run now: write nothing
    OUTAGE = "outage"  # the database was away longer than the stale window: back to the queue


class RunAttempt:
    """One claimed run on an executor (see the module docstring)."""

    def __init__(
        self,
        row: RunRow,
        claims: ClaimStore,
        *,
        saver: BaseCheckpointSaver[Any],
        gate: WriteGate,
        registry: WorkflowRegistry,
        trust_seconds: float,
        log_level: int | None = logging.INFO,
        log_lines_per_task: int = 1000,
        log_count_level: int = logging.WARNING,
        model_prices: Mapping[str, Mapping[str, float]] | None = None,
        redact_keys: Sequence[str] | None = None,
    ):
        self.row = row
        self.claim = Claim(row["run_id"], row["attempt"])
        self.claims = claims
        # Every write of the run goes through the fence.
        self.run = claims.fenced(self.claim, Redactor(redact_keys) if redact_keys is not None else None)
        # What its tasks log and the model calls they make (orchestrator.observe), written with
        # the task events.
        self.observations = capture.RunObservations(
            self.run_id,
            level=logging.CRITICAL + 1 if log_level is None else log_level,
            lines_per_task=log_lines_per_task,
            count_level=log_count_level,
        )
        self.catch_logs = log_level is not None
        self.model_prices = model_prices or {}
        self.recorder = TaskRecorder(self.run, self.observations)
        self.saver, self.gate, self.registry = saver, gate, registry
        # A claim confirmed within one heartbeat cannot have been taken over: another executor
        # only takes a run whose heartbeat is stale_after_seconds old (several heartbeats). A
        # longer gap (a paused process, a cut-off network) is checked with the database.
        self.trust_seconds = trust_seconds
        self.task: asyncio.Task[None] | None = None
        self.stop_reason: StopReason | None = None
        self._stop_asked_at = 0.0
        # Once the attempt is writing its end, a heartbeat that no longer finds it running is expected.
        self.ending = False
        # When the claim was last confirmed by the database (monotonic clock), and the check of it
        # in flight, which every write waiting on it shares.
        self.confirmed_at = time.monotonic()
        self._checking: asyncio.Future[None] | None = None

    @property
    def run_id(self) -> str:
        return self.claim.run_id

    def stop(self, reason: StopReason) -> None:
        """Cancel the attempt's task, for the first reason given. Asked again (the heartbeat asks
        each time it finds the run still to stop) while its clean-up has not begun: CPython
        3.11's `asyncio.wait_for`, which LangGraph's runner awaits between steps, drops a cancel
        that comes in the same turn as what it waits for. Once the clean-up began (`ending`),
        never again: it must not be interrupted."""
        if self.ending or self.task is None or self.task.done():
            return
        if self.stop_reason is None:
            self.stop_reason, self._stop_asked_at = reason, time.monotonic()
        elif time.monotonic() - self._stop_asked_at < STOP_ASKED_AGAIN_SECONDS:
            return  # its clean-up may just be under way
        else:
            logger.warning("Run %s had not stopped (%s); asked again", self.run_id, self.stop_reason)
            self._stop_asked_at = time.monotonic()
        self.task.cancel()

    def confirmed(self, asked: float) -> None:
        """The database confirmed the claim by a heartbeat sent at `asked` (monotonic)."""
        self.confirmed_at = max(self.confirmed_at, asked)

    # -- the claim, before each checkpoint write ------------------------------------------------

    async def guard(self) -> None:
        """Raise ClaimLost unless the claim still holds (checked before each checkpoint write; a
        claim confirmed recently enough is trusted without a query).

        The writes that find the trust lapsed at the same time (the tasks of one step finish
        together) wait on one check instead of each asking the database: each still writes
        only after a check that started after its trust lapsed has confirmed the claim."""
        if time.monotonic() - self.confirmed_at < self.trust_seconds:
            return
        check = self._checking
        if check is None or check.done():
            check = self._checking = asyncio.ensure_future(self._confirm())
            # Retrieved here too, so a check whose every waiter was cancelled logs nothing.
            check.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: a write cancelled while it waits does not cancel the others' check.
        await asyncio.shield(check)

    async def _confirm(self) -> None:
        asked = time.monotonic()
        if not await asyncio.to_thread(self.claims.holds, self.claim):
            raise ClaimLost(f"Run {self.run_id} is no longer held by attempt {self.claim.attempt}.")
        self.confirmed(asked)

    # -- the attempt ----------------------------------------------------------------------------

    async def execute(self) -> None:
        graph: Any = None
        cfg: RunnableConfig | None = None
        flusher: asyncio.Task[None] | None = None
        try:
            spec = self.registry.get(self.row["workflow"])
            saver = FencedSaver(
                self.saver,
                self.guard,
                gate=self.gate,
                on_writes_saved=self.recorder.writes_saved,
                on_checkpoint_saved=self.recorder.checkpoint_saved,
            )
            watch_run(self.run_id, self.gate)
            open_metrics(self.run_id, self.recorder)  # record_metric in its nodes: through the fence
            if self.catch_logs:
                capture.install(self.observations.level)
                capture.watch(self.observations)
            cfg, max_concurrency = graph_config(self.run_id, spec, self.row["input"], self.row["config"])
            cfg = with_recorder(cfg, ModelCallRecorder(self.observations, self.model_prices))
            builder = spec.build()
            if max_concurrency is not None:
                builder = limit_concurrency(builder, max_concurrency)
            graph = builder.compile(checkpointer=saver)
            graph_input = await self._graph_input(spec, graph, cfg)
            flusher = asyncio.create_task(self._flush_loop())
            # durability="sync": each step's checkpoint is saved before the next step starts. With
            # "async" a crash can keep task writes whose checkpoint was never saved, and the
            # resumed run would execute that whole step again.
            stream = graph.astream(
                graph_input,
                cfg,
                context=spec.context(self.row["config"]),
                stream_mode=["tasks", "custom", "checkpoints"],
                durability="sync",
            )
            async for mode, chunk in stream:
                if mode == "tasks":
                    self.recorder.add(chunk)
                elif mode == "checkpoints":
                    # Tasks that start after the checkpoint of step N belong to step N + 1.
                    self.recorder.step = int((chunk.get("metadata") or {}).get("step", -1)) + 1
                elif (event := slot_event(chunk)) is not None:
                    self.recorder.add_slot_event(*event)
                if self.recorder.full:
                    await self.recorder.flush()
            flusher.cancel()
            self.recorder.release_ended()  # the graph is done: every write it made is saved
            await self.recorder.flush()
            state = await graph.aget_state(cfg)
            self.ending = True
            if state.interrupts:
                pending = [{"id": i.id, "value": to_jsonable(i.value)} for i in state.interrupts]
                snapshot = {**to_jsonable(state.values), "__interrupt__": pending}
                await self._finish(RunStatus.AWAITING_INPUT, snapshot=snapshot)
            else:
                await self._finish(RunStatus.SUCCEEDED, snapshot=to_jsonable(state.values))
        except asyncio.CancelledError:
            self.ending = True
            await shielded(self._after_stop(graph, cfg, self.stop_reason or StopReason.RELEASED))
        except ClaimLost:
            self._say_lost()
        except Exception as exc:
            self.ending = True
            if is_transient(exc):
                logger.warning("Run %s was cut off from the database (%s)", self.run_id, type(exc).__name__)
                await shielded(self._requeue_after_outage())
            else:
                logger.info("Run %s failed: %s", self.run_id, exc)
                await shielded(self._after_failure(graph, cfg, exc))
        finally:
            if flusher is not None:
                flusher.cancel()
            release_run(self.run_id)
            close_metrics(self.run_id)
            capture.unwatch(self.observations)

    def _say_lost(self) -> None:
        logger.warning(
            "Run %s is no longer held by this executor (attempt %d); stopped it without writing",
            self.run_id,
            self.claim.attempt,
        )

    async def _flush_loop(self) -> None:
        """Write the run's task events at least every FLUSH_SECONDS, so the page sees them and
        a crash loses at most that much (the checkpoints say the rest on resume)."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            began = time.monotonic()
            try:
                if await self.recorder.flush():
                    self.gate.succeeded(began)
            except ClaimLost:
                self.stop(StopReason.LOST)
                return
            except Exception as exc:
                if is_transient(exc):
                    self.gate.failed()
                else:
                    logger.exception("Recording task events of run %s failed", self.run_id)

    async def _graph_input(self, spec: WorkflowSpec, graph: Any, cfg: RunnableConfig) -> Any:
        """Fresh input, the answer to a pending interrupt, or None to continue from the checkpoint."""
        checkpoint = await self.saver.aget_tuple({"configurable": {"thread_id": self.run_id}})
        if checkpoint is None:
            return spec.initial_state(self.row["input"] or {})
        # Resumed: first make the task rows say what the checkpoints say really ran.
        truth = await checkpoint_truth(self.saver, graph, cfg)
        await asyncio.to_thread(self.run.reconcile_tasks, truth)
        if self.row["resume_value"] is not None:
            state = await graph.aget_state(cfg)
            answer = resume_answer(self.row["resume_value"].get("resume"), [i.id for i in state.interrupts])
            if answer:
                return Command(resume=answer)
        return None

    async def _after_stop(self, graph: Any, cfg: Any, reason: StopReason) -> None:
        if reason == StopReason.OUTAGE:
            logger.warning("Run %s was cut off from the database for too long", self.run_id)
            await self._requeue_after_outage()
            return
        if reason == StopReason.LOST:
            self._say_lost()
            return
        if reason == StopReason.CANCELLED:
            self.recorder.release_ended()  # the run ends here: its tasks' ends are what they were
        with contextlib.suppress(Exception):
            await self.recorder.flush()
        snapshot = await self._latest_values(graph, cfg)
        if reason == StopReason.CANCELLED:
            logger.info("Run %s cancelled", self.run_id)
            await self._finish(RunStatus.CANCELLED, snapshot=snapshot, error=CANCELLED_ON_REQUEST)
        else:
            # Shutting down: give the run back to the queue; the next executor continues it
            # from its last checkpoint.
            logger.info("Run %s released back to the queue", self.run_id)
            await asyncio.to_thread(self.run.release, snapshot=snapshot)

    async def _after_failure(self, graph: Any, cfg: Any, exc: Exception) -> None:
        self.recorder.release_ended()  # the graph raised: the run ends with its tasks as they ended
        with contextlib.suppress(Exception):
            await self.recorder.flush()
        snapshot = await self._latest_values(graph, cfg)
        message = str(exc) if isinstance(exc, OrchestratorError) else format_error(exc)
        await self._finish(RunStatus.FAILED, snapshot=snapshot, error=message)

    async def _requeue_after_outage(self) -> None:
        """Queue a run cut off by an outage again as soon as the database answers (bounded)."""
        deadline = time.monotonic() + REQUEUE_PATIENCE_SECONDS
        delay = 0.25
        while True:
            try:
                with contextlib.suppress(ClaimLost):
                    await self.recorder.flush()
                status = await asyncio.to_thread(self.run.release, reason=OUTAGE_REASON, auto_retry=True)
                if status is not None:
                    logger.warning(
                        "Run %s: %s", self.run_id, OUTAGE_REASON if status == RunStatus.QUEUED else status
                    )
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    logger.error(
                        "Run %s could not be queued again (%s); it will be marked interrupted",
                        self.run_id,
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

    async def _finish(self, status: RunStatus, *, snapshot: Any = None, error: str | None = None) -> None:
        if not await asyncio.to_thread(self.run.finish, status, snapshot=snapshot, error=error):
            logger.warning(
                "Run %s was taken over before it could be marked %s; left as the new holder says",
                self.run_id,
                status,
            )
