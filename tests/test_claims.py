"""The executor's writes on both backends: claims with attempt numbers, fenced heartbeats, task
events, checkpoint reconciliation, stale runs by the database's clock, finishing and releasing.

Every expected value is written out by hand from the events the test feeds in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from orchestrator.claims import MAX_AUTO_RETRIES, Claim, ClaimLost, ClaimStore, TaskEvent, TaskTruth
from orchestrator.db import runs, utcnow
from orchestrator.db.engines import IDLE_IN_TRANSACTION_SECONDS
from orchestrator.outage import WriteGate
from orchestrator.run_attempt import RunAttempt
from orchestrator.runs import RunStore
from orchestrator.workflows import load_registry
from tests.helpers import wait_for
from tests.test_store import T0, assert_utc_equal, full_row


@pytest.fixture
def claims(engine) -> ClaimStore:
    return ClaimStore(engine)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def start(task_id: str, seconds: float, node: str = "work") -> TaskEvent:
    return TaskEvent(task_id=task_id, node=node, at=at(seconds), kind="start")


def work(task_id: str, seconds: float) -> TaskEvent:
    return TaskEvent(task_id=task_id, node="", at=at(seconds), kind="work")


def end(task_id: str, seconds: float, status: str = "succeeded", error: str | None = None) -> TaskEvent:
    return TaskEvent(task_id=task_id, node="", at=at(seconds), kind="end", status=status, error=error)


def counts(store: ClaimStore, run_id: str) -> tuple[int, int, int]:
    run = RunStore(store.engine).get_run(run_id)
    assert run is not None
    return run["tasks_total"], run["tasks_completed"], run["tasks_failed"]


def rows(store: ClaimStore, run_id: str) -> list[tuple[str, int, str]]:
    """(task_id, attempt, status) of every task row, sorted."""
    return sorted((t["task_id"], t["attempt"], t["status"]) for t in RunStore(store.engine).get_tasks(run_id))


def claimed(store: ClaimStore, run_id: str = "r1") -> Claim:
    RunStore(store.engine).insert_many([full_row(run_id)])
    (row,) = store.claim_queued("w1", 1, run_id=run_id)
    return Claim(row["run_id"], row["attempt"])


def requeue_and_claim(store: ClaimStore, run_id: str, worker: str = "w2") -> Claim:
    """What a resume does: the run goes back to the queue and an executor claims it again."""
    RunStore(store.engine).update_run(run_id, status="queued", worker=None)
    (row,) = store.claim_queued(worker, 1, run_id=run_id)
    return Claim(row["run_id"], row["attempt"])


# -- claims -----------------------------------------------------------------------------------


def test_each_claim_takes_the_next_attempt(claims: ClaimStore) -> None:
    first = claimed(claims)
    assert first.attempt == 1
    second = requeue_and_claim(claims, "r1")
    assert second.attempt == 2
    run = RunStore(claims.engine).get_run("r1")
    assert (run["status"], run["worker"], run["attempt"]) == ("running", "w2", 2)


def test_claim_queued_respects_the_limit(claims: ClaimStore) -> None:
    RunStore(claims.engine).insert_many(
        [full_row(f"q{i}", created_at=T0 + dt.timedelta(minutes=i)) for i in range(5)]
    )
    assert [r["run_id"] for r in claims.claim_queued("w1", 1)] == ["q0"]
    assert RunStore(claims.engine).count_by_status()["queued"] == 4
    assert claims.claim_queued("w1", 0) == []


def test_claim_queued_takes_oldest_first_and_never_twice(claims: ClaimStore) -> None:
    ids = [f"q{i}" for i in range(5)]
    # Created out of id order; q3 and q4 share a created_at (the run_id breaks the tie).
    created = {"q0": 30, "q1": 10, "q2": 40, "q3": 20, "q4": 20}
    RunStore(claims.engine).insert_many(
        [full_row(i, created_at=T0 + dt.timedelta(minutes=created[i])) for i in ids]
        + [full_row("busy", status="running", created_at=T0, worker="other")]
    )
    first = claims.claim_queued("w1", 2)
    second = claims.claim_queued("w2", 2)
    third = claims.claim_queued("w3", 10)
    assert sorted(r["run_id"] for r in first) == ["q1", "q3"]
    assert sorted(r["run_id"] for r in second) == ["q0", "q4"]
    assert [r["run_id"] for r in third] == ["q2"]
    assert claims.claim_queued("w4", 10) == []
    for worker, got in (("w1", first), ("w2", second), ("w3", third)):
        for row in got:
            assert (row["status"], row["worker"], row["attempt"]) == ("running", worker, 1)
            assert row["started_at"] is not None and row["heartbeat_at"] is not None
    assert RunStore(claims.engine).get_run("busy")["worker"] == "other"


def test_concurrent_claims_never_hand_out_a_run_twice(claims: ClaimStore) -> None:
    ids = [f"c{i:02d}" for i in range(24)]
    RunStore(claims.engine).insert_many(
        [full_row(i, created_at=T0 + dt.timedelta(seconds=n)) for n, i in enumerate(ids)]
    )
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        try:
            barrier.wait()
            mine: list[str] = []
            while batch := claims.claim_queued(name, 3):
                mine.extend(r["run_id"] for r in batch)
            got[name] = mine
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    everything = [i for mine in got.values() for i in mine]
    assert sorted(everything) == ids  # each exactly once


# -- heartbeats and staleness ------------------------------------------------------------------


def test_heartbeat_is_fenced_by_the_attempt(claims: ClaimStore) -> None:
    old = claimed(claims, "a")
    RunStore(claims.engine).insert_many([full_row("b")])
    (row_b,) = claims.claim_queued("w1", 1, run_id="b")
    b = Claim("b", row_b["attempt"])
    RunStore(claims.engine).update_run("b", cancel_requested=True)
    new = requeue_and_claim(claims, "a")

    held, cancel = claims.heartbeat([old, b])
    assert (held, cancel) == ({"b"}, {"b"})  # the old attempt of "a" holds nothing
    assert claims.heartbeat([new]) == ({"a"}, set())
    assert claims.heartbeat([]) == (set(), set())


def test_writes_whose_trust_lapsed_together_share_one_claim_check(claims: ClaimStore) -> None:
    """A run attempt's guard before checkpoint writes: writes that find the claim's trust lapsed
    at once wait on one database check; a lost claim stops every one of them."""
    asked: list[Claim] = []
    holds = claims.holds

    def counted(claim: Claim) -> bool:
        asked.append(claim)
        return holds(claim)

    claims.holds = counted  # type: ignore[method-assign]
    claim = claimed(claims, "a")
    row = RunStore(claims.engine).get_run("a")
    assert row is not None
    # (The guard needs no saver or graph: they are for the attempt's run, not its claim.)
    attempt = RunAttempt(
        row, claims, saver=None, gate=WriteGate(30), registry=load_registry(), trust_seconds=1.0
    )  # type: ignore[arg-type]
    attempt.confirmed_at = time.monotonic() - 60

    async def writes(n: int) -> list[BaseException | None]:
        return await asyncio.gather(*(attempt.guard() for _ in range(n)), return_exceptions=True)

    assert asyncio.run(writes(8)) == [None] * 8
    assert asked == [claim]
    assert asyncio.run(writes(3)) == [None] * 3  # confirmed now: trusted without a query
    assert asked == [claim]

    requeue_and_claim(claims, "a")  # another executor holds the run now
    attempt.confirmed_at = time.monotonic() - 60
    got = asyncio.run(writes(5))
    assert all(isinstance(e, ClaimLost) for e in got), got
    assert asked == [claim, claim]


def test_heartbeat_of_a_finished_run_holds_nothing(claims: ClaimStore) -> None:
    claim = claimed(claims)
    assert claims.fenced(claim).finish("succeeded", snapshot={"ok": True})
    assert claims.heartbeat([claim]) == (set(), set())
    assert claims.holds(claim) is False


def test_stale_runs_are_judged_by_the_database_clock(claims: ClaimStore) -> None:
    RunStore(claims.engine).insert_many(
        [
            full_row("silent", status="running", worker="w", started_at=T0, attempt=1),
            full_row("alive", status="running", worker="w", started_at=T0, attempt=1),
            full_row("queued-old", status="queued"),
        ]
    )
    alive = Claim("alive", 1)
    # Both heartbeats are written by the database's clock; then "silent" stays silent.
    claims.heartbeat([Claim("silent", 1), alive])
    assert claims.mark_stale_interrupted(3600) == []
    with claims.engine.begin() as conn:
        # An hour ago by the clock the heartbeat was written with.
        old = RunStore(claims.engine).get_run("silent")["heartbeat_at"] - dt.timedelta(hours=1)
        conn.execute(update(runs).where(runs.c.run_id == "silent").values(heartbeat_at=old))
    assert claims.mark_stale_interrupted(30) == ["silent"]
    silent = RunStore(claims.engine).get_run("silent")
    assert silent["status"] == "interrupted"
    assert "30 s" in silent["error"] and "resume" in silent["error"]
    assert RunStore(claims.engine).get_run("alive")["status"] == "running"
    assert RunStore(claims.engine).get_run("queued-old")["status"] == "queued"
    assert claims.mark_stale_interrupted(30) == []
    # The silent run's executor, if it wakes up, holds nothing and can write nothing.
    with pytest.raises(ClaimLost, match="no longer held"):
        claims.fenced(Claim("silent", 1)).record_task_events([start("t", 1)])
    assert RunStore(claims.engine).get_tasks("silent") == []


# The frozen session's own idle-in-transaction timeout (see the test's docstring).
FROZEN_TIMEOUT_SECONDS = 2


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_frozen_executors_open_transaction_neither_stalls_nor_hides_its_run(
    claims: ClaimStore, backend: str
) -> None:
    """An executor frozen (SIGSTOP) in the middle of a write keeps its run's row locked. Others
    skip that row instead of waiting, and the server ends the frozen transaction after
    IDLE_IN_TRANSACTION_SECONDS, so the run is then marked stale like any silent run.

    The engine's sessions carry that timeout (checked first); the frozen session then shortens its
    own to FROZEN_TIMEOUT_SECONDS, so the server ends it after that rather than after ten
    seconds of waiting: the same server-side timeout, only sooner."""
    RunStore(claims.engine).insert_many(
        [full_row("frozen", status="running", worker="w", started_at=T0, attempt=1)]
    )
    with claims.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.run_id == "frozen").values(heartbeat_at=T0))
    frozen = claims.engine.connect()  # the frozen executor's session, with a transaction open
    timeout = frozen.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar_one()
    assert timeout == f"{IDLE_IN_TRANSACTION_SECONDS}s"
    frozen.exec_driver_sql(f"SET idle_in_transaction_session_timeout = '{FROZEN_TIMEOUT_SECONDS}s'")
    frozen.execute(update(runs).where(runs.c.run_id == "frozen").values(worker="w"))
    try:
        asked = time.monotonic()
        assert claims.mark_stale_interrupted(30) == []  # skipped, not waited for
        assert time.monotonic() - asked < FROZEN_TIMEOUT_SECONDS
        assert wait_for(
            lambda: claims.mark_stale_interrupted(30),
            FROZEN_TIMEOUT_SECONDS * 10,
            interval=0.1,
            what="the server to end the frozen transaction",
        ) == ["frozen"]
        assert RunStore(claims.engine).get_run("frozen")["status"] == "interrupted"
    finally:
        with contextlib.suppress(Exception):
            frozen.close()


# -- task events ------------------------------------------------------------------------------


def test_task_start_work_and_end_in_one_batch(claims: ClaimStore) -> None:
    claim = claimed(claims)
    claims.fenced(claim).record_task_events([start("t1", 1, node="plan"), work("t1", 1.25), end("t1", 2.5)])
    (task,) = RunStore(claims.engine).get_tasks("r1")
    assert (task["task_id"], task["node"], task["status"], task["attempt"]) == ("t1", "plan", "succeeded", 1)
    assert_utc_equal(task["started_at"], at(1), "started_at")
    assert_utc_equal(task["work_started_at"], at(1.25), "work_started_at")
    assert_utc_equal(task["finished_at"], at(2.5), "finished_at")
    # The duration is the work (2.5 - 1.25), the wait for a slot apart.
    assert task["work_seconds"] == pytest.approx(1.25, abs=1e-6)
    assert task["wait_seconds"] == pytest.approx(0.25, abs=1e-6)
    assert counts(claims, "r1") == (1, 1, 0)


def test_task_start_in_one_batch_and_end_in_a_later_one(claims: ClaimStore) -> None:
    claim = claimed(claims)
    claims.fenced(claim).record_task_events([start("t1", 1, node="plan"), start("t2", 1.5, node="act")])
    assert counts(claims, "r1") == (2, 0, 0)
    claims.fenced(claim).record_task_events(
        [work("t2", 1.75), end("t1", 3), end("t2", 4, "failed", "boom ✗")]
    )
    tasks = {t["task_id"]: t for t in RunStore(claims.engine).get_tasks("r1")}
    assert (tasks["t1"]["status"], tasks["t1"]["node"], tasks["t1"]["wait_seconds"]) == (
        "succeeded",
        "plan",
        None,
    )
    assert tasks["t1"]["work_seconds"] == pytest.approx(2.0, abs=1e-6)
    assert (tasks["t2"]["status"], tasks["t2"]["error"]) == ("failed", "boom ✗")
    assert tasks["t2"]["work_seconds"] == pytest.approx(2.25, abs=1e-6)
    assert counts(claims, "r1") == (2, 1, 1)


def wait(task_id: str, seconds: float) -> TaskEvent:
    return TaskEvent(task_id=task_id, node="", at=at(seconds), kind="wait")


def test_a_task_waits_for_a_slot_then_works_and_only_its_work_is_its_time(claims: ClaimStore) -> None:
    claim = claimed(claims)
    claims.fenced(claim).record_task_events([start("t1", 1), wait("t1", 1), start("t2", 1), work("t2", 1)])
    statuses = {
        t["task_id"]: (t["status"], t["work_seconds"], t["wait_seconds"])
        for t in RunStore(claims.engine).get_tasks("r1")
    }
    # t1 waits (no work and no wait figure yet); t2 works.
    assert statuses == {"t1": ("waiting", None, None), "t2": ("running", None, pytest.approx(0.0))}
    claims.fenced(claim).record_task_events([end("t2", 3), work("t1", 3)])
    claims.fenced(claim).record_task_events([end("t1", 3.5)])
    tasks = {t["task_id"]: t for t in RunStore(claims.engine).get_tasks("r1")}
    assert tasks["t1"]["status"] == "succeeded"
    assert tasks["t1"]["work_seconds"] == pytest.approx(0.5, abs=1e-6)  # 3.5 - 3: not 2.5
    assert tasks["t1"]["wait_seconds"] == pytest.approx(2.0, abs=1e-6)
    assert tasks["t2"]["work_seconds"] == pytest.approx(2.0, abs=1e-6)


def test_a_late_wait_or_work_event_leaves_an_ended_task_as_it_ended(claims: ClaimStore) -> None:
    claim = claimed(claims)
    claims.fenced(claim).record_task_events([start("t1", 1), end("t1", 2)])
    claims.fenced(claim).record_task_events([wait("t1", 2.5)])
    assert rows(claims, "r1") == [("t1", 1, "succeeded")]


def test_a_run_stopped_while_tasks_wait_cancels_them_and_interrupts_the_working_one(
    claims: ClaimStore,
) -> None:
    claim = claimed(claims)
    events = [start("w", 1), work("w", 1)] + [
        e for n in range(3) for e in (start(f"q{n}", 1), wait(f"q{n}", 1))
    ]
    claims.fenced(claim).record_task_events(events)
    assert counts(claims, "r1") == (4, 0, 0)
    assert claims.fenced(claim).finish("cancelled", error="Cancelled on request.")
    tasks = {t["task_id"]: t for t in RunStore(claims.engine).get_tasks("r1")}
    assert {k: t["status"] for k, t in tasks.items()} == {
        "w": "interrupted",
        "q0": "cancelled",
        "q1": "cancelled",
        "q2": "cancelled",
    }
    # Never started: no work time, their whole life a wait.
    assert [tasks[f"q{n}"]["work_seconds"] for n in range(3)] == [None, None, None]
    assert all(tasks[f"q{n}"]["wait_seconds"] > 0 for n in range(3))


def test_a_task_that_asks_a_person_waits_then_its_answered_run_replaces_it(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("ask", 1, node="ask"), end("ask", 2, "awaiting_input")])
    assert claims.fenced(first).finish("awaiting_input", snapshot={"__interrupt__": []})
    assert rows(claims, "r1") == [("ask", 1, "awaiting_input")]
    # Answered: the run is claimed again and the task runs again, with the answer.
    second = requeue_and_claim(claims, "r1")
    claims.fenced(second).record_task_events([start("ask", 90, node="ask"), end("ask", 91)])
    assert rows(claims, "r1") == [("ask", 2, "succeeded")]
    assert counts(claims, "r1") == (1, 1, 0)


def test_a_run_cancelled_while_it_waits_for_a_person_cancels_the_question(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("ask", 1, node="ask"), end("ask", 2, "awaiting_input")])
    assert claims.fenced(first).finish("awaiting_input", snapshot={"__interrupt__": []})
    assert RunStore(claims.engine).set_status(
        "r1", "cancelled", expected=["awaiting_input"], error="Cancelled on request."
    )
    assert rows(claims, "r1") == [("ask", 1, "cancelled")]


def _stored_times(store: ClaimStore, run_id: str) -> tuple[float | None, float | None]:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(runs.c.work_seconds, runs.c.wall_seconds).where(runs.c.run_id == run_id)
        ).one()
    return row.work_seconds, row.wall_seconds


def test_work_time_is_the_attempts_running_time_and_wall_time_runs_from_the_first_start(
    claims: ClaimStore,
) -> None:
    """Attempt 1 ran 3 s and asked a person; attempt 2 ran 2 s. The person's minute and the queue
    are wall time, not work time. (The times are moved back by the database's clock, so the test
    does not wait: the database's clock is this machine's for both backends here.)"""

    def began(seconds_ago: float, **more: Any) -> None:
        with claims.engine.begin() as conn:
            moment = utcnow() - dt.timedelta(seconds=seconds_ago)
            conn.execute(update(runs).where(runs.c.run_id == "r1").values(attempt_started_at=moment, **more))

    # The figures are exact up to the time the test itself took between setting a start and the
    # finish that measures from it (0.57 s once, on a loaded CI machine): bounded by it, not a guess.
    first = claimed(claims)
    t0 = time.monotonic()
    began(3, started_at=utcnow() - dt.timedelta(seconds=65))
    assert claims.fenced(first).finish("awaiting_input", snapshot={"__interrupt__": []})
    first_took = time.monotonic() - t0
    work, wall = _stored_times(claims, "r1")
    assert 3.0 - 0.05 <= work <= 3.0 + first_took + 0.05 and wall is None, (work, wall, first_took)
    second = requeue_and_claim(claims, "r1")
    t1 = time.monotonic()
    began(2)
    assert claims.fenced(second).finish("succeeded", snapshot={})
    second_took = time.monotonic() - t1
    work, wall = _stored_times(claims, "r1")
    assert 5.0 - 0.05 <= work <= 5.0 + first_took + second_took + 0.05, (work, first_took, second_took)
    assert 65.0 - 0.05 <= wall <= 65.0 + (time.monotonic() - t0) + 0.05, wall
    # Every view reads the same two figures.
    run = RunStore(claims.engine).get_run("r1")
    assert (run["work_seconds"], run["wall_seconds"]) == (work, wall)


def test_a_stale_attempt_worked_until_its_last_heartbeat(claims: ClaimStore) -> None:
    claimed(claims)
    with claims.engine.begin() as conn:
        now = utcnow()
        conn.execute(
            update(runs)
            .where(runs.c.run_id == "r1")
            .values(
                attempt_started_at=now - dt.timedelta(seconds=100),
                heartbeat_at=now - dt.timedelta(seconds=60),
                started_at=now - dt.timedelta(seconds=100),
            )
        )
    assert claims.mark_stale_interrupted(30) == ["r1"]
    work, wall = _stored_times(claims, "r1")
    assert work == pytest.approx(40.0, abs=0.5)  # 100 s ago to its last heartbeat 60 s ago
    assert wall == pytest.approx(100.0, abs=0.5)


def test_a_task_cut_off_by_a_crash_is_replaced_by_its_new_execution(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("a", 1), end("a", 2), start("b", 3)])
    second = requeue_and_claim(claims, "r1")
    # LangGraph announces the restored task "a" again (no end), and runs "b" again.
    claims.fenced(second).record_task_events([start("a", 60), start("b", 61), end("b", 62)])
    assert rows(claims, "r1") == [("a", 1, "succeeded"), ("b", 2, "succeeded")]
    assert counts(claims, "r1") == (2, 2, 0)


def test_a_task_that_failed_keeps_its_record_beside_the_retry(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("a", 1), end("a", 2, "failed", "RuntimeError: x")])
    assert claims.fenced(first).finish("failed", error="RuntimeError: x")
    second = requeue_and_claim(claims, "r1")
    claims.fenced(second).record_task_events([start("a", 10), end("a", 11)])
    assert rows(claims, "r1") == [("a", 1, "failed"), ("a", 2, "succeeded")]
    assert counts(claims, "r1") == (2, 1, 1)


def test_events_of_a_lost_claim_write_nothing(claims: ClaimStore) -> None:
    old = claimed(claims)
    claims.fenced(old).record_task_events([start("a", 1)])
    new = requeue_and_claim(claims, "r1")
    with pytest.raises(ClaimLost):
        claims.fenced(old).record_task_events([end("a", 2), start("z", 3)])
    assert rows(claims, "r1") == [("a", 1, "running")]
    assert claims.fenced(old).finish("succeeded") is False
    assert RunStore(claims.engine).get_run("r1")["status"] == "running"
    assert claims.fenced(new).finish("succeeded")
    assert RunStore(claims.engine).get_run("r1")["status"] == "succeeded"


def test_counts_of_one_run_do_not_touch_another(claims: ClaimStore) -> None:
    first, second = claimed(claims, "x"), claimed(claims, "y")
    claims.fenced(first).record_task_events([start("t", 1), end("t", 2)])
    claims.fenced(second).record_task_events([start("t", 1), end("t", 2, "failed")])
    assert counts(claims, "x") == (1, 1, 0)
    assert counts(claims, "y") == (1, 0, 1)


# -- reconciliation with the checkpoints --------------------------------------------------------


def truth(task_id: str, outcome: str, node: str = "work", error: str | None = None) -> TaskTruth:
    return TaskTruth(task_id, node, outcome, error, 2, at(100), at(101))


def test_reconcile_fixes_ends_the_crash_lost(claims: ClaimStore) -> None:
    first = claimed(claims)
    # "a" and "b" finished and were saved, but only their starts were written before the kill;
    # "c" was running and was not saved; "plan" was never written at all.
    claims.fenced(first).record_task_events([start("a", 1), start("b", 1), start("c", 1)])
    second = requeue_and_claim(claims, "r1")
    claims.fenced(second).reconcile_tasks(
        [
            truth("plan", "succeeded", node="plan"),
            truth("a", "succeeded"),
            truth("b", "succeeded"),
            truth("c", "none"),
        ],
    )
    assert rows(claims, "r1") == [
        ("a", 1, "succeeded"),
        ("b", 1, "succeeded"),
        ("c", 1, "interrupted"),
        ("plan", 1, "succeeded"),
    ]
    assert counts(claims, "r1") == (4, 3, 0)
    # The resumed run executes "c" again: it replaces the cut-off row.
    claims.fenced(second).record_task_events([start("a", 5), start("b", 5), start("c", 5), end("c", 6)])
    assert rows(claims, "r1")[2] == ("c", 2, "succeeded")
    assert counts(claims, "r1") == (4, 4, 0)


def test_reconcile_demotes_a_success_that_was_never_saved(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("a", 1), end("a", 2)])
    second = requeue_and_claim(claims, "r1")
    claims.fenced(second).reconcile_tasks([truth("a", "none")])
    assert rows(claims, "r1") == [("a", 1, "interrupted")]
    claims.fenced(second).record_task_events([start("a", 5), end("a", 6)])
    assert rows(claims, "r1") == [("a", 2, "succeeded")]
    assert counts(claims, "r1") == (1, 1, 0)


def test_reconcile_records_a_failure_it_did_not_see(claims: ClaimStore) -> None:
    first = claimed(claims)
    claims.fenced(first).record_task_events([start("a", 1)])
    second = requeue_and_claim(claims, "r1")
    claims.fenced(second).reconcile_tasks([truth("a", "failed", error="ValueError: bad")])
    (task,) = RunStore(claims.engine).get_tasks("r1")
    assert (task["status"], task["error"]) == ("failed", "ValueError: bad")
    assert counts(claims, "r1") == (1, 0, 1)


def test_reconcile_is_fenced(claims: ClaimStore) -> None:
    old = claimed(claims)
    requeue_and_claim(claims, "r1")
    with pytest.raises(ClaimLost):
        claims.fenced(old).reconcile_tasks([truth("a", "succeeded")])
    assert RunStore(claims.engine).get_tasks("r1") == []


# -- finishing and releasing --------------------------------------------------------------------


def test_finish_closes_this_attempts_open_tasks_and_consumes_the_answer(claims: ClaimStore) -> None:
    claim = claimed(claims)
    RunStore(claims.engine).update_run("r1", resume_value={"resume": {"abc": 1}})
    claims.fenced(claim).record_task_events([start("a", 1), start("b", 1), end("b", 2)])
    assert claims.fenced(claim).finish("cancelled", error="Cancelled on request.", snapshot={"n": 1})
    run = RunStore(claims.engine).get_run("r1")
    assert (run["status"], run["error"], run["resume_value"], run["state_snapshot"]) == (
        "cancelled",
        "Cancelled on request.",
        None,
        {"n": 1},
    )
    assert run["finished_at"] is not None and run["wall_seconds"] is not None
    assert rows(claims, "r1") == [("a", 1, "interrupted"), ("b", 1, "succeeded")]


def test_awaiting_input_is_not_finished(claims: ClaimStore) -> None:
    claim = claimed(claims)
    assert claims.fenced(claim).finish("awaiting_input", snapshot={"__interrupt__": []})
    run = RunStore(claims.engine).get_run("r1")
    assert (run["status"], run["finished_at"]) == ("awaiting_input", None)
    with claims.engine.connect() as conn:
        stored = conn.execute(
            select(runs.c.wall_seconds, runs.c.work_seconds).where(runs.c.run_id == "r1")
        ).one()
    # Not finished: no wall time is stored yet (pages read it as of now); the attempt's work is.
    assert stored.wall_seconds is None and stored.work_seconds is not None


def test_release_requeues_and_an_outage_retry_is_bounded(claims: ClaimStore) -> None:
    claim = claimed(claims)
    assert claims.fenced(claim).release(snapshot={"n": 2}) == "queued"
    run: Any = RunStore(claims.engine).get_run("r1")
    assert (run["status"], run["worker"], run["auto_retries"], run["state_snapshot"]) == (
        "queued",
        None,
        0,
        {"n": 2},
    )
    for retry in range(1, MAX_AUTO_RETRIES + 1):
        claim = requeue_and_claim(claims, "r1")
        assert (
            claims.fenced(claim).release(reason="The database stopped answering.", auto_retry=True)
            == "queued"
        )
        assert RunStore(claims.engine).get_run("r1")["auto_retries"] == retry
    claim = requeue_and_claim(claims, "r1")
    assert claims.fenced(claim).release(reason="The database stopped answering.", auto_retry=True) == "failed"
    run = RunStore(claims.engine).get_run("r1")
    assert run["status"] == "failed"
    assert run["error"].startswith("The database stopped answering.")
    assert f"{MAX_AUTO_RETRIES} automatic resumes" in run["error"]


def test_release_of_a_lost_claim_writes_nothing(claims: ClaimStore) -> None:
    old = claimed(claims)
    requeue_and_claim(claims, "r1")
    assert claims.fenced(old).release() is None
    assert RunStore(claims.engine).get_run("r1")["status"] == "running"
    assert RunStore(claims.engine).get_run("r1")["attempt"] == 2


def test_heartbeat_is_written_by_the_database_clock(claims: ClaimStore) -> None:
    claim = claimed(claims)
    before = utcnow()
    claims.heartbeat([claim])
    after = utcnow()
    beat = RunStore(claims.engine).get_run("r1")["heartbeat_at"]
    # The test runs next to the database, so both clocks agree to well within a second.
    assert before - dt.timedelta(seconds=1) <= beat <= after + dt.timedelta(seconds=1)
