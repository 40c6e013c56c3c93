"""How PostgreSQL reads a filtered runs page and its count.

PostgreSQL's planner has each value's share of the rows (its statistics), so a page is the
portable statement as written and the planner chooses the index. Only the count gets help:
where the filter it estimates fewest matches of has many runs, and few of them match the other
filters, counting 10,000 matches could read 100,000 runs; a capped count then reads at most
planner.COUNT_BUDGET of that filter's runs and says "at least" (as on SQLite).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.util import ClauseAdapter

from orchestrator.db import runs
from orchestrator.rows import RunSummary
from orchestrator.run_queries import planner as interface
from orchestrator.run_queries.filter import Field, RunFilter
from orchestrator.run_queries.planner import (
    NO_LEAD,
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
from orchestrator.run_queries.statements import clauses, count_select, kept, portable_count, portable_page


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


def matching_alone(filters: RunFilter, name: str) -> Select[Any]:
    """The runs that match filter `name` alone (what its estimate is of)."""
    return select(literal(1).label("one")).select_from(runs).where(*clauses(filters.parts()[name]))


@kept
def count_statement(filters: RunFilter, cap: int | None, within: tuple[str, int] | None) -> Select[Any]:
    """The count; `within` (a filter, a size) and a cap: of the first `size` runs that match that
    filter (read as the planner likes), those that match every other filter."""
    if within is None or cap is None:
        return portable_count(filters, cap)
    name, size = within
    first = select(runs).where(*clauses(filters.parts()[name])).limit(size).subquery("first")
    adapt = ClauseAdapter(first).traverse
    others = [adapt(c) for other, part in filters.parts().items() if other != name for c in clauses(part)]
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
        if len(names) < 2:
            return NO_LEAD
        estimates = {name: estimated_rows(conn, matching_alone(filters, name)) for name in names}
        lead = min(names, key=lambda n: estimates[n])
        return Lead(lead, estimates, served(lead, filters))

    @staticmethod
    def count_plan(filters: RunFilter, lead: Lead) -> tuple[str, int] | None:
        """Where the lead has more than COUNT_BUDGET runs and a filter its index does not serve,
        a capped count reads only COUNT_BUDGET of them: (the lead, the budget); else None."""
        budget = interface.COUNT_BUDGET
        if lead.name is not None and lead.probes[lead.name] > budget and set(filters.parts()) - lead.indexed:
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
        """The page as written: PostgreSQL's planner chooses the index."""
        return summaries(conn.execute(portable_page(filters, sort, descending, limit, offset)))

    def count(self, conn: Connection, filters: RunFilter, cap: int | None) -> MatchCount:
        """As written, or within the budget of the filter it estimates fewest of (count_plan)."""
        lead = self.lead(conn, filters)
        within = None if lead is None else self.count_plan(filters, lead)
        n = conn.execute(count_statement(filters, cap, within)).scalar_one()
        return match_count(n, cap, budgeted=cap is not None and within is not None)

    def forget(self) -> None:
        self._leads.clear()
