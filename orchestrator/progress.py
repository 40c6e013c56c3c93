"""How far a run's tasks have come, in one definition for every view (run detail, the launch
page's cards, the runs table, the CLI).

A run's task count grows while it goes: a node's fan-out is known only when the node before it
has run (`simulate` with 40 tasks has 1, then 41, then 42). A fraction of the tasks started so
far would reach 100 % and fall back. So a going run shows a fraction only of the tasks its
workflow planned (`WorkflowSpec.planned_tasks`, stored as `tasks_planned`), which never goes
back; without a plan it says how many completed of how many started so far, and no fraction.
An ended run's fraction is of its tasks as recorded.

    >>> run_progress({"status": "running", "tasks_completed": 41, "tasks_total": 41,
    ...               "tasks_failed": 0, "tasks_planned": 42}).fraction
    0.9761904761904762
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.status import FINAL


@dataclass(frozen=True)
class Progress:
    """`completed` tasks of `of`; `fraction` is None while the number to come is not known."""

    completed: int
    of: int
    fraction: float | None
    text: str


def run_progress(run: Mapping[str, Any]) -> Progress:
    """The progress of a run row (it needs status, tasks_total, tasks_completed, tasks_planned)."""
    completed, total = int(run["tasks_completed"] or 0), int(run["tasks_total"] or 0)
    planned = run.get("tasks_planned")
    noun = "task" if total == 1 else "tasks"
    if run["status"] in FINAL:
        fraction = completed / total if total else None
        return Progress(completed, total, fraction, f"{completed} of {total} {noun} completed")
    if planned is not None:
        of = max(int(planned), completed)
        return Progress(
            completed, of, completed / of if of else None, f"{completed} of {of} planned tasks completed"
        )
    return Progress(
        completed, total, None, f"{completed} of the {total} {noun} started so far completed; more may follow"
    )
