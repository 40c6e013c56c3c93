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
    "run_id", "workflow", "status", "created_at", "started_at", "finished_at", "duration_seconds",
    "tasks_total", "tasks_completed", "tasks_failed", "input", "tags", "launched_by",
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
