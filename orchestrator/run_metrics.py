"""A team's own metrics: `record_metric(name, value)` inside a node, kept per run.

Called in a node of a run the orchestrator executes, it finds the run by LangGraph's config
(`configurable.thread_id` is the run id) and hands the value to that run's TaskRecorder, which
writes it with its next batch of task events (at most task_recorder.FLUSH_SECONDS later, and
before the run's end is written) through the run's `FencedRun`, the only writes an executor
holds (fenced_run.py): rows of `run_metrics` (run_id, name, step, value, at) and each name's
latest value on `runs.metrics`, in one transaction conditional on the executor's claim. An
executor that lost the run writes nothing (ClaimLost, as for its task rows). A node does not
write itself: from the event loop its write would wait on the savers' (SQLite has one writer).

Why a JSON column on `runs` for the latest values, rather than a subquery on `run_metrics` per
run: `metrics.accuracy` is then a field like `input.tasks` (fields.py): filtered, sorted, shown
and indexed by the same expressions, with no join on the runs page's reads.

    def evaluate(state):
        record_metric("accuracy", 0.93)
        for i, loss in enumerate(losses):
            record_metric("loss", loss, step=i)    # a series, charted on run detail
        return state
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InputError, OrchestratorError
from orchestrator.run_queries.fields import KEY
from orchestrator.validation import MAX_COUNT, shown

if TYPE_CHECKING:
    from orchestrator.task_recorder import TaskRecorder

_lock = threading.Lock()
_runs: dict[str, TaskRecorder] = {}


def open_metrics(run_id: str, recorder: TaskRecorder) -> None:
    """Let the nodes of this executing run record metrics (the executor, around the graph)."""
    with _lock:
        _runs[run_id] = recorder


def close_metrics(run_id: str) -> None:
    with _lock:
        _runs.pop(run_id, None)


def checked_metric(name: Any, value: Any, step: Any) -> tuple[str, float, int | None]:
    """A metric's name (a key of `metrics.<name>`), a finite number and a step; InputError else."""
    if not isinstance(name, str) or not KEY.fullmatch(name):
        raise InputError(
            f"A metric name is letters, digits or _ (not starting with a digit, at most 64), not {shown(name)}."
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"Metric {name}'s value must be a finite number, not {shown(value)}.")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_COUNT
    ):
        raise InputError(f"Metric {name}'s step must be a whole number from 0, not {shown(step)}.")
    return name, float(value), step


def record_metric(name: str, value: float, *, step: int | None = None) -> None:
    """Record `value` for the metric `name` of the run this node belongs to.

    `step`: its place in a series (default: one past the name's last step, from 0). Recording a
    step again replaces its value. The run's `metrics.<name>` field is the value of its highest
    step. Raises OrchestratorError outside a node of a run the orchestrator executes."""
    from langgraph.config import get_config

    name, number, step = checked_metric(name, value, step)
    try:
        run_id = get_config()["configurable"]["thread_id"]
    except (RuntimeError, KeyError) as exc:
        raise OrchestratorError(
            "record_metric works inside a node of a run the orchestrator executes."
        ) from exc
    with _lock:
        run = _runs.get(str(run_id))
    if run is None:
        raise OrchestratorError(
            f"Run {run_id} is not executing in this process; record_metric works inside its nodes."
        )
    run.add_metric(name, number, step)
