"""What the tasks of a period add up to per node (the overview's node figures), from the node
rollup: whole days, the hours around them and the deltas not folded yet (the whole UTC hours the
period touches). A task's time is its work (migration 0014), NO_WORK_BIN when it has none."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select, union_all

from orchestrator.db.schema import (
    NO_WORK_BIN,
    node_days,
    node_days_all,
    node_deltas,
    node_hours,
    node_hours_all,
)
from orchestrator.rollup.bins import Bins, load_bins, percentiles


@dataclass
class NodeTally:
    """What the tasks started in a period add up to, per node: by the bin of their work time
    (NO_WORK_BIN for tasks without one yet or at all) [tasks, their seconds' sum], and failed
    tasks; `duration_bins` are those bins."""

    duration_bins: Bins
    bins: dict[str, dict[int, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    )
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def whole_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The whole UTC hours [start, end) touches: node figures are kept per hour."""
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(dt.UTC)
    if last != last.replace(minute=0, second=0, microsecond=0):
        last = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return first, last


def _hour_key(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H")


def node_tally(
    engine: Engine, start: dt.datetime, end: dt.datetime, workflows: Sequence[str] = ()
) -> NodeTally:
    """Add up the tasks started in the whole UTC hours [start, end) touches (of runs of
    `workflows`, or all): whole days from `node_days`, other hours from `node_hours`, and the
    deltas not yet folded."""
    first, last = whole_hours(start, end)
    day_first = (first + dt.timedelta(hours=23)).replace(hour=0)
    day_last = last.replace(hour=0)
    parts = []

    def of(table: Any, key: Any, low: str, high: str) -> Any:
        conds = [key >= low, key < high]
        if workflows:
            conds.append(table.c.workflow.in_(list(workflows)))
        return select(table.c.node, table.c.bin, table.c.tasks, table.c.failed, table.c.seconds).where(*conds)

    # Every workflow: the rollups kept without the workflow (a few times fewer rows).
    days, hours = (node_days, node_hours) if workflows else (node_days_all, node_hours_all)
    if day_first < day_last:
        parts.append(of(days, days.c.day, day_first.strftime("%Y-%m-%d"), day_last.strftime("%Y-%m-%d")))
        hour_ranges = [(first, day_first), (day_last, last)]
    else:
        hour_ranges = [(first, last)]
    for low, high in hour_ranges:
        if low < high:
            parts.append(of(hours, hours.c.hour, _hour_key(low), _hour_key(high)))
    parts.append(of(node_deltas, node_deltas.c.hour, _hour_key(first), _hour_key(last)))
    rows = union_all(*parts).subquery()
    r = rows.c
    stmt = select(r.node, r.bin, func.sum(r.tasks), func.sum(r.failed), func.sum(r.seconds)).group_by(
        r.node, r.bin
    )
    result = NodeTally(load_bins(engine))
    with engine.connect() as conn:
        for node, index, tasks, failed, seconds in conn.execute(stmt):
            if not tasks:
                continue
            binned = result.bins[node][int(index)]
            binned[0] += int(tasks)
            binned[1] += float(seconds)
            result.failed[node] += int(failed)
    return result


def node_figures(tally: NodeTally) -> list[dict[str, Any]]:
    """Per node: tasks, failed, failure rate, mean and p95 seconds (of its finished tasks)."""
    figures = []
    for node, bins in tally.bins.items():
        tasks = sum(int(n) for n, _ in bins.values())
        finished = [(index, int(n), total) for index, (n, total) in bins.items() if index != NO_WORK_BIN]
        done = sum(n for _, n, _ in finished)
        failed = tally.failed.get(node, 0)
        figures.append(
            {
                "node": node,
                "tasks": tasks,
                "failed": failed,
                "failure_rate": failed / tasks if tasks else 0.0,
                "mean_seconds": sum(total for _, _, total in finished) / done if done else None,
                "p95_seconds": percentiles(finished, tally.duration_bins, "duration", (0.95,)).get(0.95),
            }
        )
    return figures
