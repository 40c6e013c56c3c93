"""The seeded runs: one generator with a fixed seed, the same rows on every backend (and in
MLflow's store). Standard library only, so MLflow's own venv can import it too."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

WORKFLOWS = ["simulate", "plan_execute", "etl_nightly", "rag_eval", "support_triage"]
STATUSES = ["queued", "running", "awaiting_input", "succeeded", "failed", "cancelled", "interrupted"]
WEIGHTS = [1, 2, 1, 80, 10, 3, 3]
PEOPLE = ["ana", "bo", "chen", "dee", None]
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
DAYS = 90
COLUMNS = (
    "run_id", "workflow", "status", "created_at", "started_at", "finished_at", "wall_seconds",
    "work_seconds", "tasks_total", "tasks_completed", "tasks_failed", "input", "tags", "launched_by",
    "cancel_requested", "attempt", "auto_retries",
)  # fmt: skip


def generate(n: int, seed: int = 7) -> Iterator[tuple]:
    """N run rows as tuples in COLUMNS order (datetimes aware, JSON as Python values)."""
    rng = random.Random(seed)
    choices = rng.choices
    for i in range(n):
        created = NOW - dt.timedelta(seconds=rng.randrange(DAYS * 86400))
        status = choices(STATUSES, WEIGHTS)[0]
        total = rng.randrange(1, 1000)
        failed = rng.randrange(1, 12) if rng.random() < 0.2 else 0
        started = created + dt.timedelta(seconds=1) if status != "queued" else None
        duration = (
            rng.expovariate(1 / 30) if status in ("succeeded", "failed", "cancelled", "interrupted") else None
        )
        finished = started + dt.timedelta(seconds=duration) if started and duration is not None else None
        yield (
            uuid.UUID(int=rng.getrandbits(128)).hex,
            WORKFLOWS[i % 5] if rng.random() < 0.5 else rng.choice(WORKFLOWS),
            status,
            created,
            started,
            finished,
            duration if started else None,
            # Its work: a part of its wall time fixed by its index (no draw: the same rows as before).
            duration * (0.5 + (i % 50) / 100) if started and duration is not None else None,
            total,
            max(total - failed, 0),
            failed,
            {"tasks": total, "seed": i, "note": f"batch {i % 1000}"},
            [f"nightly-{i % 50}"] if i % 3 == 0 else [],
            PEOPLE[i % 5],
            False,
            1,
            0,
        )


TASKS_PER_RUN = 10
NODES = ["plan", "retrieve", "work", "grade", "summarize"]
TASK_COLUMNS = ("run_id", "task_id", "attempt", "node", "status", "started_at", "finished_at", "step")


def generate_tasks(n: int, seed: int = 11) -> Iterator[tuple]:
    """TASKS_PER_RUN task rows (TASK_COLUMNS order, datetimes aware) for each of the n runs of
    `generate(n)` that started: one a second from its start; a running run's last is running."""
    rng = random.Random(seed)
    for row in generate(n):
        run_id, status, started = row[0], row[2], row[4]
        if started is None:
            continue
        for k in range(TASKS_PER_RUN):
            begun = started + dt.timedelta(seconds=k)
            running = status in ("running", "awaiting_input") and k == TASKS_PER_RUN - 1
            failed = not running and rng.random() < 0.05
            finished = None if running else begun + dt.timedelta(seconds=rng.expovariate(1 / 3))
            yield (
                run_id,
                f"{run_id[:8]}-{k}",
                1,
                NODES[k % len(NODES)],
                "running" if running else "failed" if failed else "succeeded",
                begun,
                finished,
                k,
            )
