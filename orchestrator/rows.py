"""Typed rows: what crosses a module boundary from the `runs` and `run_tasks` tables.

`RunStore` returns these; the pages, the CLI and `compare` read them. They are plain dicts at
run time (a `TypedDict` costs nothing), so `json.dumps(row, default=str)` and pandas work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypedDict


class RunSummary(TypedDict):
    """A run as the runs list shows it (no input or state: they can be large)."""

    run_id: str
    workflow: str
    status: str  # orchestrator.status.RunStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # First start to last finish, and the attempts' running time (orchestrator.runs: while the
    # run goes, the figures so far).
    wall_seconds: float | None
    work_seconds: float | None
    tasks_planned: int | None  # what the workflow said the run will have; None: not known
    tasks_total: int
    tasks_completed: int
    tasks_failed: int
    tags: list[str] | None
    worker: str | None
    heartbeat_at: dt.datetime | None
    launched_by: str | None
    # What its model calls and logs add up to (orchestrator.observe; migration 0018): `tokens` is
    # input + output tokens, `cost_usd` US dollars from the configured prices.
    model_calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float
    warnings: int
    errors: int


class RunRow(RunSummary):
    """Every column of one run."""

    input: dict[str, Any] | None
    state_snapshot: Any
    error: str | None
    cancel_requested: bool
    resume_value: dict[str, Any] | None
    rerun_of: str | None
    attempt: int
    auto_retries: int
    config: dict[str, Any] | None
    parent_run_id: str | None
    parent_checkpoint_id: str | None
    parent_step: int | None
    preset: str | None
    attempt_started_at: dt.datetime | None
    note: str | None  # markdown, written after launch


class TaskRow(TypedDict):
    """One task (one execution of a node) of a run; `work_seconds` and `wait_seconds` are computed
    when read."""

    run_id: str
    task_id: str
    node: str
    status: str  # orchestrator.status.TaskStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None
    step: int | None
    attempt: int
    work_started_at: dt.datetime | None
    # finished_at - (work_started_at or started_at): its work, not its wait for a slot (None
    # while it waits or works, or when it was cancelled before its work began).
    work_seconds: float | None
    # work_started_at - started_at: its wait for a slot.
    wait_seconds: float | None


@dataclass
class RunPage:
    """One page of runs and the number of runs that match the filter."""

    rows: list[RunSummary]
    total: int
