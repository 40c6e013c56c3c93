"""The checkpoint writes' fence and the write gate, on both backends, against the real savers:

- `FencedSaver` writes a checkpoint or a task's writes only after its guard passed, and writes
  nothing when the guard says the claim is lost (both `aput` and `aput_writes`);
- it tells the run's recorder what was saved, and the recorder writes a task's end only then;
- `WriteGate.saved_since` returns once a write that began after the moment succeeded, asks the
  database itself when none comes, and waits while the database does not answer; a write waiting
  out its backoff tries again as soon as another write got through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from orchestrator.checkpointer import open_checkpointer
from orchestrator.claims import Claim, ClaimLost, ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.fenced_saver import FencedSaver
from orchestrator.outage import WriteGate
from orchestrator.runs import RunStore
from orchestrator.task_recorder import TaskRecorder
from tests.helpers import closed_port
from tests.test_store import full_row


@pytest.fixture
def unreachable() -> Iterator[RunStore]:
    """A run store on a PostgreSQL address where nothing listens: each round trip fails at once,
    as when the database is away."""
    away = make_engine(
        OrchestratorConfig(
            checkpoint_mode="postgres",
            postgres_uri=f"postgresql://postgres@127.0.0.1:{closed_port()}/x",
            env_file=None,
        )
    )
    yield RunStore(away)
    away.dispose()


def thread(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}


async def _put_one(saver: Any, run_id: str) -> dict[str, Any]:
    checkpoint = empty_checkpoint()
    return await saver.aput(thread(run_id), checkpoint, {"source": "input", "step": -1}, {})


def test_a_lost_claim_writes_no_checkpoint_and_no_task_write(config: OrchestratorConfig, engine: Any) -> None:
    saved: list[str] = []

    async def scenario() -> None:
        async with open_checkpointer(config, engine=engine) as real:
            held = True

            async def guard() -> None:
                if not held:
                    raise ClaimLost("Run r1 is no longer held by attempt 1.")

            fenced = FencedSaver(
                real,
                guard,
                on_writes_saved=saved.append,
                on_checkpoint_saved=lambda: saved.append("checkpoint"),
            )
            first = await fenced.aput(thread("r1"), empty_checkpoint(), {"source": "input", "step": -1}, {})
            await fenced.aput_writes(first, [("results", [1])], "task-a")
            held = False
            with pytest.raises(ClaimLost):
                await fenced.aput(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
            with pytest.raises(ClaimLost):
                await fenced.aput_writes(first, [("results", [2])], "task-b")
            # What the real saver holds: the first checkpoint and task-a's write, nothing after.
            tuples = [t async for t in real.alist(thread("r1"))]
            assert len(tuples) == 1
            assert [(task, channel) for task, channel, _ in tuples[0].pending_writes or []] == [
                ("task-a", "results")
            ]

    asyncio.run(scenario())
    assert saved == ["checkpoint", "task-a"]


def test_a_tasks_end_is_recorded_once_its_result_is_saved(engine: Any) -> None:
    store, claims = RunStore(engine), ClaimStore(engine)
    store.insert_many([full_row("r1")])
    (row,) = claims.claim_queued("w1", 1, run_id="r1")
    recorder = TaskRecorder(claims.fenced(Claim("r1", row["attempt"])))

    def statuses() -> dict[str, str]:
        return {t["task_id"]: t["status"] for t in store.get_tasks("r1")}

    async def scenario() -> None:
        for task in ("a", "b", "c"):
            recorder.add({"id": task, "name": "work", "triggers": ["x"]})
        recorder.add({"id": "a", "name": "work", "result": {}})
        recorder.add({"id": "b", "name": "work", "result": {}})
        await recorder.flush()
        assert statuses() == {"a": "running", "b": "running", "c": "running"}  # ended, nothing saved
        recorder.writes_saved("a")
        await recorder.flush()
        assert statuses() == {"a": "succeeded", "b": "running", "c": "running"}
        recorder.writes_saved("c")  # saved before its end event came: recorded at once with it
        recorder.add({"id": "c", "name": "work", "result": {}})
        recorder.checkpoint_saved()  # b wrote nothing: its step's checkpoint says it ended
        await recorder.flush()
        assert statuses() == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}

    asyncio.run(scenario())


def test_the_gate_waits_for_a_write_after_the_moment_and_asks_the_database_itself(engine: Any) -> None:
    store = RunStore(engine)
    pings: list[float] = []

    async def ping() -> None:
        pings.append(time.monotonic())
        await asyncio.to_thread(store.ping)

    async def scenario() -> None:
        gate = WriteGate(30, ping)
        before = time.monotonic()
        gate.succeeded(before)
        await gate.saved_since(before)  # a write that began then: at once, no ping
        assert pings == []
        moment = time.monotonic()
        waiting = asyncio.ensure_future(gate.saved_since(moment))
        await asyncio.sleep(0)
        gate.succeeded(time.monotonic())  # the task before it wrote its result
        await waiting
        assert pings == []
        await gate.saved_since(time.monotonic())  # no write comes: it asks the database
        assert len(pings) == 1

    asyncio.run(scenario())


def test_the_gate_holds_work_while_the_database_is_away(unreachable: RunStore) -> None:
    """A database that does not answer (nothing listens on its port): the gate shuts on the first
    probe and a task waits; once a write succeeds, it goes on."""
    attempts: list[float] = []

    async def ping() -> None:
        attempts.append(time.monotonic())
        await asyncio.to_thread(unreachable.ping)

    async def scenario() -> None:
        gate = WriteGate(30, ping)
        waiting = asyncio.ensure_future(gate.saved_since(time.monotonic()))
        await asyncio.sleep(1.5)
        assert not waiting.done() and not gate.is_open and len(attempts) >= 2  # it asked, and again
        gate.succeeded(time.monotonic())  # the database saved a write again (a heartbeat, say)
        await asyncio.wait_for(waiting, 5)
        assert gate.is_open

    asyncio.run(scenario())


def test_a_write_waiting_out_its_backoff_goes_on_once_another_write_gets_through(
    config: OrchestratorConfig, engine: Any, unreachable: RunStore
) -> None:
    """The database is away for a checkpoint write (its claim check finds nothing listening on the
    port): the write fails three times and waits out a backoff of 2 s. Then the database answers
    again and another write of the executor (a heartbeat, another run's step) succeeds: the
    waiting write tries again at once, not when its backoff ends, and is saved."""
    attempts: list[float] = []

    async def scenario() -> None:
        async with open_checkpointer(config, engine=engine) as real:
            gate = WriteGate(30)

            async def guard() -> None:
                attempts.append(time.monotonic())
                if len(attempts) <= 3:
                    await asyncio.to_thread(unreachable.ping)  # raises: nothing listens there

            fenced = FencedSaver(real, guard, gate=gate)
            writing = asyncio.ensure_future(_put_one(fenced, "r1"))
            while len(attempts) < 3 or gate.is_open:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # into the backoff after the third failure: 2 s
            assert not writing.done() and len(attempts) == 3
            back = time.monotonic()
            gate.succeeded(back)  # another write was saved: the database answers
            await asyncio.wait_for(writing, 1.0)  # well before the backoff's end, 1.9 s from here
            assert len(attempts) == 4 and attempts[3] - back < 1.0
            assert [t async for t in real.alist(thread("r1"))], "the checkpoint is saved"

    asyncio.run(scenario())
