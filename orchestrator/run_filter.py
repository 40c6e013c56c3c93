"""RunFilter: the runs page's filters, checked, and the SQL each filter is.

Each filter that is set is a *part* (status, workflow, a task count, launched_by, created,
text), spelled with its index or without it (SQLite's `+column`), so that a plan
(orchestrator.run_plans) can choose which one an index serves. RunStore (orchestrator.runs) builds
its page and count statements from these.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal, literal_column, or_, select
from sqlalchemy.sql.util import ClauseAdapter

from orchestrator.db import (
    json_text,
    runs,
    searchable,
    sqlite_search_rowids,
    sqlite_search_rows,
    text_search,
    unindexed,
)
from orchestrator.errors import InputError
from orchestrator.status import ALL_STATUSES
from orchestrator.validation import check_count, check_name, check_search, check_time, shown

TASK_COUNTS = ("tasks_total", "tasks_completed", "tasks_failed")


@dataclass
class RunFilter:
    """The dashboard's filters; empty or None means "no filter on this"."""

    statuses: Sequence[str] = ()
    workflows: Sequence[str] = ()
    tasks_total_min: int | None = None
    tasks_total_max: int | None = None
    tasks_completed_min: int | None = None
    tasks_completed_max: int | None = None
    tasks_failed_min: int | None = None
    tasks_failed_max: int | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    text: str = ""
    launched_by: str | None = None

    def __post_init__(self) -> None:
        """Check every filter against the package's limits (orchestrator.validation): one sentence each."""
        if isinstance(self.statuses, str) or isinstance(self.workflows, str):
            raise InputError("statuses and workflows must be lists of names, not a single text.")
        self.statuses = [check_name(s, "A status") for s in self.statuses]
        unknown = [s for s in self.statuses if s not in ALL_STATUSES]
        if unknown:
            raise InputError(f"Unknown status {shown(unknown[0])}; choose from {', '.join(ALL_STATUSES)}.")
        self.workflows = [check_name(w, "A workflow name") for w in self.workflows]
        for name in TASK_COUNTS:
            for bound in ("min", "max"):
                value = getattr(self, f"{name}_{bound}")
                if value is not None:
                    setattr(self, f"{name}_{bound}", check_count(value, f"{name}_{bound}"))
        if self.created_from is not None:
            self.created_from = check_time(self.created_from, "The created-from time")
        if self.created_to is not None:
            self.created_to = check_time(self.created_to, "The created-to time")
        self.text = check_search(self.text)
        if self.launched_by is not None:
            self.launched_by = check_name(self.launched_by, "launched_by")

    def parts(self) -> dict[str, list[Any]]:
        """Each filter that is set, by name (see run_plans), as its WHERE clauses with bound parameters."""
        return self._parts(frozenset(PART_NAMES))

    def probed_parts(self) -> list[str]:
        """The filters that have an index to count their matches on alone (run_plans)."""
        return [name for name in self._parts(frozenset()) if name != "text" or searchable(self.text.strip())]

    def _parts(self, indexed: frozenset[str]) -> dict[str, list[Any]]:
        def col(name: str, column: Any) -> Any:
            return column if name in indexed else unindexed(column)

        found: dict[str, list[Any]] = {}
        if self.statuses:
            found["status"] = [col("status", runs.c.status).in_(list(self.statuses))]
        if self.workflows:
            found["workflow"] = [col("workflow", runs.c.workflow).in_(list(self.workflows))]
        for name in TASK_COUNTS:
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            bounds = []
            if low is not None:
                bounds.append(col(name, runs.c[name]) >= low)
            if high is not None:
                bounds.append(col(name, runs.c[name]) <= high)
            if bounds:
                found[name] = bounds
        if self.launched_by is not None:
            found["launched_by"] = [col("launched_by", runs.c.launched_by) == self.launched_by]
        created = []
        if self.created_from is not None:
            created.append(col("created", runs.c.created_at) >= self.created_from)
        if self.created_to is not None:
            created.append(col("created", runs.c.created_at) < self.created_to)
        if created:
            found["created"] = created
        text = self.text.strip()
        if text:
            like = or_(
                runs.c.run_id.icontains(text, autoescape=True),
                json_text(runs.c.tags).icontains(text, autoescape=True),
                json_text(runs.c.input).icontains(text, autoescape=True),
            )
            found["text"] = [text_search(like, text, indexed="text" in indexed)]
        return found

    def conditions(self, indexed: frozenset[str] | None = None) -> list[Any]:
        """The WHERE clauses, each with bound parameters.

        `indexed`: the filters whose indexes SQLite may use (a run_plans.Plan); the others are
        tested row by row (see dialect.unindexed). None: every filter, as PostgreSQL always has.
        """
        parts = self._parts(frozenset(PART_NAMES) if indexed is None else indexed)
        return [cond for conds in parts.values() for cond in conds]

    def probe(self, name: str, cap: int | None) -> Select[Any]:
        """How many runs match filter `name` alone, up to cap + 1, on its own index (run_plans);
        with no cap, its matching rows (PostgreSQL's estimate of them)."""
        if cap is None:
            return select(literal(1).label("one")).select_from(runs).where(*self.parts()[name])
        if name == "text":
            return select(func.count()).select_from(
                sqlite_search_rowids(self.text.strip(), cap + 1).subquery()
            )
        matching = select(literal(1).label("one")).where(*self.parts()[name]).limit(cap + 1).subquery()
        return select(func.count()).select_from(matching)

    def among_first(self, name: str, size: int, *, sqlite: bool = True) -> tuple[Any, list[Any]]:
        """The FROM and WHERE of the runs among the first `size` on filter `name`'s own index that
        match every other filter (run_plans: SQLite's sample, and a count's budget of rows)."""
        others = {other: conds for other, conds in self._parts(frozenset()).items() if other != name}
        if not sqlite:
            # The first `size` runs that match the lead, read as the planner likes, then filtered.
            first = select(runs).where(*self.parts()[name]).limit(size).subquery("first")
            adapt = ClauseAdapter(first).traverse
            return first, [adapt(cond) for conds in others.values() for cond in conds]
        if name == "text":
            rowids = sqlite_search_rowids(self.text.strip(), size)
        else:
            rowids = select(literal_column("rowid")).where(*self.parts()[name]).limit(size)
        return runs, [
            literal_column("runs.rowid").in_(rowids),
            *(c for conds in others.values() for c in conds),
        ]

    def probe_all(self, indexed: frozenset[str], cap: int) -> Select[Any]:
        """How many runs match every filter, up to cap + 1, under a plan's `indexed` filters."""
        source, conds = self.source(indexed, columns=False)
        matching = select(literal(1).label("one")).select_from(source).where(*conds).limit(cap + 1).subquery()
        return select(func.count()).select_from(matching)

    def sample(self, name: str, size: int) -> Select[Any]:
        """Of the first `size` runs on filter `name`'s index, how many match every other filter."""
        source, conds = self.among_first(name, size)
        return select(func.count()).select_from(source).where(*conds)

    def source(self, indexed: frozenset[str] | None, *, columns: bool = True) -> tuple[Any, list[Any]]:
        """The FROM and WHERE of the runs that match under a plan's `indexed` filters.

        A plan that leads with the text search reads from the search index joined to `runs`
        (SQLite only: plans are SQLite's), so that a LIMIT stops it (dialect.sqlite_search_rows);
        without `columns` (a count) and with no other filter, from the search index alone."""
        text = self.text.strip()
        if indexed is None or "text" not in indexed or not searchable(text):
            return runs, self.conditions(indexed)
        joined, match = sqlite_search_rows(text, with_runs=bool(columns) or len(self.parts()) > 1)
        others = [cond for name, conds in self._parts(indexed).items() if name != "text" for cond in conds]
        return joined, [match, *others]


PART_NAMES = (
    "status",
    "workflow",
    "tasks_total",
    "tasks_completed",
    "tasks_failed",
    "launched_by",
    "created",
    "text",
)


def checked_filter(filters: RunFilter | None) -> RunFilter:
    if filters is not None and not isinstance(filters, RunFilter):
        raise InputError("filters must be a RunFilter.")
    return filters or RunFilter()


_FILTER_FIELDS = tuple(f.name for f in dataclasses.fields(RunFilter))


def filter_key(filters: RunFilter | None) -> tuple[Any, ...]:
    """A checked filter's values, hashable (lists as tuples): the key of the statement caches."""
    checked = checked_filter(filters)
    return tuple(
        tuple(value) if isinstance(value, list) else value
        for value in (getattr(checked, name) for name in _FILTER_FIELDS)
    )
