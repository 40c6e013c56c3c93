"""The planner interface: how one database reads a filtered page of runs and counts its matches.

`RunStore` holds one planner, chosen once for its engine (`orchestrator.run_queries.planner_for`):
`SqlitePlanner` (sqlite_planner.py) or `PostgresPlanner` (postgres_planner.py). Both read the same
runs for the same filter (statements.py says which); they differ in how the rows are found.

Shared here: the *lead* (the filter whose index is read first, and each filter's matches alone),
chosen by each planner its own way and kept PLAN_SECONDS (LeadCache); the count's budget and
what a count says (match_count, MatchCount).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult

from orchestrator.db import searchable
from orchestrator.db.field_indexes import indexed_fields, number_indexed_fields
from orchestrator.rows import RunSummary
from orchestrator.run_queries.fields import Where
from orchestrator.run_queries.filter import Field, RunFilter

# A capped count reads at most this many of its lead's runs (~1.5 us each, ~20 ms): where few of
# them match the other filters, 10,000 matches could mean reading 100,000 runs (0.15 s). Beyond
# the budget the page says how many it found, as "at least" (e.g. "2,013+"), exact on demand.
COUNT_BUDGET = 12_000
# Which filters an index that leads with a filter also serves (the composite indexes on runs,
# migrations 0009, 0010, 0012 and 0021, alike on both databases), so they stay usable beside the lead.
COMPANIONS: Mapping[str, frozenset[str]] = {
    "status": frozenset({"tasks_total", "tasks_completed", "tasks_failed", "created"}),
    "workflow": frozenset({"created"}),
    "launched_by": frozenset({"created"}),
    "tasks_total": frozenset({"status"}),
    "tasks_completed": frozenset({"status"}),
    "tasks_failed": frozenset({"status"}),
    "created": frozenset({"status", "workflow", "launched_by"}),
    "text": frozenset(),
    # (cost_usd, run_id) and (input + output tokens, run_id), migration 0021.
    "cost_usd": frozenset(),
    "tokens": frozenset(),
}
# A field's numeric comparisons may lead like a column's filter where the field has an expression
# index the package made (db.field_indexes: `input.tasks` by migration 0017, a team's own by
# `orchestrator index add`); the planners read which from the database (IndexedFields).
LEADING_OPERATORS = ("=", "<", "<=", ">", ">=")
# The fields indexed are read again after this long: an index another process adds serves then.
FIELDS_SECONDS = 30.0


def leads_on_index(part: object, indexed_fields: frozenset[str]) -> bool:
    """Whether a part is a field filter its field's expression index serves (fields.Where)."""
    return (
        isinstance(part, Where)
        and part.field.name in indexed_fields
        and part.op in LEADING_OPERATORS
        and part.kind == "number"
    )


class IndexedFields:
    """The fields with an expression index, and those of them with a number index too
    (db.field_indexes), read from the database at most every FIELDS_SECONDS."""

    def __init__(self) -> None:
        self._read_at: float | None = None
        self._fields: frozenset[str] = frozenset()
        self._numbers: frozenset[str] = frozenset()

    def get(self, conn: Connection) -> frozenset[str]:
        if self._read_at is None or monotonic() - self._read_at >= FIELDS_SECONDS:
            self._fields, self._numbers = indexed_fields(conn), number_indexed_fields(conn)
            self._read_at = monotonic()
        return self._fields

    def numbers(self, conn: Connection) -> frozenset[str]:
        """The fields with a number index (statements.number_clause reads it)."""
        self.get(conn)
        return self._numbers


# A lead is kept this long for the same filter, so the page and its count (asked apart, by two
# fragments) probe once. A stale lead is only slower, never wrong.
PLAN_SECONDS = 5.0


@dataclass(frozen=True)
class MatchCount:
    """How many runs match: `value` exactly, or (not `exact`) more than `value`."""

    value: int
    exact: bool

    def __str__(self) -> str:
        return f"{self.value:,}" if self.exact else f"{self.value:,}+"

    def at_least(self, seen: int) -> MatchCount:
        """This count, raised to `seen` runs known to match (those a page shows) if it says less."""
        return self if self.exact or self.value >= seen else MatchCount(value=seen, exact=False)


@dataclass(frozen=True)
class Lead:
    """The filter whose index leads, and each probed filter's matches alone (capped, or estimated)."""

    name: str | None
    probes: Mapping[str, int]
    indexed: frozenset[str]  # the lead and the filters its index also serves
    # SQLite: where the lead's index serves every filter, the runs that match them all, up to
    # NARROW + 1 (counted on that index alone). None where it does not, or the lead is narrow.
    covered: int | None = None
    # SQLite: the field filters read through their field's number index (statements.number_clause).
    numbers: frozenset[str] = frozenset()


NO_LEAD = Lead(None, {}, frozenset())


def probed_parts(filters: RunFilter, indexed_fields: frozenset[str]) -> list[str]:
    """The filters with an index to count their matches on alone (text: three characters or more;
    a field: a numeric comparison on a field of `indexed_fields`)."""
    parts = filters.parts()
    return [
        name
        for name, part in parts.items()
        if (name in COMPANIONS and (name != "text" or searchable(filters.text)))
        or leads_on_index(part, indexed_fields)
    ]


def served(lead: str, filters: RunFilter) -> frozenset[str]:
    """The lead and the other filters its index serves."""
    return frozenset({lead} | (COMPANIONS.get(lead, frozenset()) & set(filters.parts())))


def summaries(result: CursorResult[Any]) -> list[RunSummary]:
    """The rows as dicts (as `dict(row._mapping)`, at a third of its cost per row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]  # type: ignore[misc]


def match_count(n: int, cap: int | None, budgeted: bool) -> MatchCount:
    """What a count read: `n` runs, of at most cap + 1 (more than cap: "cap+"), and, where it read
    only a budget of the lead's runs, at least as many as it found."""
    if cap is not None and n > cap:
        return MatchCount(value=cap, exact=False)
    return MatchCount(value=n, exact=not budgeted)


def monotonic() -> float:
    """The leads' clock (a seam: the tests drive it)."""
    return time.monotonic()


class LeadCache:
    """Leads by filter, kept PLAN_SECONDS: the page and its count choose once."""

    def __init__(self) -> None:
        self._leads: dict[RunFilter, tuple[float, Lead]] = {}

    def get(self, filters: RunFilter) -> Lead | None:
        found = self._leads.get(filters)
        return found[1] if found is not None and monotonic() - found[0] < PLAN_SECONDS else None

    def put(self, filters: RunFilter, lead: Lead) -> Lead:
        now = monotonic()
        if len(self._leads) > 256:
            self._leads = {k: v for k, v in self._leads.items() if now - v[0] < PLAN_SECONDS}
        self._leads[filters] = (now, lead)
        return lead

    def clear(self) -> None:
        self._leads.clear()


class Planner(ABC):
    """How one database reads a filtered, sorted page of runs and counts its matches.

    Arguments arrive checked (RunStore checks them): a RunFilter, a sort field from
    statements.SORT_COLUMNS, a page within validation's limits, a cap of at least 1 or None.

        >>> planner = planner_for(engine)
        >>> with engine.connect() as conn:
        ...     rows = planner.page(conn, RunFilter(statuses=["failed"]), Field("created_at"), True, 50, 0)
        ...     shown = planner.count(conn, RunFilter(statuses=["failed"]), cap=10_000)
    """

    @abstractmethod
    def page(
        self, conn: Connection, filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int
    ) -> list[RunSummary]:
        """One page of the runs that match, sorted by `sort` then run id, both `descending` or not."""

    @abstractmethod
    def count(self, conn: Connection, filters: RunFilter, cap: int | None) -> MatchCount:
        """How many runs match: exact up to `cap`, else "more than cap" (None: always exact); or,
        where the planner read only a budget of the lead's runs, "at least" as many as it found."""

    @abstractmethod
    def forget(self) -> None:
        """Choose every lead anew on the next read (the benchmark times each read with its probes)."""
