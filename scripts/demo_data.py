"""A realistic data set for the browser journeys and the README's screenshots.

A few hundred runs of both built-in workflows over the last 30 days, bulk-inserted with their
task rows (most succeeded, some failed, cancelled or interrupted), one run of 1,000 tasks, and
a handful of runs really executed by an executor so that they have checkpoints: two `simulate`
runs that succeed, one that fails, a `plan_execute` run, and one waiting for its plan to be
approved.

    from orchestrator.config import OrchestratorConfig
    from scripts.demo_data import seed_demo
    demo = seed_demo(OrchestratorConfig())
    print(demo.real["waiting"])     # the run awaiting approval

The same call with the same `now` and `seed` gives the same bulk rows.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import OrchestratorConfig
from orchestrator.db import utcnow
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator

BULK_RUNS = 300
TAGS = ("nightly", "batch-a", "batch-b", "load-test", "smoke", "release-2.4")
GOALS = (
    "Collect the logs; parse them and then write a report",
    "Summarise last week's incidents, then draft the post-mortem",
    "1. Fetch the dataset\n2. Clean it\n3. Train the model\n4. Evaluate it",
    "Review the open pull requests",
    "Compare the two vendors; list the risks; then recommend one",
)
# The runs executed for real: (name, workflow, input, tags).
REAL_RUNS: tuple[tuple[str, str, dict[str, Any], list[str]], ...] = (
    ("small", "simulate", {"tasks": 3, "delay_ms": 40, "seed": 1}, ["demo", "smoke"]),
    ("wide", "simulate", {"tasks": 24, "delay_ms": 30, "seed": 2, "fan_out": 6}, ["demo", "load-test"]),
    ("failed", "simulate", {"tasks": 5, "delay_ms": 20, "seed": 3, "fail_rate": 1.0}, ["demo", "flaky"]),
    ("planned", "plan_execute", {"goal": GOALS[0]}, ["demo"]),
    ("waiting", "plan_execute", {"goal": GOALS[1], "require_approval": True}, ["demo", "approval"]),
)
REAL_OUTCOMES = {
    "small": "succeeded",
    "wide": "succeeded",
    "failed": "failed",
    "planned": "succeeded",
    "waiting": "awaiting_input",
}
DEMO_LAUNCHER = "browser:demo"
BIG_RUN_TASKS = 1000


@dataclass
class DemoData:
    """What was seeded: the bulk-inserted rows (with the 1,000-task run), the real runs by name."""

    bulk: list[dict[str, Any]] = field(default_factory=list)
    real: dict[str, str] = field(default_factory=dict)
    big_run: str = ""


def seed_demo(
    config: OrchestratorConfig,
    *,
    now: dt.datetime | None = None,
    bulk: int = BULK_RUNS,
    seed: int = 7,
    execute: bool = True,
) -> DemoData:
    """Fill the configured database with the demo data set; returns what it added.

    With `execute` (the default) the real runs are executed here by a standalone executor,
    which is stopped before returning; a dashboard's embedded executor may help.
    """
    now = now or utcnow()
    rng = random.Random(seed)
    orch = Orchestrator(config)
    try:
        demo = DemoData()
        rows, tasks = [], []
        for i in range(bulk):
            row, row_tasks = _bulk_run(rng, now, i)
            rows.append(row)
            tasks += row_tasks
        big, big_tasks = _big_run(rng, now)
        rows.append(big)
        tasks += big_tasks
        orch.store.insert_many(rows)
        orch.store.insert_tasks(tasks)
        demo.bulk, demo.big_run = rows, big["run_id"]
        for name, workflow, input, tags in REAL_RUNS:
            demo.real[name] = orch.launch(workflow, input, tags, launched_by=DEMO_LAUNCHER)
        if execute:
            _execute(orch, list(demo.real.values()))
        return demo
    finally:
        orch.engine.dispose()


def _execute(orch: Orchestrator, run_ids: list[str], timeout: float = 120.0) -> None:
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, poll_seconds=0.1)
    executor.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = [run["status"] for run in orch.store.get_runs(run_ids)]
            if all(
                s in ("succeeded", "failed", "cancelled", "interrupted", "awaiting_input") for s in statuses
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the demo runs did not finish within {timeout:.0f} s: {statuses}")
    finally:
        executor.stop(grace=5)


def _run_id(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128)).hex


def _created(rng: random.Random, now: dt.datetime, i: int) -> dt.datetime:
    """Spread over 30 days, busier lately: a sixth in the last 24 h, a third in the last week."""
    if i % 6 == 0:
        ago = rng.uniform(0.05, 24) * 3600
    elif i % 3 == 0:
        ago = rng.uniform(1, 7) * 86400
    else:
        ago = rng.uniform(1, 30) * 86400
    return now - dt.timedelta(seconds=ago)


def _bulk_run(rng: random.Random, now: dt.datetime, i: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One finished run and its task rows."""
    run_id = _run_id(rng)
    created = _created(rng, now, i)
    status = rng.choices(["succeeded", "failed", "cancelled", "interrupted"], weights=[80, 12, 5, 3])[0]
    if i % 3 == 1:
        workflow, first, work, last = "plan_execute", "planner", "worker", "summarize"
        steps = rng.randint(2, 5)
        parallel = rng.randint(1, 3)
        input: dict[str, Any] = {"goal": rng.choice(GOALS), "max_tasks": 5, "max_parallel": parallel}
        mean = rng.uniform(0.2, 1.5)
    else:
        workflow, first, work, last = "simulate", "plan", "work", "summarize"
        steps = rng.choice([5, 10, 20, 40, 80])
        parallel = rng.choice([4, 8])
        delay = rng.choice([50, 100, 200])
        input = {"tasks": steps, "fail_rate": 0.0, "delay_ms": delay, "seed": i, "fan_out": parallel}
        mean = delay / 1000
    started = created + dt.timedelta(seconds=rng.uniform(0.05, 2))
    clock = started
    tasks = [
        _task(run_id, first, 0, clock, clock + dt.timedelta(seconds=rng.uniform(0.01, 0.2)), "succeeded")
    ]
    clock = tasks[0]["finished_at"]
    fail_at = rng.randrange(steps) if status == "failed" else -1
    stop_at = rng.randrange(steps) if status in ("cancelled", "interrupted") else steps
    lanes = [clock] * parallel
    for k in range(min(steps, stop_at)):
        lane = min(range(parallel), key=lanes.__getitem__)
        work_start = lanes[lane]
        end = work_start + dt.timedelta(seconds=mean * rng.uniform(0.5, 1.5))
        lanes[lane] = end
        outcome = "failed" if k == fail_at else "succeeded"
        task = _task(run_id, work, 1, clock, end, outcome, work_started_at=work_start)
        if outcome == "failed":
            task["error"] = f"RuntimeError: simulated failure in task {k}"
        tasks.append(task)
    clock = max(lanes)
    if status == "succeeded":
        tasks.append(
            _task(run_id, last, 2, clock, clock + dt.timedelta(seconds=rng.uniform(0.01, 0.1)), "succeeded")
        )
        clock = tasks[-1]["finished_at"]
    completed = sum(t["status"] == "succeeded" for t in tasks)
    failed = sum(t["status"] == "failed" for t in tasks)
    tags = rng.sample(TAGS, rng.choice([0, 1, 1, 2]))
    row: dict[str, Any] = {
        "run_id": run_id,
        "workflow": workflow,
        "status": status,
        "created_at": created,
        "started_at": started,
        "finished_at": clock + dt.timedelta(seconds=0.02),
        "tasks_total": len(tasks),
        "tasks_completed": completed,
        "tasks_failed": failed,
        "input": input,
        "tags": tags,
        "worker": f"worker-{i % 3 + 1}:{1000 + i % 7}",
        "launched_by": "nightly@ci" if "nightly" in tags else None,
        "error": _error(status, fail_at),
        "state_snapshot": {"summary": {"count": completed}} if status == "succeeded" else None,
    }
    return row, tasks


def _error(status: str, fail_at: int) -> str | None:
    if status == "failed":
        return f"RuntimeError: simulated failure in task {fail_at}\nTraceback (most recent call last):\n  ..."
    if status == "cancelled":
        return "Cancelled on request."
    if status == "interrupted":
        return "The executor stopped responding (no heartbeat for 30s); resume the run to continue."
    return None


def _big_run(rng: random.Random, now: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A simulate run of 1,000 tasks, 16 at a time, finished two hours ago."""
    run_id = _run_id(rng)
    started = now - dt.timedelta(hours=2)
    plan_end = started + dt.timedelta(seconds=0.15)
    tasks = [_task(run_id, "plan", 0, started, plan_end, "succeeded")]
    lanes = [plan_end] * 16
    for k in range(BIG_RUN_TASKS):
        lane = min(range(16), key=lanes.__getitem__)
        end = lanes[lane] + dt.timedelta(seconds=0.1 * rng.uniform(0.5, 1.5))
        outcome = "failed" if k in (417, 802) else "succeeded"
        tasks.append(_task(run_id, "work", 1, plan_end, end, outcome, work_started_at=lanes[lane]))
        lanes[lane] = end
    last = max(lanes)
    tasks.append(_task(run_id, "summarize", 2, last, last + dt.timedelta(seconds=0.05), "succeeded"))
    row = {
        "run_id": run_id,
        "workflow": "simulate",
        "status": "failed",
        "created_at": started - dt.timedelta(seconds=0.5),
        "started_at": started,
        "finished_at": tasks[-1]["finished_at"],
        "tasks_total": len(tasks),
        "tasks_completed": len(tasks) - 2,
        "tasks_failed": 2,
        "input": {"tasks": BIG_RUN_TASKS, "fail_rate": 0.002, "delay_ms": 100, "seed": 42, "fan_out": 16},
        "tags": ["load-test", "big"],
        "worker": "worker-1:1000",
        "launched_by": None,
        "error": "RuntimeError: simulated failure in task 417",
        "state_snapshot": None,
    }
    return row, tasks


def _task(
    run_id: str,
    node: str,
    step: int,
    started: dt.datetime,
    finished: dt.datetime,
    status: str,
    *,
    work_started_at: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "task_id": str(uuid.uuid4()),
        "attempt": 1,
        "node": node,
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "error": None,
        "step": step,
        "work_started_at": work_started_at,
    }


def main() -> int:
    """`python -m scripts.demo_data`: seed the configured database (CHECKPOINT_MODE, SQLITE_PATH,
    POSTGRES_URI, or `.env`) with the demo data set and say what it added."""
    config = OrchestratorConfig()
    config.validate()
    print(f"Seeding the demo data set into {config!r} (the real runs take a few seconds)…")
    demo = seed_demo(config)
    print(
        f"Added {len(demo.bulk)} runs (one of {BIG_RUN_TASKS} tasks, `{demo.big_run}`) and "
        f"{len(demo.real)} runs executed for real; the one waiting for approval: {demo.real['waiting']}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
