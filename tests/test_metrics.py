"""orchestrator.metrics, the overview's figures, on seeded rows with known times, on both backends.

Every expected value below was worked out by hand from the rows in `SEEDED_RUNS` / `SEEDED_TASKS`
(the arithmetic is written next to it); none is computed by the package. Percentiles are
percentile_cont's: for sorted values v0..v(n-1) the fraction f sits at position (n-1)*f,
interpolated linearly between its neighbours.

The week under test is [2026-03-01, 2026-03-08); the week before is [2026-02-22, 2026-03-01).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from orchestrator import metrics
from orchestrator.executor import Executor
from orchestrator.metrics import Period
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunRow, RunStore

UTC = dt.UTC
WEEK = Period(dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 8, tzinfo=UTC))
FIRST_DAY = Period(dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC))


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def run(
    run_id: str,
    workflow: str,
    status: str,
    created: dt.datetime,
    seconds: float | None,
    counts: tuple[int, int, int],
    work: float | None = None,
) -> dict[str, Any]:
    """A run row created at `created`, started a second later and finished `seconds` after that;
    it worked `work` seconds of them (all of them unless given)."""
    started = created + dt.timedelta(seconds=1) if status != "queued" else None
    finished = started + dt.timedelta(seconds=seconds) if started and seconds is not None else None
    total, completed, failed = counts
    return {
        "work_seconds": (seconds if work is None else work) if finished else None,
        "run_id": run_id,
        "workflow": workflow,
        "status": status,
        "created_at": created,
        "started_at": started,
        "finished_at": finished,
        "tasks_total": total,
        "tasks_completed": completed,
        "tasks_failed": failed,
        "input": {},
        "tags": [],
    }


# (counts are tasks_total, tasks_completed, tasks_failed; the runs with task rows below have
# counts equal to their rows, since inserting task rows recounts a run)
SEEDED_RUNS = [
    # the week under test
    run("a1", "simulate", "succeeded", at(1, 10), 10, (5, 5, 0)),
    run("a5", "simulate", "queued", at(1, 10, 59, 59), None, (0, 0, 0)),
    run("a2", "simulate", "succeeded", at(1, 11), 20, (10, 10, 0)),
    run("a3", "simulate", "failed", at(2, 9), 30, (4, 2, 2)),
    run("b1", "report", "succeeded", at(2, 15), 40, (1, 1, 0)),
    run("a4", "simulate", "running", at(3, 12), None, (4, 1, 0)),
    run("b2", "report", "cancelled", at(5, 8), 100, (2, 0, 0)),
    # the week before (p1 one second before the week starts)
    run("p2", "report", "succeeded", at(25, 6, month=2), 60, (4, 4, 0)),
    run("p1", "simulate", "failed", at(28, 23, 59, 59, month=2), 50, (1, 0, 1)),
    # after the week: its end is excluded
    run("c1", "simulate", "succeeded", at(8, 0), 999, (7, 7, 0)),
]


def task(run_id: str, task_id: str, node: str, status: str, start: dt.datetime, seconds: float) -> dict:
    return {
        "run_id": run_id,
        "task_id": task_id,
        "node": node,
        "status": status,
        "started_at": start,
        "finished_at": start + dt.timedelta(seconds=seconds),
    }


SEEDED_TASKS = [
    task("a3", "a3-plan", "plan", "succeeded", at(2, 9, 0, 1), 1),
    task("a3", "a3-w1", "work", "succeeded", at(2, 9, 0, 2), 2),
    task("a3", "a3-w2", "work", "failed", at(2, 9, 0, 2), 4),
    task("a3", "a3-w3", "work", "failed", at(2, 9, 0, 2), 1),
    task("b1", "b1-report", "report", "succeeded", at(2, 15, 0, 1), 6),
    task("p1", "p1-w", "work", "failed", at(28, 23, 59, 59, month=2), 100),  # the week before
]


@pytest.fixture
def seeded(engine) -> Any:
    store = RunStore(engine)
    store.insert_many(SEEDED_RUNS)
    store.insert_tasks(SEEDED_TASKS)
    return engine


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


# -- periods ------------------------------------------------------------------------------------


def test_a_period_has_the_period_of_the_same_length_before_it_and_its_bar_length():
    assert WEEK.previous() == Period(at(22, 0, month=2), at(1, 0))
    assert (WEEK.bucket_unit, WEEK.bucket) == ("day", dt.timedelta(days=1))
    assert (FIRST_DAY.bucket_unit, FIRST_DAY.bucket) == ("hour", dt.timedelta(hours=1))
    two_days = Period(at(1, 0), at(3, 0))
    assert two_days.bucket_unit == "hour"  # up to two days: a bar per hour
    assert Period(at(1, 0), at(3, 0, 0, 1)).bucket_unit == "day"
    assert Period.last(dt.timedelta(days=7), now=at(8, 0)) == WEEK


# -- headline figures ---------------------------------------------------------------------------


def test_figures_of_a_week(seeded):
    got = metrics.figures(seeded, WEEK)
    assert got == {
        "runs": 7,  # a1 a2 a3 a4 a5 b1 b2 (c1 is created at the week's end: excluded)
        "succeeded": 3,  # a1 a2 b1
        "failed": 1,  # a3
        "success_rate": approx(3 / 5),  # finished: a1 a2 a3 b1 b2 (cancelled counts as finished)
        "p50_work_seconds": approx(30),  # durations 10 20 30 40 100 (a4, a5 have none)
        "p95_work_seconds": approx(88),  # position 4*0.95 = 3.8: 40 + 0.8*(100-40)
        "p50_wall_seconds": approx(30),  # the same: these runs worked all their wall time
        "p95_wall_seconds": approx(88),
        "tasks_completed": 19,  # 5 + 0 + 10 + 2 + 1 + 1 + 0
        "tasks_failed": 2,  # a3
        "tasks_per_minute": approx(19 / (7 * 24 * 60)),
    }


def test_figures_with_change_against_the_week_before(seeded):
    got = metrics.figures_with_change(seeded, WEEK)
    previous = got["previous"]
    assert (previous["runs"], previous["succeeded"], previous["failed"]) == (2, 1, 1)  # p1 p2
    assert previous["success_rate"] == approx(0.5)
    assert previous["p50_work_seconds"] == approx(55)  # 50 60
    assert previous["p95_work_seconds"] == approx(59.5)  # 50 + 0.95*10
    assert (previous["tasks_completed"], previous["tasks_failed"]) == (4, 1)
    change = got["change"]
    assert change["runs"] == 5
    assert change["success_rate"] == approx(0.1)
    assert change["p50_work_seconds"] == approx(-25)
    assert change["p95_work_seconds"] == approx(28.5)
    assert change["tasks_completed"] == 15
    assert got["current"]["runs"] == 7


def test_a_workflow_filter_keeps_only_its_runs(seeded):
    got = metrics.figures(seeded, WEEK, ["report"])
    assert (got["runs"], got["succeeded"], got["failed"]) == (2, 1, 0)  # b1 b2
    assert got["success_rate"] == approx(0.5)
    assert got["p50_work_seconds"] == approx(70)  # 40 100
    assert got["p95_work_seconds"] == approx(97)  # 40 + 0.95*60
    assert got["tasks_completed"] == 1
    assert metrics.figures(seeded, WEEK, ["report", "simulate"]) == metrics.figures(seeded, WEEK)


def test_a_period_without_finished_runs_has_no_rate_or_percentiles(seeded):
    only_queued = Period(at(1, 10, 30), at(1, 11))  # a5 only (a2 at 11:00 is at the end: excluded)
    got = metrics.figures(seeded, only_queued)
    assert (got["runs"], got["success_rate"], got["p50_work_seconds"], got["p95_work_seconds"]) == (
        1,
        None,
        None,
        None,
    )
    empty = metrics.figures(seeded, Period(at(10, 0, month=1), at(11, 0, month=1)))
    assert (empty["runs"], empty["tasks_completed"], empty["success_rate"]) == (0, 0, None)


def test_per_workflow_figures_busiest_first(seeded):
    table = metrics.per_workflow(seeded, WEEK)
    assert [row["workflow"] for row in table] == ["simulate", "report"]
    simulate, report = table
    assert (simulate["runs"], simulate["succeeded"], simulate["failed"]) == (5, 2, 1)
    assert simulate["success_rate"] == approx(2 / 3)  # finished: a1 a2 a3
    assert simulate["p50_work_seconds"] == approx(20)  # 10 20 30
    assert simulate["p95_work_seconds"] == approx(29)  # position 2*0.95 = 1.9: 20 + 0.9*10
    assert simulate["tasks_completed"] == 18
    assert (report["runs"], report["p50_work_seconds"], report["p95_work_seconds"]) == (
        2,
        approx(70),
        approx(97),
    )
    assert [row["workflow"] for row in metrics.per_workflow(seeded, WEEK, ["report"])] == ["report"]


# -- runs over time -----------------------------------------------------------------------------


def test_runs_over_time_a_bar_per_day_by_status(seeded):
    assert metrics.runs_over_time(seeded, WEEK) == [
        {"bucket": "2026-03-01 00:00", "status": "queued", "runs": 1},
        {"bucket": "2026-03-01 00:00", "status": "succeeded", "runs": 2},
        {"bucket": "2026-03-02 00:00", "status": "failed", "runs": 1},
        {"bucket": "2026-03-02 00:00", "status": "succeeded", "runs": 1},
        {"bucket": "2026-03-03 00:00", "status": "running", "runs": 1},
        {"bucket": "2026-03-05 00:00", "status": "cancelled", "runs": 1},
    ]
    assert metrics.runs_over_time(seeded, WEEK, ["report"]) == [
        {"bucket": "2026-03-02 00:00", "status": "succeeded", "runs": 1},
        {"bucket": "2026-03-05 00:00", "status": "cancelled", "runs": 1},
    ]


def test_runs_over_time_a_bar_per_hour_for_a_day(seeded):
    # a5 is created at 10:59:59: it falls in the 10:00 bar, not the 11:00 one
    assert metrics.runs_over_time(seeded, FIRST_DAY) == [
        {"bucket": "2026-03-01 10:00", "status": "queued", "runs": 1},
        {"bucket": "2026-03-01 10:00", "status": "succeeded", "runs": 1},
        {"bucket": "2026-03-01 11:00", "status": "succeeded", "runs": 1},
    ]


# -- histograms ---------------------------------------------------------------------------------


def test_duration_histogram(seeded):
    # durations 10 20 30 40 100. Bars run from the first value's bin to the last's, on the finest
    # round cuts per decade that give at most 20 bars: 1 1.2 1.5 2 2.5 3 4 5 6 8 (11 bars; the 40
    # fine cuts would give 41). The last bar is the bin of 100, [100, 105).
    assert metrics.histogram(seeded, WEEK, of="work") == [
        {"start": 10.0, "end": 12.0, "runs": 1},
        {"start": 12.0, "end": 15.0, "runs": 0},
        {"start": 15.0, "end": 20.0, "runs": 0},
        {"start": 20.0, "end": 25.0, "runs": 1},
        {"start": 25.0, "end": 30.0, "runs": 0},
        {"start": 30.0, "end": 40.0, "runs": 1},
        {"start": 40.0, "end": 50.0, "runs": 1},
        {"start": 50.0, "end": 60.0, "runs": 0},
        {"start": 60.0, "end": 80.0, "runs": 0},
        {"start": 80.0, "end": 100.0, "runs": 0},
        {"start": 100.0, "end": 105.0, "runs": 1},
    ]
    # at most 4 bars: cuts 1 2 5 (10 20 50 100); 1 1.5 2 3 5 7 would give 7
    assert metrics.histogram(seeded, WEEK, of="work", bins=4) == [
        {"start": 10.0, "end": 20.0, "runs": 1},
        {"start": 20.0, "end": 50.0, "runs": 3},
        {"start": 50.0, "end": 100.0, "runs": 0},
        {"start": 100.0, "end": 105.0, "runs": 1},
    ]


def test_task_count_histogram_has_whole_task_bins(seeded):
    # tasks_total 5 0 10 4 1 4 2: every count up to 29 is a bin of its own, so 0..10 is 11 bars
    assert metrics.histogram(seeded, WEEK, of="tasks") == [
        {"start": 0.0, "end": 1.0, "runs": 1},
        {"start": 1.0, "end": 2.0, "runs": 1},
        {"start": 2.0, "end": 3.0, "runs": 1},
        {"start": 3.0, "end": 4.0, "runs": 0},
        {"start": 4.0, "end": 5.0, "runs": 2},
        {"start": 5.0, "end": 6.0, "runs": 1},
        {"start": 6.0, "end": 7.0, "runs": 0},
        {"start": 7.0, "end": 8.0, "runs": 0},
        {"start": 8.0, "end": 9.0, "runs": 0},
        {"start": 9.0, "end": 10.0, "runs": 0},
        {"start": 10.0, "end": 11.0, "runs": 1},
    ]
    # at most 4 bars: cuts 1 2 5 give 0 1 2 5 10 (5 bars), so a bar per decade: 0, 1..9, 10
    assert metrics.histogram(seeded, WEEK, of="tasks", bins=4) == [
        {"start": 0.0, "end": 1.0, "runs": 1},
        {"start": 1.0, "end": 10.0, "runs": 5},
        {"start": 10.0, "end": 11.0, "runs": 1},
    ]


def test_histograms_of_a_period_without_runs_are_empty(seeded):
    empty = Period(at(10, 0, month=1), at(11, 0, month=1))
    assert metrics.histogram(seeded, empty, of="work") == []
    assert metrics.histogram(seeded, empty, of="tasks") == []


# -- nodes --------------------------------------------------------------------------------------


def test_slowest_and_most_failing_nodes(seeded):
    # a3: plan 1 s; work 2 s, 4 s (failed), 1 s (failed). b1: report 6 s. p1's work is the week before.
    assert metrics.node_stats(seeded, WEEK) == [
        {
            "node": "report",
            "tasks": 1,
            "failed": 0,
            "failure_rate": 0.0,
            "mean_seconds": approx(6),
            "p95_seconds": approx(6),
        },
        {
            "node": "work",
            "tasks": 3,
            "failed": 2,
            "failure_rate": approx(2 / 3),
            "mean_seconds": approx(7 / 3),
            "p95_seconds": approx(3.8),  # 1 2 4: position 1.9, 2 + 0.9*2
        },
        {
            "node": "plan",
            "tasks": 1,
            "failed": 0,
            "failure_rate": 0.0,
            "mean_seconds": approx(1),
            "p95_seconds": approx(1),
        },
    ]
    assert [n["node"] for n in metrics.node_stats(seeded, WEEK, ["simulate"])] == ["work", "plan"]
    assert [n["node"] for n in metrics.node_stats(seeded, WEEK, limit=1)] == ["report"]
    (before,) = metrics.node_stats(seeded, WEEK.previous())
    assert (before["node"], before["tasks"], before["failed"], before["p95_seconds"]) == (
        "work",
        1,
        1,
        approx(100),
    )


def test_overview_holds_every_part(seeded):
    got = metrics.overview(seeded, WEEK, ["simulate"])
    assert got["figures"]["current"]["runs"] == 5
    assert got["figures"]["previous"]["runs"] == 1  # p1
    assert {r["bucket"] for r in got["over_time"]} == {
        "2026-03-01 00:00",
        "2026-03-02 00:00",
        "2026-03-03 00:00",
    }
    assert sum(b["runs"] for b in got["durations"]["work"]) == 3  # a1 a2 a3
    assert got["durations"]["wall"] == got["durations"]["work"]  # they worked all their wall time
    assert sum(b["runs"] for b in got["task_counts"]) == 5
    assert [w["workflow"] for w in got["per_workflow"]] == ["simulate"]
    assert [n["node"] for n in got["nodes"]] == ["work", "plan"]


# -- the duration written when a run finishes ---------------------------------------------------


def got(store: RunStore, run_id: str) -> RunRow:
    row = store.get_run(run_id)
    assert row is not None, run_id
    return row


def test_a_final_status_writes_finished_at_and_the_wall_time(engine):
    store = RunStore(engine)
    run_id = store.create_run("simulate", {}, [])
    store.update_run(run_id, status="queued", started_at=at(1, 10))
    assert store.set_status(run_id, "cancelled")
    row = got(store, run_id)
    assert row["finished_at"] is not None
    assert row["wall_seconds"] == approx((row["finished_at"] - at(1, 10)).total_seconds())
    never_started = store.create_run("simulate", {}, [])
    assert store.set_status(never_started, "cancelled")
    assert (got(store, never_started)["wall_seconds"], got(store, never_started)["work_seconds"]) == (
        None,
        None,
    )


def test_an_executed_run_has_its_wall_and_work_time(config, engine):
    orch = Orchestrator(config, engine=engine)
    run_id = orch.launch("simulate", {"tasks": 2, "delay_ms": 1}, [])
    executor = Executor(config, engine=engine, concurrency=1)
    [claimed] = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    asyncio.run(executor.execute_claimed(claimed))
    row = got(orch.store, run_id)
    assert row["status"] == "succeeded"
    assert row["finished_at"] is not None and row["started_at"] is not None
    assert row["wall_seconds"] == approx((row["finished_at"] - row["started_at"]).total_seconds())
    # One attempt, never waiting: it worked (nearly) all of its wall time, and never more.
    assert 0 < row["work_seconds"] <= row["wall_seconds"]
    assert row["wall_seconds"] - row["work_seconds"] < 0.1


def test_the_overview_shows_work_time_and_wall_time_apart(engine):
    """Three finished runs that waited (for a person, between attempts): their work and wall times
    are figures of their own, and a node's time is its tasks' work, not their wait for a slot."""
    day = Period(at(20, 0), at(21, 0))
    RunStore(engine).insert_many(
        [
            run("w1", "simulate", "succeeded", at(20, 9), 60, (0, 0, 0), work=2),
            run("w2", "simulate", "succeeded", at(20, 10), 900, (0, 0, 0), work=3),
            run("w3", "simulate", "failed", at(20, 11), 5, (0, 0, 0), work=5),
            run("w4", "simulate", "awaiting_input", at(20, 12), None, (0, 0, 0)),
        ]
    )
    store = RunStore(engine)
    store.insert_tasks(
        [
            # Each worked 0.5 s; the second waited 4 s for its slot first; the third never began.
            {
                **task("w1", "t1", "work", "succeeded", at(20, 9, 0, 1), 0.5),
                "work_started_at": at(20, 9, 0, 1),
            },
            {
                **task("w1", "t2", "work", "succeeded", at(20, 9, 0, 1), 4.5),
                "work_started_at": at(20, 9, 0, 5),
            },
            {**task("w1", "t3", "work", "cancelled", at(20, 9, 0, 1), 9)},
        ]
    )
    figures = metrics.figures(engine, day)
    assert (figures["p50_work_seconds"], figures["p50_wall_seconds"]) == (approx(3), approx(60))
    assert figures["p95_work_seconds"] == approx(4.8)  # 2 3 5: position 1.9, 3 + 0.9*2
    assert figures["p95_wall_seconds"] == approx(816)  # 5 60 900: 60 + 0.9*840
    assert sum(b["runs"] for b in metrics.histogram(engine, day, of="wall")) == 3
    (work,) = metrics.node_stats(engine, day)
    assert (work["tasks"], work["mean_seconds"], work["p95_seconds"]) == (3, approx(0.5), approx(0.5))


def test_an_interrupted_run_counts_among_the_finished_of_the_success_rate(engine):
    """Interrupted runs ended (a person may resume them): 1 succeeded of 2 finished is 50 %."""
    day = Period(at(22, 0), at(23, 0))
    RunStore(engine).insert_many(
        [
            run("s1", "simulate", "succeeded", at(22, 9), 5, (0, 0, 0)),
            run("i1", "simulate", "interrupted", at(22, 10), 5, (0, 0, 0)),
            run("q1", "simulate", "queued", at(22, 11), None, (0, 0, 0)),
        ]
    )
    assert metrics.figures(engine, day)["success_rate"] == approx(1 / 2)
