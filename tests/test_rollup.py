"""The overview's rollup (orchestrator.rollup, migration 0011), on both backends: the bins the
triggers use are the package's, any mix of writes and folds leaves the rollup equal to the runs
(checked by tests/rollup_check.py, which adds the runs up itself), a period's tally is the same
whether read from whole days or from the runs, and percentiles stay within their bin."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
from collections import defaultdict

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)

from orchestrator import rollup
from orchestrator.db import JSONType, UTCDateTime, run_tasks, runs, upgrade_schema
from orchestrator.db.schema import (
    node_days,
    node_deltas,
    node_hours,
    rollup_bins,
    rollup_deltas,
    rollup_status,
)
from tests.rollup_check import assert_rollup_matches, bisect_bin, db_lowers

UTC = dt.UTC
START = dt.datetime(2026, 3, 1, tzinfo=UTC)
STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


def a_run(rng: random.Random, i: int) -> dict:
    created = START + dt.timedelta(seconds=rng.randrange(10 * 86400))
    finished = rng.random() < 0.7
    return {
        "run_id": f"r{i}",
        "workflow": rng.choice(["simulate", "report", "etl"]),
        "status": rng.choice(STATUSES[2:] if finished else STATUSES[:2]),
        "created_at": created,
        "wall_seconds": (wall := rng.choice([0.0, 0.0004, 1.0, 2.5, 2.4999999]) if rng.random() < 0.1
        else (rng.expovariate(1 / 30) if finished else None)),
        # Work is a part of the wall time; a run waiting for a person has work and no wall time.
        "work_seconds": None if rng.random() < 0.1 else (wall * rng.random() if wall is not None
        else rng.choice([None, rng.expovariate(1 / 5)])),
        "tasks_total": (total := rng.randrange(0, 2000)),
        "tasks_completed": rng.randrange(0, total + 1),
        "tasks_failed": rng.randrange(0, 5),
        "input": {},
        "tags": [],
    }  # fmt: skip


def random_writes(engine: Engine, rng: random.Random, count: int, first_id: int = 0) -> None:
    ids: list[str] = []
    for step in range(count):
        # as the package writes: on SQLite the write lock first (BEGIN IMMEDIATE)
        with engine.connect().execution_options(sqlite_write=True) as conn, conn.begin():
            choice = rng.random()
            if choice < 0.45 or not ids:
                row = a_run(rng, first_id + step)
                conn.execute(insert(runs), [row])
                ids.append(row["run_id"])
            elif choice < 0.85:
                changed = a_run(rng, 0)
                keys = rng.sample(
                    [
                        "workflow",
                        "status",
                        "created_at",
                        "wall_seconds",
                        "work_seconds",
                        "tasks_total",
                        "tasks_completed",
                    ],
                    2,
                )
                conn.execute(
                    update(runs).where(runs.c.run_id == rng.choice(ids)).values({k: changed[k] for k in keys})
                )
            elif choice < 0.95:
                conn.execute(delete(runs).where(runs.c.run_id == ids.pop(rng.randrange(len(ids)))))
            else:
                conn.execute(update(runs).values(tasks_failed=runs.c.tasks_failed + 1))  # every run at once


# The bins, by hand: 40 cuts a decade (1, 1.05, 1.1, 1.15, 1.2, 1.3 ... 9.5), so each at most
# 9.1 % wide (1.05 / 1 ... 1.2 / 1.1), 1, 2 and 5 among them.
DECADE = [1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.4, 2.5, 2.6, 2.8, 3.0,
          3.2, 3.4, 3.6, 3.8, 4.0, 4.2, 4.5, 4.8, 5.0, 5.3, 5.6, 6.0, 6.3, 6.7, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5]  # fmt: skip


def test_the_bins_are_the_ones_written_here(engine):
    """One source for the triggers, the reads and the charts: the table (`rollup_bins`). Its
    bounds, and the package's reading of them, against what is written here by hand."""
    with engine.connect() as conn:
        stored = conn.execute(select(rollup_bins).order_by(rollup_bins.c.measure, rollup_bins.c.bin)).all()
    duration = [row.lower for row in stored if row.measure == "duration"]
    tasks = [row.lower for row in stored if row.measure == "tasks"]
    # under 1 ms; 1 ms .. 1,000,000 s in 9 decades of 40; then above
    assert len(duration) == 1 + 9 * 40 + 1 and duration[0] < -1e299 and duration[-1] == 1e6
    assert duration[1:41] == pytest.approx([0.001 * m for m in DECADE])
    assert duration[201:241] == pytest.approx([100 * m for m in DECADE])
    # every count up to 29, then the whole multiples of the decade's cuts, then 10,000,000
    assert tasks[:30] == list(range(30)) and tasks[-1] == 10**7
    assert tasks[30:40] == [30, 32, 34, 36, 38, 40, 42, 45, 48, 50]
    assert [row.bin for row in stored if row.measure == "tasks"] == list(range(len(tasks)))
    bins = rollup.load_bins(engine)
    assert bins.bounds("duration", bins.of("duration", 2.0)) == (2.0, 2.1)  # 2.0 opens a bin
    assert bins.bounds("duration", bins.of("duration", 1.9999999)) == (1.9, 2.0)
    assert bins.bounds("duration", 0) == (0.0, 0.001)
    assert bins.of("tasks", 30) == bins.of("tasks", 31) == 30  # [30, 32)


def test_the_triggers_bin_as_the_package_does_on_and_next_to_every_bound(engine):
    values = [0.0, 0.0009999, 0.001, 0.00105, 2.0, 1.9999999, 2.4, 2.5, 999999.0, 1e6, 5e7]
    with engine.begin() as conn:
        conn.execute(
            insert(runs),
            [
                {"run_id": f"d{i}", "workflow": "w", "status": "succeeded", "created_at": START,
                 "wall_seconds": v, "work_seconds": v, "tasks_total": t, "input": {}, "tags": []}
                for i, (v, t) in enumerate(zip(values, [0, 1, 29, 30, 31, 99, 100, 104, 105, 10**7, 10**8], strict=True))
            ],
        )  # fmt: skip
        rows = conn.execute(
            select(rollup_deltas.c.work_bin, rollup_deltas.c.wall_bin, rollup_deltas.c.tasks_bin).order_by(
                rollup_deltas.c.id
            )
        ).all()
    with engine.connect() as conn:
        lowers = db_lowers(conn)
    # Each value's bin by its lower bound, by hand: below 1 ms is the first bin (its lower is
    # the table's "below all"); 2.0 opens a bin; 1.9999999 is in the bin of 1.9; past 1e6, 1e6.
    below = lowers["duration"][0]
    want = [below, below, 0.001, 0.00105, 2.0, 1.9, 2.4, 2.5, 950000.0, 1e6, 1e6]
    assert [lowers["duration"][r.work_bin] for r in rows] == pytest.approx(want)
    assert [lowers["duration"][r.wall_bin] for r in rows] == pytest.approx(want)
    # task counts: each up to 29 alone, 30 and 31 share [30, 32), 99 in [95, 100), 104 in [100, 105)
    assert [lowers["tasks"][r.tasks_bin] for r in rows] == [0, 1, 29, 30, 30, 95, 100, 100, 105, 10**7, 10**7]


def test_any_mix_of_writes_and_folds_keeps_the_rollup_equal_to_the_runs(engine):
    rng = random.Random(11)
    for round_ in range(4):
        random_writes(engine, rng, 60, first_id=round_ * 1000)
        assert_rollup_matches(engine)
        folded = rollup.compact(engine)
        assert folded > 0
        assert_rollup_matches(engine)
    assert rollup.compact(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(select(rollup_deltas.c.id)).first() is None


def test_writers_and_folders_at_once_lose_nothing(engine):
    """Two writers and two folders in threads: a delta is folded exactly once (PostgreSQL folds in
    one REPEATABLE READ snapshot under an advisory lock; SQLite's writes are serialised)."""
    errors: list[BaseException] = []
    done = threading.Event()

    def write(seed: int) -> None:
        try:
            random_writes(engine, random.Random(seed), 80, first_id=seed * 10_000)
        except BaseException as exc:
            errors.append(exc)

    def fold() -> None:
        try:
            while not done.wait(0.01):  # folding without a pause would starve SQLite's writers
                rollup.compact(engine)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(seed,)) for seed in (1, 2)]
    folders = [threading.Thread(target=fold) for _ in range(2)]
    for t in writers + folders:
        t.start()
    for t in writers:
        t.join(timeout=300)
    done.set()
    for t in folders:
        t.join(timeout=60)
    assert not errors
    assert_rollup_matches(engine)
    rollup.compact(engine)
    assert_rollup_matches(engine)


@pytest.mark.parametrize(
    "start, end",
    [
        (
            dt.datetime(2026, 3, 2, 7, 30, tzinfo=UTC),
            dt.datetime(2026, 3, 8, 13, 5, tzinfo=UTC),
        ),  # ragged ends
        (dt.datetime(2026, 3, 2, tzinfo=UTC), dt.datetime(2026, 3, 9, tzinfo=UTC)),  # whole days only
        (dt.datetime(2026, 3, 3, 23, 0, tzinfo=UTC), dt.datetime(2026, 3, 5, 22, 0, tzinfo=UTC)),  # hourly
        (dt.datetime(2026, 3, 4, 12, tzinfo=UTC), dt.datetime(2026, 3, 7, 1, tzinfo=UTC)),  # one whole day
    ],
)
def test_a_periods_tally_is_the_same_from_whole_days_as_from_the_runs(engine, start, end):
    """Whole days from the rollups (folded and not), ragged ends from the runs: the same as adding
    the period's runs up here, in Python, from the rows."""
    random_writes(engine, random.Random(5), 300)
    rollup.compact(engine)
    random_writes(engine, random.Random(6), 50, first_id=5000)  # some deltas left unfolded
    got = rollup.tally(engine, start, end)
    by_status: dict = defaultdict(lambda: [0, 0, 0])
    durations: dict = defaultdict(lambda: [0, 0.0])
    tasks: dict = defaultdict(int)
    by_day: dict = defaultdict(int)
    with engine.connect() as conn:
        lowers = db_lowers(conn)
        rows = conn.execute(select(runs).where(runs.c.created_at >= start, runs.c.created_at < end)).all()
    for row in rows:
        totals = by_status[(row.workflow, row.status)]
        totals[0] += 1
        totals[1] += row.tasks_completed
        totals[2] += row.tasks_failed
        by_day[(f"{row.created_at.astimezone(UTC):%Y-%m-%d} 00:00", row.status)] += 1
        if row.wall_seconds is not None:  # finished: its two durations count
            for measure, seconds in (("work", row.work_seconds), ("wall", row.wall_seconds)):
                if seconds is not None:
                    binned = durations[(row.workflow, measure, bisect_bin(lowers, "duration", seconds))]
                    binned[0] += 1
                    binned[1] += seconds
        tasks[(row.workflow, bisect_bin(lowers, "tasks", row.tasks_total))] += 1
    assert {k: v for k, v in got.by_status.items() if any(v)} == dict(by_status)
    assert {k: v[0] for k, v in got.durations.items() if v[0]} == {k: v[0] for k, v in durations.items()}
    for key, (_, seconds) in durations.items():
        assert got.durations[key][1] == pytest.approx(seconds)
    assert {k: v for k, v in got.tasks.items() if v} == dict(tasks)
    if end - start > rollup.HOURLY_UP_TO:
        assert {k: v for k, v in got.by_bucket.items() if v} == dict(by_day)


def test_percentiles_are_exact_for_a_value_alone_in_its_bin_and_within_the_bin_otherwise(engine):
    bins = rollup.load_bins(engine)
    lower, upper = bins.bounds("duration", bins.of("duration", 20.5))
    assert (lower, upper) == (20.0, 21.0)
    # 20.1 20.2 20.9 share [20, 21); 50 is alone in [50, 53)
    counts = [
        (bins.of("duration", 20.5), 3, 20.1 + 20.2 + 20.9),
        (bins.of("duration", 50), 1, 50.0),
    ]
    got = rollup.percentiles(counts, bins, "duration", (0.0, 0.5, 1.0))
    assert got[1.0] == 50.0
    for f in (0.0, 0.5):
        assert 20.0 <= got[f] < 21.0
    # the three are placed a third apart around their mean 20.4 (20.067 20.4 20.733); the median
    # of the four values is halfway between the second and the third
    assert got[0.5] == pytest.approx(20.4 + 1 / 6)
    assert got[0.0] == pytest.approx(20.4 - 1 / 3)
    assert rollup.percentiles([], bins, "duration", (0.5,)) == {}


# `runs` as the migrations before 0014 left it: one duration, `duration_seconds`.
RUNS_BEFORE_0014 = Table(
    "runs",
    MetaData(),
    *(Column(name, String(200)) for name in ("run_id", "workflow", "status")),
    Column("created_at", UTCDateTime),
    Column("duration_seconds", Float),
    *(Column(name, Integer) for name in ("tasks_total", "tasks_completed", "tasks_failed")),
    *(Column(name, JSONType) for name in ("input", "tags")),
)


def old_runs(rows: list[dict]) -> list[dict]:
    """Runs as `a_run` makes them, in the shape before 0014 (their wall time was their duration)."""
    return [{**{k: v for k, v in row.items() if k not in ("wall_seconds", "work_seconds")},
             "duration_seconds": row["wall_seconds"]} for row in rows]  # fmt: skip


@pytest.mark.empty_database
def test_migration_0011_fills_the_rollup_from_the_runs_already_stored(config):
    from orchestrator.db import make_engine

    engine = make_engine(config)
    try:
        upgrade_schema(engine, "0010")
        rng = random.Random(3)
        with engine.begin() as conn:
            conn.execute(insert(RUNS_BEFORE_0014), old_runs([a_run(rng, i) for i in range(200)]))
        upgrade_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(select(rollup_deltas.c.id)).first() is None  # straight into the rollups
        assert_rollup_matches(engine)
    finally:
        engine.dispose()


def test_a_serving_executor_folds_the_deltas_its_runs_leave(config, engine, monkeypatch):
    from orchestrator import executor as executor_module
    from orchestrator.executor import Executor
    from orchestrator.operations import Orchestrator

    monkeypatch.setattr(executor_module, "ROLLUP_FOLD_SECONDS", 0.1)
    orch = Orchestrator(config, engine=engine)
    run_id = orch.launch("simulate", {"tasks": 3, "delay_ms": 1}, [])
    executor = Executor(config, engine=engine, concurrency=1)

    def deltas() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select(rollup_deltas.c.id)).all())

    async def serve_until_folded() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(executor.serve(stop, grace=5))
        deadline = asyncio.get_running_loop().time() + 60
        while not (orch.get_run(run_id)["status"] == "succeeded" and deltas() == 0):
            assert asyncio.get_running_loop().time() < deadline, (orch.get_run(run_id)["status"], deltas())
            await asyncio.sleep(0.1)
        stop.set()
        await serving

    assert deltas() > 0  # the launch's insert
    asyncio.run(serve_until_folded())
    assert_rollup_matches(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(rollup_status.c.runs))).scalar() == 1


# -- nodes (migration 0013) -----------------------------------------------------------------------

NODES = ["plan", "work", "review"]


def random_task_writes(engine: Engine, rng: random.Random, count: int) -> None:
    """Tasks started, ended (some failed), renamed, moved in time, deleted, and runs deleted with
    their tasks (by the database's own cascade, not RunStore's)."""
    with engine.begin() as conn:
        conn.execute(insert(runs), [a_run(rng, rng.randrange(10**12)) for _ in range(rng.randrange(3, 6))])
    with engine.connect() as conn:
        run_ids = list(conn.execute(select(runs.c.run_id)).scalars())
    tasks: list[tuple[str, str]] = []
    for _ in range(count):
        with engine.connect().execution_options(sqlite_write=True) as conn, conn.begin():
            choice = rng.random()
            if choice < 0.4 or not tasks:
                key = (rng.choice(run_ids), f"t{rng.randrange(10**12)}")
                started = START + dt.timedelta(
                    seconds=rng.randrange(9 * 86400), microseconds=rng.randrange(10**6)
                )
                finished = (
                    started + dt.timedelta(seconds=rng.choice([0.0, 0.001, 2.0, 1.9999, 35.5]))
                    if rng.random() < 0.5
                    else None
                )
                conn.execute(insert(run_tasks), [{
                    "run_id": key[0], "task_id": key[1], "attempt": 1, "node": rng.choice(NODES),
                    "status": rng.choice(["failed", "succeeded", "succeeded", "cancelled"]) if finished else "running",
                    "started_at": started, "finished_at": finished,
                }])  # fmt: skip
                tasks.append(key)
            elif choice < 0.85:
                run_id, task_id = rng.choice(tasks)
                row = conn.execute(
                    select(run_tasks).where(run_tasks.c.run_id == run_id, run_tasks.c.task_id == task_id)
                ).first()
                if row is None:
                    continue
                change = rng.choice(["end", "node", "start", "work"])
                values = {
                    "end": {"status": rng.choice(["succeeded", "failed"]),
                            "finished_at": row.started_at + dt.timedelta(seconds=rng.expovariate(1 / 10))},
                    "node": {"node": rng.choice(NODES)},
                    "start": {"started_at": row.started_at - dt.timedelta(hours=rng.randrange(1, 30))},
                    # Its work began after a wait for a slot: its seconds are its work's (0014).
                    "work": {"work_started_at": row.started_at + dt.timedelta(seconds=rng.choice([0, 0.5, 3]))},
                }[change]  # fmt: skip
                conn.execute(
                    update(run_tasks)
                    .where(run_tasks.c.run_id == run_id, run_tasks.c.task_id == task_id)
                    .values(values)
                )
            elif choice < 0.97:
                run_id, task_id = tasks.pop(rng.randrange(len(tasks)))
                conn.execute(
                    delete(run_tasks).where(run_tasks.c.run_id == run_id, run_tasks.c.task_id == task_id)
                )
            elif len(run_ids) > 1:
                conn.execute(delete(runs).where(runs.c.run_id == run_ids.pop(rng.randrange(len(run_ids)))))


def test_any_mix_of_task_writes_and_folds_keeps_the_node_rollup_equal_to_the_tasks(engine):
    rng = random.Random(21)
    for _ in range(3):
        random_task_writes(engine, rng, 80)
        assert_rollup_matches(engine)
        assert rollup.compact(engine) > 0
        assert_rollup_matches(engine)
    with engine.connect() as conn:
        assert conn.execute(select(node_deltas.c.id)).first() is None
        assert conn.execute(select(func.count()).select_from(node_hours)).scalar_one() > 0


def test_the_node_triggers_bin_a_tasks_seconds_as_python_does_on_and_next_to_bounds(engine):
    """A task 1 ms long is in the bin of 0.001 on both backends, as timedelta.total_seconds() says
    (the fractions subtracted as floats gave 0.000999...: the bin below)."""
    lengths = [dt.timedelta(microseconds=m) for m in (0, 999, 1000, 1001, 2_000_000, 1_999_999, 2_500_000)]
    lengths += [dt.timedelta(seconds=999_999), dt.timedelta(days=12)]
    starts = [START + dt.timedelta(microseconds=123456 + 7 * i) for i in range(len(lengths))]
    with engine.begin() as conn:
        conn.execute(insert(runs), [a_run(random.Random(1), 0)])
        conn.execute(insert(run_tasks), [
            {"run_id": "r0", "task_id": f"t{i}", "attempt": 1, "node": "n", "status": "succeeded",
             "started_at": start, "finished_at": start + length}
            for i, (start, length) in enumerate(zip(starts, lengths, strict=True))
        ])  # fmt: skip
        rows = conn.execute(select(node_deltas.c.bin, node_deltas.c.seconds).order_by(node_deltas.c.id)).all()
    with engine.connect() as conn:
        lowers = db_lowers(conn)["duration"]
    # Each task's bin by its lower bound, by hand: 0 and 999 µs below 1 ms, 1 ms in [0.001, 0.00105),
    # 1.001 ms too, 2 s opens a bin, 1.999999 s is in [1.9, 2), 2.5 s opens one, 999,999 s in
    # [950,000, 1,000,000), 12 days past the last bound.
    below = lowers[0]
    want = [below, below, 0.001, 0.001, 2.0, 1.9, 2.5, 950000.0, 1e6]
    assert [lowers[r.bin] for r in rows] == pytest.approx(want)
    assert [r.seconds for r in rows] == [d.total_seconds() for d in lengths]


def test_the_node_check_finds_a_wrong_rollup(engine):
    """The check after every test (tests/rollup_check.py) fails when the node rollup is off."""
    random_task_writes(engine, random.Random(4), 30)
    rollup.compact(engine)
    with engine.begin() as conn:
        conn.execute(update(node_days).values(tasks=node_days.c.tasks + 1))
    with pytest.raises(AssertionError, match="rollup days"):
        assert_rollup_matches(engine)
    with engine.begin() as conn:
        conn.execute(update(node_days).values(tasks=node_days.c.tasks - 1))


@pytest.mark.parametrize(
    "start, end",
    [
        (dt.datetime(2026, 3, 2, 7, 30, tzinfo=UTC), dt.datetime(2026, 3, 8, 13, 5, tzinfo=UTC)),  # ragged
        (dt.datetime(2026, 3, 2, tzinfo=UTC), dt.datetime(2026, 3, 9, tzinfo=UTC)),  # whole days only
        (dt.datetime(2026, 3, 3, 23, 0, tzinfo=UTC), dt.datetime(2026, 3, 4, 5, 0, tzinfo=UTC)),  # hours
        (dt.datetime(2026, 3, 4, 12, 59, tzinfo=UTC), dt.datetime(2026, 3, 6, 0, 1, tzinfo=UTC)),  # one day
    ],
)
def test_node_figures_are_the_tasks_of_the_whole_hours_a_period_touches(engine, start, end):
    from orchestrator.metrics import Period, node_stats

    rng = random.Random(8)
    random_task_writes(engine, rng, 300)
    rollup.compact(engine)
    random_task_writes(engine, rng, 40)  # some deltas left unfolded
    first, last = rollup.whole_hours(start, end)
    assert first <= start and end <= last and last - first < end - start + dt.timedelta(hours=2)
    with engine.connect() as conn:
        rows = conn.execute(
            select(run_tasks).where(run_tasks.c.started_at >= first, run_tasks.c.started_at < last)
        ).all()
    want: dict[str, dict] = {}
    for row in rows:
        n = want.setdefault(row.node, {"tasks": 0, "failed": 0, "seconds": []})
        n["tasks"] += 1
        n["failed"] += row.status == "failed"
        if row.finished_at is not None and row.status != "cancelled":  # cancelled: never worked
            n["seconds"].append((row.finished_at - (row.work_started_at or row.started_at)).total_seconds())
    with engine.connect() as conn:
        lowers = db_lowers(conn)
    got = {n["node"]: n for n in node_stats(engine, Period(start, end), limit=99)}
    assert set(got) == set(want)
    for node, w in want.items():
        assert (got[node]["tasks"], got[node]["failed"]) == (w["tasks"], w["failed"])
        if w["seconds"]:
            assert got[node]["mean_seconds"] == pytest.approx(sum(w["seconds"]) / len(w["seconds"]))
            # the p95 lies within the bin of the exact p95's neighbours
            ordered = sorted(w["seconds"])
            position = (len(ordered) - 1) * 0.95
            low, high = ordered[int(position)], ordered[min(int(position) + 1, len(ordered) - 1)]
            lo = lowers["duration"][bisect_bin(lowers, "duration", low)]
            hi = lowers["duration"][bisect_bin(lowers, "duration", high) + 1]
            assert lo <= got[node]["p95_seconds"] <= hi
        else:
            assert got[node]["mean_seconds"] is None and got[node]["p95_seconds"] is None


@pytest.mark.empty_database
def test_migration_0013_fills_the_node_rollup_from_the_tasks_already_stored(config):
    from orchestrator.db import make_engine

    engine = make_engine(config)
    try:
        upgrade_schema(engine, "0012")
        rng = random.Random(9)
        with engine.begin() as conn:
            conn.execute(insert(RUNS_BEFORE_0014), old_runs([a_run(rng, i) for i in range(20)]))
            conn.execute(insert(run_tasks), [
                {"run_id": f"r{i % 20}", "task_id": f"t{i}", "attempt": 1, "node": NODES[i % 3],
                 "status": ["running", "succeeded", "failed"][i % 3],
                 "started_at": START + dt.timedelta(minutes=37 * i),
                 "finished_at": None if i % 3 == 0 else START + dt.timedelta(minutes=37 * i, seconds=i)}
                for i in range(150)
            ])  # fmt: skip
        upgrade_schema(engine)
        with engine.connect() as conn:
            assert conn.execute(select(node_deltas.c.id)).first() is None  # straight into the rollups
            assert conn.execute(select(func.sum(node_days.c.tasks))).scalar_one() == 150
        assert_rollup_matches(engine)
    finally:
        engine.dispose()
