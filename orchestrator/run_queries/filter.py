"""RunFilter: the runs page's filters as a checked value, and the parts it is made of.

No SQL here: `orchestrator.run_queries.statements` says what each part means in SQL, and a
planner (one per database) chooses how the database reads it. A part names the `Field` it tests;
a page is sorted by a `Field` too. A field is a column of `runs` or a dotted path into one of
its JSON columns (`input.tasks`, `state.summary.total`, `metrics.accuracy`; fields.py), which a
field filter (`Where`, `RunFilter.where`) tests.

    >>> RunFilter(statuses=["failed"], tasks_total_min=10).part_names()
    ('status', 'tasks_total')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from orchestrator.errors import InputError
from orchestrator.run_queries.fields import Field, Where, parse_where
from orchestrator.status import ALL_STATUSES
from orchestrator.validation import check_count, check_name, check_search, check_time, shown

TASK_COUNTS = ("tasks_total", "tasks_completed", "tasks_failed")
# What a run's model calls and logs add up to (migration 0018 keeps them on the run's row):
# whole numbers (`tokens`: input + output tokens, statements.TOKENS) and the cost in US dollars.
USAGE_COUNTS = ("tokens", "model_calls", "warnings", "errors")
COST = "cost_usd"
# Every range filter (`<name>_min`, `<name>_max`), in the order its statements test them.
RANGES = (*TASK_COUNTS, *USAGE_COUNTS, COST)


@dataclass(frozen=True)
class OneOf:
    """The field's value is one of `values` (statuses, workflows)."""

    name: str
    field: Field
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Equals:
    """The field's value is `value` (who launched the run)."""

    name: str
    field: Field
    value: Any


@dataclass(frozen=True)
class Between:
    """The field's value is at least `low` and at most `high` (below it, unless `high_inclusive`);
    None leaves that end open (task counts: both ends inclusive; created: up to, not including)."""

    name: str
    field: Field
    low: Any
    high: Any
    high_inclusive: bool = True


@dataclass(frozen=True)
class Contains:
    """The run's id, tags or input contain `text`, in any case (the search box)."""

    text: str
    name: str = "text"


FilterPart = OneOf | Equals | Between | Contains | Where
MAX_WHERE = 10


@dataclass(frozen=True)
class RunFilter:
    """The dashboard's filters; empty or None means "no filter on this".

    Checked when made (one sentence per bad value, orchestrator.validation), then never changed:
    lists become tuples, so equal filters are equal values and hash alike (the planners keep
    their statements and leads by filter)."""

    statuses: Sequence[str] = ()
    workflows: Sequence[str] = ()
    tasks_total_min: int | None = None
    tasks_total_max: int | None = None
    tasks_completed_min: int | None = None
    tasks_completed_max: int | None = None
    tasks_failed_min: int | None = None
    tasks_failed_max: int | None = None
    tokens_min: int | None = None
    tokens_max: int | None = None
    model_calls_min: int | None = None
    model_calls_max: int | None = None
    warnings_min: int | None = None
    warnings_max: int | None = None
    errors_min: int | None = None
    errors_max: int | None = None
    cost_usd_min: float | None = None
    cost_usd_max: float | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    text: str = ""
    launched_by: str | None = None
    # Field filters (fields.py): `input.tasks >= 100`, as Where values or their text.
    where: Sequence[Where | str] = ()

    def __post_init__(self) -> None:
        """Check every filter against the package's limits (orchestrator.validation): one sentence each."""

        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if isinstance(self.statuses, str) or isinstance(self.workflows, str):
            raise InputError("statuses and workflows must be lists of names, not a single text.")
        put("statuses", tuple(check_name(s, "A status") for s in self.statuses))
        unknown = [s for s in self.statuses if s not in ALL_STATUSES]
        if unknown:
            raise InputError(f"Unknown status {shown(unknown[0])}; choose from {', '.join(ALL_STATUSES)}.")
        put("workflows", tuple(check_name(w, "A workflow name") for w in self.workflows))
        for name in (*TASK_COUNTS, *USAGE_COUNTS):
            for bound in ("min", "max"):
                value = getattr(self, f"{name}_{bound}")
                if value is not None:
                    put(f"{name}_{bound}", check_count(value, f"{name}_{bound}"))
        for bound in ("min", "max"):
            value = getattr(self, f"{COST}_{bound}")
            if value is not None:
                put(f"{COST}_{bound}", check_cost(value, f"{COST}_{bound}"))
        if self.created_from is not None:
            put("created_from", check_time(self.created_from, "The created-from time"))
        if self.created_to is not None:
            put("created_to", check_time(self.created_to, "The created-to time"))
        put("text", check_search(self.text))
        if self.launched_by is not None:
            put("launched_by", check_name(self.launched_by, "launched_by"))
        if isinstance(self.where, str | Where):
            put("where", (self.where,))
        tests = tuple(dict.fromkeys(parse_where(w) for w in self.where))
        if len(tests) > MAX_WHERE:
            raise InputError(f"{len(tests)} field filters given; use at most {MAX_WHERE}.")
        put("where", tests)

    @cached_property
    def _parts(self) -> dict[str, FilterPart]:
        found: dict[str, FilterPart] = {}
        if self.statuses:
            found["status"] = OneOf("status", Field("status"), tuple(self.statuses))
        if self.workflows:
            found["workflow"] = OneOf("workflow", Field("workflow"), tuple(self.workflows))
        for name in RANGES:
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if low is not None or high is not None:
                found[name] = Between(name, Field(name), low, high)
        if self.launched_by is not None:
            found["launched_by"] = Equals("launched_by", Field("launched_by"), self.launched_by)
        if self.created_from is not None or self.created_to is not None:
            found["created"] = Between(
                "created", Field("created_at"), self.created_from, self.created_to, high_inclusive=False
            )
        if self.text:
            found["text"] = Contains(self.text)
        for test in self.where:
            found[test.name] = test  # type: ignore[union-attr,assignment]  # a Where once checked
        return found

    def parts(self) -> dict[str, FilterPart]:
        """Each filter that is set, by its name (the planners' handle), in PART_NAMES order."""
        return self._parts

    def part_names(self) -> tuple[str, ...]:
        return tuple(self._parts)


# Every part a RunFilter can have, in the order its statements test them.
PART_NAMES = (
    "status",
    "workflow",
    "tasks_total",
    "tasks_completed",
    "tasks_failed",
    *USAGE_COUNTS,
    COST,
    "launched_by",
    "created",
    "text",
)  # then each field filter (`where`), named as written


# A cost filter's bounds: dollars from 0 up to this (a typo such as 1e300 is refused, not matched).
MAX_COST = 1e9


def check_cost(value: Any, name: str) -> float:
    """A cost in US dollars, from 0 to MAX_COST, or InputError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_COST:
        raise InputError(f"{name} must be a number of US dollars from 0 to {MAX_COST:,.0f}.")
    return float(value)


def parse_cost(raw: str, name: str) -> float:
    """A cost typed as text (a CLI flag, a URL parameter): a plain decimal number of dollars
    (`0.25`, `$0.25`), in range; InputError naming `name` otherwise."""
    text = raw.strip().removeprefix("$")
    if not re.fullmatch(r"\d{1,10}(\.\d{0,12})?|\.\d{1,12}", text):
        raise InputError(f"{name} must be a number of US dollars such as 0.25, not {shown(raw)}.")
    return check_cost(float(text), name)


def checked_filter(filters: RunFilter | None) -> RunFilter:
    """The filter, or the empty one for None; InputError for anything else."""
    if filters is not None and not isinstance(filters, RunFilter):
        raise InputError("filters must be a RunFilter.")
    return filters if filters is not None else NO_FILTER


NO_FILTER = RunFilter()


def empty_ranges(filters: RunFilter) -> list[str]:
    """The ranges (`RANGES` names: task counts, usage, cost) whose minimum is above their maximum:
    a range no run can be in, which a person means to hear about rather than see nothing match."""
    return [
        name
        for name in RANGES
        if (low := getattr(filters, f"{name}_min")) is not None
        and (high := getattr(filters, f"{name}_max")) is not None
        and low > high
    ]
