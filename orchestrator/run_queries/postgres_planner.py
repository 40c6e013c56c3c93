"""How PostgreSQL reads a filtered runs page and its count.

PostgreSQL's planner has each value's share of the rows (its statistics), so a page is the
portable statement as written and the planner chooses the index. Only the count gets help:
where the filter it estimates fewest matches of has many runs, and few of them match the other
filters, counting 10,000 matches could read 100,000 runs; a capped count then reads at most
planner.COUNT_BUDGET of that filter's runs and says "at least" (as on SQLite).

A numeric comparison on a field with a number column (db.field_indexes: a stored generated
column, indexed with each run's creation time and id, its status carried) reads that column
(statements.number_clause): PostgreSQL then knows the filter's share of the runs (the column's
statistics; of the type test beside a value it knew none) and counts its matches on the index
alone; the page finds its 50 run ids first, so that PostgreSQL may find them on that index alone
too (ordered by creation time, or, sorted by that very field, by the column), then reads those
50 rows. One filter on a number column needs no budget for its count; two or more do
(COMBINED_BUDGET: combined, they read every match's row); a budget's other filters are tested
on their number columns, not their JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.util import ClauseAdapter

from orchestrator.db import runs
from orchestrator.db.field_indexes import number_column, number_column_name
from orchestrator.rows import RunSummary
from orchestrator.run_queries import planner as interface
from orchestrator.run_queries.fields import Where
from orchestrator.run_queries.filter import Field, RunFilter
from orchestrator.run_queries.planner import (
    IndexedFields,
    Lead,
    LeadCache,
    MatchCount,
    Planner,
    match_count,
    probed_parts,
    served,
    summaries,
)
from orchestrator.run_queries.statements import (
    NUMBER_OPERATORS,
    clauses,
    count_select,
    kept,
    number_clause,
    page_select,
    portable_count,
    portable_page,
)

# Two filters or more on number columns: PostgreSQL combines their indexes (a BitmapAnd) and then
# reads the row of every run that matches both (two fields of 100,000 runs each, 9,981 with both:
# 9,273 heap blocks, 80 to 210 ms at a million runs, load 3 to 14). A capped count then reads at
# most this many of the lead's runs (a row costs ~7 us here, read for the other column) and
# tests the others on their number columns: ~17 ms with the lead's estimates, load 2.5 ("198+").
COMBINED_BUDGET = 2_000


class _explain_json(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement (its parameters stay bound)."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(_explain_json, "postgresql")
def _explain_json_pg(element: _explain_json, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


def estimated_rows(conn: Connection, statement: Any) -> int:
    """How many rows PostgreSQL's planner expects `statement` to return (from the table's
    statistics; nothing is read)."""
    plan = conn.execute(_explain_json(statement)).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def on_numbers(filters: RunFilter, numbered: frozenset[str]) -> frozenset[str]:
    """The filters read through their field's number column: numeric comparisons on a field of
    `numbered` (the fields with one)."""
    return frozenset(
        name
        for name, part in filters.parts().items()
        if isinstance(part, Where)
        and part.field.name in numbered
        and part.kind == "number"
        and part.op in NUMBER_OPERATORS
    )


def spelled(filters: RunFilter, name: str, numbers: frozenset[str]) -> list[Any]:
    """Filter `name`'s clauses: on its field's number column if it is in `numbers`."""
    part = filters.parts()[name]
    if name in numbers and isinstance(part, Where):
        return [number_clause(part, number_column(part.field.name))]
    return clauses(part)


def conditions(filters: RunFilter, numbers: frozenset[str]) -> list[Any]:
    return [c for name in filters.parts() for c in spelled(filters, name, numbers)]


def matching_alone(filters: RunFilter, name: str, numbers: frozenset[str] = frozenset()) -> Select[Any]:
    """The runs that match filter `name` alone (what its estimate is of)."""
    return select(literal(1).label("one")).select_from(runs).where(*spelled(filters, name, numbers))


@kept
def page_statement(
    filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int, numbers: frozenset[str]
) -> Select[Any]:
    """A page as written; with filters on number columns, its run ids first (page_select), and
    sorted by such a filter's field, ordered on its column (the same order: every match holds a
    number there)."""
    if not numbers:
        return portable_page(filters, sort, descending, limit, offset)
    parts = filters.parts()
    on_column = sort.dotted and any(
        isinstance(part, Where) and part.field.name == sort.name
        for name, part in parts.items()
        if name in numbers
    )
    return page_select(
        runs,
        conditions(filters, numbers),
        sort,
        descending,
        limit,
        offset,
        order_on=number_column(sort.name) if on_column else None,
        ids_first=True,
        nulls_last=not on_column,
    )


@kept
def count_statement(
    filters: RunFilter, cap: int | None, within: tuple[str, int] | None, numbers: frozenset[str] = frozenset()
) -> Select[Any]:
    """The count; `within` (a filter, a size) and a cap: of the first `size` runs that match that
    filter (read as the planner likes), those that match every other filter, a filter with a
    number column tested on that column (no JSON read)."""
    if within is None or cap is None:
        return (
            count_select(runs, conditions(filters, numbers), cap) if numbers else portable_count(filters, cap)
        )
    name, size = within
    parts = filters.parts()
    columns = {
        number_column_name(part.field.name): number_column(part.field.name)
        for other, part in parts.items()
        if other != name and other in numbers and isinstance(part, Where)
    }
    first = (
        select(runs, *columns.values()).where(*spelled(filters, name, numbers)).limit(size).subquery("first")
    )
    adapt = ClauseAdapter(first).traverse
    others = []
    for other, part in parts.items():
        if other == name:
            continue
        if other in numbers and isinstance(part, Where):
            others.append(number_clause(part, first.c[number_column_name(part.field.name)]))
        else:
            others.extend(adapt(c) for c in clauses(part))
    return count_select(first, others, cap)


class PostgresPlanner(Planner):
    """PostgreSQL's reads: its own planner's, but for the count's budget."""

    def __init__(self) -> None:
        self._leads = LeadCache()
        self._fields = IndexedFields()

    def choose_lead(self, conn: Connection, filters: RunFilter) -> Lead:
        """The filter its planner expects the fewest matches of (its statistics; only the count's
        budget needs it, and only with two filters or more)."""
        names = probed_parts(filters, self._fields.get(conn))
        numbers = on_numbers(filters, self._fields.numbers(conn))
        if len(names) < 2:
            return Lead(None, {}, frozenset(), numbers=numbers)
        estimates = {name: estimated_rows(conn, matching_alone(filters, name, numbers)) for name in names}
        lead = min(names, key=lambda n: estimates[n])
        return Lead(lead, estimates, served(lead, filters), numbers=numbers)

    @staticmethod
    def count_plan(filters: RunFilter, lead: Lead) -> tuple[str, int] | None:
        """Where the lead has more than COUNT_BUDGET runs and a filter neither its index nor a
        number column serves, a capped count reads only COUNT_BUDGET of them: (the lead, the
        budget); where it has more than COMBINED_BUDGET and two filters or more are on number
        columns (the lead among them), COMBINED_BUDGET of them; else None (exact)."""
        if lead.name is None:
            return None
        unserved = set(filters.parts()) - lead.indexed - lead.numbers
        combined = lead.name in lead.numbers and len(lead.numbers & set(filters.parts())) >= 2
        budget = min(interface.COUNT_BUDGET, COMBINED_BUDGET) if combined else interface.COUNT_BUDGET
        if lead.probes[lead.name] > budget and (unserved or combined):
            return (lead.name, budget)
        return None

    def lead(self, conn: Connection, filters: RunFilter) -> Lead | None:
        """The lead for `filters` (kept planner.PLAN_SECONDS); None for a filter with no parts."""
        if not filters.parts():
            return None
        return self._leads.get(filters) or self._leads.put(filters, self.choose_lead(conn, filters))

    def page(
        self, conn: Connection, filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int
    ) -> list[RunSummary]:
        """The page as written (number columns read where there are: page_statement):
        PostgreSQL's planner chooses the index."""
        numbers = on_numbers(filters, self._fields.numbers(conn))  # no lead needed (no probe)
        return summaries(conn.execute(page_statement(filters, sort, descending, limit, offset, numbers)))

    def count(self, conn: Connection, filters: RunFilter, cap: int | None) -> MatchCount:
        """As written, or within the budget of the filter it estimates fewest of (count_plan)."""
        lead = self.lead(conn, filters)
        within = None if lead is None else self.count_plan(filters, lead)
        numbers = frozenset() if lead is None else lead.numbers
        n = conn.execute(count_statement(filters, cap, within, numbers)).scalar_one()
        return match_count(n, cap, budgeted=cap is not None and within is not None)

    def forget(self) -> None:
        self._leads.clear()
