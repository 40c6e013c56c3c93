"""The case matrix, generated: each filter alone, each pair, every count range with every status,
text search, every sort both ways, deep pages. Matches are counted when measured, so each case is
labelled broad (>= 30 % of rows) or narrow (< 0.1 %) by the data, not by a guess.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from bench.data import NOW, STATUSES
from orchestrator.run_queries import SORT_COLUMNS, RunFilter


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str = "created_at"
    descending: bool = True
    offset: int = 0

    def run_filter(self) -> RunFilter:
        return RunFilter(**self.filters)


def _day(days_ago: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


# Per filter: a broad value first, then narrower ones (names say what the value is).
DIMENSIONS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "status": [
        ("status=succeeded", {"statuses": ["succeeded"]}),
        ("status=failed", {"statuses": ["failed"]}),
        ("status=queued", {"statuses": ["queued"]}),
    ],
    "workflow": [
        ("workflow=rag_eval", {"workflows": ["rag_eval"]}),
        ("workflow in (rag_eval, simulate)", {"workflows": ["rag_eval", "simulate"]}),
    ],
    "tasks_total": [
        ("tasks_total>100", {"tasks_total_min": 101}),
        ("tasks_total 500..504", {"tasks_total_min": 500, "tasks_total_max": 504}),
        ("tasks_total>=999", {"tasks_total_min": 999}),
    ],
    "tasks_completed": [
        ("tasks_completed<=900", {"tasks_completed_max": 900}),
        ("tasks_completed 10..19", {"tasks_completed_min": 10, "tasks_completed_max": 19}),
    ],
    "tasks_failed": [
        ("tasks_failed>=1", {"tasks_failed_min": 1}),
        ("tasks_failed 5..10", {"tasks_failed_min": 5, "tasks_failed_max": 10}),
        ("tasks_failed>=11", {"tasks_failed_min": 11}),
    ],
    "created": [
        ("created last 30 days", {"created_from": _day(30)}),
        ("created one day", {"created_from": _day(3), "created_to": _day(2)}),
    ],
    "text": [
        ("text 'nightly'", {"text": "nightly"}),
        ("text 'nightly-7'", {"text": "nightly-7"}),
        ("text 'batch 12'", {"text": "batch 12"}),
        ("text 'zzqx' (none)", {"text": "zzqx"}),
    ],
    "launched_by": [
        ("launched_by=ana", {"launched_by": "ana"}),
    ],
    # A field of the input (an expression index, migration 0017): input.tasks = tasks_total here.
    "field": [
        ("input.tasks>100", {"where": ["input.tasks > 100"]}),
        ("input.tasks>=990", {"where": ["input.tasks >= 990"]}),
    ],
}
# Sorts by a field as well as by every column.
FIELD_SORTS = ("input.tasks",)

# Every count range is met with every status.
COUNT_RANGES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "tasks_total": [
        ("tasks_total>100", {"tasks_total_min": 101}),
        ("tasks_total<=10", {"tasks_total_max": 10}),
        ("tasks_total>=990", {"tasks_total_min": 990}),
    ],
    "tasks_completed": [
        ("tasks_completed>=500", {"tasks_completed_min": 500}),
        ("tasks_completed 100..109", {"tasks_completed_min": 100, "tasks_completed_max": 109}),
    ],
    "tasks_failed": [
        ("tasks_failed>=1", {"tasks_failed_min": 1}),
        ("tasks_failed>=10", {"tasks_failed_min": 10}),
    ],
}


def generate(n_runs: int, *, smoke: bool = False) -> list[Case]:
    """Every case of the matrix (a smaller one with `smoke`)."""
    cases = [Case("no filter", "none")]
    for dim, values in DIMENSIONS.items():
        cases += [Case(name, f"alone:{dim}", filters) for name, filters in values]
    for (dim_a, values_a), (dim_b, values_b) in itertools.combinations(DIMENSIONS.items(), 2):
        # the broadest value of each with the broadest of the other, and the narrowest with the narrowest
        picks = [(values_a[0], values_b[0])]
        if not smoke and (len(values_a) > 1 or len(values_b) > 1):
            picks.append((values_a[-1], values_b[-1]))
        for (name_a, fa), (name_b, fb) in picks:
            cases.append(Case(f"{name_a} & {name_b}", f"pair:{dim_a}+{dim_b}", {**fa, **fb}))
    for count, ranges in COUNT_RANGES.items():
        for (name, filters), status in itertools.product(ranges, STATUSES):
            if smoke and status not in ("succeeded", "failed"):
                continue
            cases.append(
                Case(f"status={status} & {name}", f"range:{count}", {"statuses": [status], **filters})
            )
    for sort in (*SORT_COLUMNS, *FIELD_SORTS):
        for descending in (True, False):
            cases.append(Case(f"sort {sort} {'desc' if descending else 'asc'}", "sort", {}, sort, descending))
        cases.append(
            Case(f"status=succeeded, sort {sort} desc", "sort+filter", {"statuses": ["succeeded"]}, sort)
        )
    deep = [min(10_000, n_runs // 2), min(100_000, n_runs // 2)]
    for offset in dict.fromkeys(deep):
        cases.append(Case(f"deep page, offset {offset:,}", "deep", {}, offset=offset))
        cases.append(
            Case(
                f"deep page, status=succeeded, offset {offset:,}",
                "deep",
                {"statuses": ["succeeded"]},
                offset=offset,
            )
        )
    return cases
