"""A run's status, and what may be done to a run in each status.

    >>> RunStatus.RUNNING in ACTIVE
    True
    >>> Action.RESUME in allowed_actions(RunStatus.FAILED)
    True

Statuses are stored as their text value; `RunStatus` is a `StrEnum`, so a member equals its
text (`RunStatus.FAILED == "failed"`) and can be used wherever a status string is expected.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life: queued → running → (awaiting_input →) a final status."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_INPUT = "awaiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class TaskStatus(StrEnum):
    """Where one task (one node execution) is in its life.

    LangGraph schedules a task and starts it at once (its row's `started_at`); a task of a node
    bounded by `workflows.limits.slot` may first wait for a slot. Then it works, and may stop to
    wait for a person (`interrupt()`); it ends succeeded or failed, interrupted (stopped while it
    worked: a crash, a cancel, a shutdown) or cancelled (stopped before its work began).
    """

    WAITING = "waiting"  # for a concurrency slot; not working yet
    RUNNING = "running"  # working
    AWAITING_INPUT = "awaiting_input"  # asked a person (interrupt()) and waits for the answer
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped while it worked
    CANCELLED = "cancelled"  # stopped before its work began (or while it waited for a person)


# A task that is neither working nor ended: it waits for a slot or for a person.
TASK_WAITING: frozenset[TaskStatus] = frozenset({TaskStatus.WAITING, TaskStatus.AWAITING_INPUT})
# Ended: `finished_at` is set and nothing more happens to this execution of the task.
TASK_ENDED: frozenset[TaskStatus] = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.INTERRUPTED, TaskStatus.CANCELLED}
)


class Action(StrEnum):
    """What people do to a run (the package's operations; the pages' buttons)."""

    CANCEL = "cancel"
    RESUME = "resume"
    APPROVE = "approve"
    REJECT = "reject"
    RERUN = "rerun"
    LAUNCH_AGAIN = "launch_again"
    DELETE = "delete"
    TAG = "tag"  # edit the tags or the note (run_notes): in any status


ALL_STATUSES: tuple[RunStatus, ...] = tuple(RunStatus)
# Going: an executor holds it, or will, or it waits for a person.
ACTIVE: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING_INPUT})
# Ended: `finished_at` is set. An interrupted or failed run may still be resumed.
FINAL: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}
)

_ALWAYS = frozenset({Action.RERUN, Action.LAUNCH_AGAIN, Action.TAG})
_ALLOWED: dict[RunStatus, frozenset[Action]] = {
    RunStatus.QUEUED: _ALWAYS | {Action.CANCEL},
    RunStatus.RUNNING: _ALWAYS | {Action.CANCEL},
    RunStatus.AWAITING_INPUT: _ALWAYS | {Action.CANCEL, Action.APPROVE, Action.REJECT, Action.DELETE},
    RunStatus.SUCCEEDED: _ALWAYS | {Action.DELETE},
    RunStatus.FAILED: _ALWAYS | {Action.RESUME, Action.DELETE},
    RunStatus.CANCELLED: _ALWAYS | {Action.DELETE},
    RunStatus.INTERRUPTED: _ALWAYS | {Action.CANCEL, Action.RESUME, Action.DELETE},
}


def allowed_actions(status: str) -> frozenset[Action]:
    """The actions that apply to a run in `status` (an unknown status allows none)."""
    try:
        return _ALLOWED[RunStatus(status)]
    except ValueError:
        return frozenset()


def statuses_allowing(action: Action) -> list[RunStatus]:
    """The statuses in which `action` applies, in lifecycle order (for SQL `status IN (...)`).

    The package's operations take their conditions from here, and the pages their buttons from
    `allowed_actions`: one table for both."""
    return [status for status in RunStatus if action in _ALLOWED[status]]


# How a refusal names an action and the statuses that allow it ("only queued, running, waiting
# or interrupted runs can be cancelled").
_DONE = {
    Action.CANCEL: "cancelled",
    Action.RESUME: "resumed",
    Action.APPROVE: "answered",
    Action.REJECT: "rejected",
    Action.DELETE: "deleted",
}
_WORDS = {RunStatus.AWAITING_INPUT: "waiting", RunStatus.QUEUED: "queued"}
# How a refusal says where the run stands ("has already succeeded", not "is succeeded").
_NOW: dict[str, str] = {
    RunStatus.AWAITING_INPUT: "is waiting for an answer",
    RunStatus.SUCCEEDED: "has already succeeded",
    RunStatus.FAILED: "has failed",
    RunStatus.CANCELLED: "was cancelled",
    RunStatus.INTERRUPTED: "was interrupted",
}


def standing(status: str) -> str:
    """Where a run stands, for a sentence: "has already succeeded", "was cancelled", "is running"."""
    return _NOW.get(status, f"is {status}")


def refusal(run_id: str, status: str, action: Action) -> str:
    """One sentence: the run's status does not allow `action`, and which statuses do."""
    allowed = [_WORDS.get(s, str(s)) for s in statuses_allowing(action)]
    listed = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    now = standing(status)
    return f"Run {run_id} {now}; only {listed} runs can be {_DONE.get(action, str(action))}."


# The reason a run cancelled by a person carries (its `error` column: why it ended).
CANCELLED_ON_REQUEST = "Cancelled on request."
