"""How SQLite reads a filtered runs page and its count: which filter's index leads.

Every SQLite-only trick of the read path lives here: the probes, the leads, the FTS5 search
index read as a join or by rowid, and `+column` (SQLite's idiom for "not through an index").

SQLite's planner knows no value's share of the rows (it is built without STAT4), so with two
filters it may read 200,000 runs through one filter's index where the other's holds 973: 1.3 s
at a million runs. Before reading, a probe counts each filter's matches alone on its own index
(index-only, at most NARROW + 1 of them, then RANK + 1: ~30 ns a match, ~2 ms at most), and
the filter with the fewest leads:

- a lead with at most NARROW matches: the page reads them all through the lead's index and
  sorts them (the other filters are tested row by row);
- a broader lead: the page is read in the sort's own order, through the lead's index where that
  index has the sort's order (a status with `created_at`), else through the sort's index, every
  filter tested row by row: a page is then found within about 50 x N / matches rows;
- the count always reads through the lead's index, capped as the page shows it, and at most
  planner.COUNT_BUDGET of its runs.

A plan changes how rows are found, never which: every plan's statement has every filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnClause, FunctionElement

from orchestrator.db import runs, searchable
from orchestrator.db.schema import SEARCH_TABLE
from orchestrator.rows import RunSummary
from orchestrator.run_queries import planner as interface
from orchestrator.run_queries.fields import Where
from orchestrator.run_queries.filter import Contains, Field, RunFilter
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
from orchestrator.run_queries.statements import (
    clauses,
    count_select,
    field_column,
    kept,
    page_select,
    portable_count,
    portable_page,
    sort_column,
    text_like,
    where_clauses,
)

# A lead with at most this many matches is read whole and sorted (~1.5 us a row: <= 8 ms).
NARROW = 5_000
# Broader leads are ranked by their matches up to this many (an index-only count, <= 2 ms).
RANK = 50_000
# Filters broader than RANK are told apart by how many of their first SAMPLE runs match the
# others (SAMPLE row reads, ~1.5 ms each).
SAMPLE = 1_000


@dataclass(frozen=True)
class Plan:
    """Which filters' indexes a statement may use, and whether the sort's index may read it in order."""

    indexed: frozenset[str]
    sort_indexed: bool
    # A capped count reads only the first N runs on this filter's index (planner.COUNT_BUDGET).
    within: tuple[str, int] | None = None


# -- SQLite's spellings -------------------------------------------------------------------------


class unindexed(FunctionElement[Any]):
    """A column SQLite's planner must not use an index for: `+column`, SQLite's own idiom."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.type = column.type
        super().__init__(column)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    if isinstance(column, ColumnClause):
        return f"+{compiler.process(column, **kw)}"
    return f"+({compiler.process(column, **kw)})"  # an expression (the tokens' sum) whole


# The FTS5 trigram table of migration 0008 (not in the metadata; see schema.SEARCH_TABLE): one
# row per run, with the run's rowid, kept by triggers.
search_table = table(SEARCH_TABLE, column("rowid", Integer()))
RUNS_ROWID = literal_column("runs.rowid", Integer())


def fts_phrase(text: str) -> str:
    """`text` as one FTS5 phrase: every character literal."""
    return '"' + text.replace('"', '""') + '"'


def _match(text: str) -> ColumnElement[bool]:
    return literal_column(SEARCH_TABLE).op("MATCH")(literal(fts_phrase(text), String()))


def search_rowids(text: str, limit: int) -> Select[Any]:
    """The rowids of the first `limit` runs that match `text`, from the search index."""
    return select(search_table.c.rowid).where(_match(text)).limit(limit)


def text_clause(part: Contains, indexed: bool) -> ColumnElement[bool]:
    """The search box through the search index (`rowid IN` its matches), or `text_like` row by row.

    Not `indexed`: LIKE, for a page read in another index's order (SQLite's planner would
    otherwise read every match from the search index first). Only for ASCII texts: SQLite's LIKE
    folds ASCII case only, FTS5 folds every letter's case, so a non-ASCII text keeps the index
    and its answer stays the same whichever plan reads it. A text too short for a trigram has
    no index to use."""
    text = part.text
    if not searchable(text) or (not indexed and text.isascii()):
        return text_like(text)
    matches: Select[Any] = select(literal_column("rowid")).select_from(search_table).where(_match(text))
    return RUNS_ROWID.in_(matches)


def spelled(filters: RunFilter, indexed: frozenset[str]) -> dict[str, list[ColumnElement[bool]]]:
    """Each part's clauses, on its index if it is in `indexed`, else tested row by row."""
    found: dict[str, list[ColumnElement[bool]]] = {}
    for name, part in filters.parts().items():
        if isinstance(part, Contains):
            found[name] = [text_clause(part, name in indexed)]
        else:
            found[name] = clauses(part, None if name in indexed else unindexed(field_column(part.field)))
    return found


def source(
    filters: RunFilter, indexed: frozenset[str], *, columns: bool = True
) -> tuple[FromClause, list[Any]]:
    """The FROM and WHERE of the runs that match under a plan's `indexed` filters.

    A plan that leads with the text search reads from the search index joined to `runs`, so that
    a LIMIT stops it: `rowid IN (SELECT ...)` builds the whole list of matches first (92 ms
    against 26 ms for a capped count of a text in a third of a million runs). Without `columns`
    (a count) and with no other filter, from the search index alone (one row per run)."""
    text = filters.text
    if "text" not in indexed or not searchable(text):
        return runs, [cond for conds in spelled(filters, indexed).values() for cond in conds]
    from_: Any = search_table
    if columns or len(filters.parts()) > 1:
        from_ = search_table.join(runs, search_table.c.rowid == RUNS_ROWID)
    others = [cond for name, conds in spelled(filters, indexed).items() if name != "text" for cond in conds]
    return from_, [_match(text), *others]


def among_first(filters: RunFilter, name: str, size: int) -> tuple[FromClause, list[Any]]:
    """The FROM and WHERE of the runs among the first `size` on filter `name`'s own index that
    match every other filter (the sample of broad leads, and a count's budget of rows)."""
    others = [c for other, conds in spelled(filters, frozenset()).items() if other != name for c in conds]
    if name == "text":
        rowids = search_rowids(filters.text, size)
    else:
        rowids = select(literal_column("rowid")).where(*clauses(filters.parts()[name])).limit(size)
    return runs, [RUNS_ROWID.in_(rowids), *others]


# -- statements, kept by their arguments (statements.kept) ----------------------------------------


@kept
def page_statement(
    filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int, plan: Plan
) -> Select[Any]:
    """One page under `plan`: the sort's column off its index unless the plan reads in its order."""
    from_, conds = source(filters, plan.indexed)
    order_on = None if plan.sort_indexed else unindexed(sort_column(sort))
    return page_select(from_, conds, sort, descending, limit, offset, order_on=order_on)


@kept
def count_statement(filters: RunFilter, cap: int | None, plan: Plan) -> Select[Any]:
    """The count under `plan`: through the lead's index, capped, within its budget when capped."""
    if plan.within is not None and cap is not None:
        from_, conds = among_first(filters, *plan.within)
    else:
        from_, conds = source(filters, plan.indexed, columns=False)
    return count_select(from_, conds, cap)


def probe_statement(filters: RunFilter, name: str, cap: int) -> Select[Any]:
    """How many runs match filter `name` alone, up to cap + 1, on its own index."""
    if name == "text":
        return select(func.count()).select_from(search_rowids(filters.text, cap + 1).subquery())
    part = filters.parts()[name]
    # A field: its comparison alone, on the expression index (its type is tested from the row):
    # at most as many as match, which is all a lead's choice needs.
    alone = where_clauses(part)[1:] if isinstance(part, Where) else clauses(part)
    matching = select(literal(1).label("one")).where(*alone).limit(cap + 1).subquery()
    return select(func.count()).select_from(matching)


# -- choosing ------------------------------------------------------------------------------------


def _ordered(filters: RunFilter, lead: str, sort: Field) -> bool:
    """Whether the lead's index reads its matches in the page's sort order."""
    if sort.name == "created_at":
        if lead == "status":
            return len(filters.statuses) == 1  # (status, created_at)
        if lead == "workflow":
            return len(filters.workflows) == 1  # (workflow, created_at)
        return lead in ("launched_by", "created")
    return lead == sort.name  # a task count's index is (count, run_id): the sort and its tie-break


def _probe(conn: Connection, filters: RunFilter, names: list[str], cap: int) -> dict[str, int]:
    """Each named filter's matches alone, up to cap + 1, in one statement.

    A field's probe reads each match's row (its expression index holds no column SQLite can
    answer from), so it counts at most NARROW + 1; above that it says "more than cap" (broad)."""
    parts = filters.parts()
    caps = {name: min(cap, NARROW) if isinstance(parts[name], Where) else cap for name in names}
    probes = [probe_statement(filters, name, caps[name]).scalar_subquery() for name in names]
    found = dict(zip(names, conn.execute(select(*probes)).one(), strict=True))
    return {name: cap + 1 if found[name] > caps[name] else found[name] for name in names}


def _sample(conn: Connection, filters: RunFilter, names: list[str]) -> dict[str, int]:
    """Per named filter, how many of its first SAMPLE runs match every other filter."""
    samples = [count_select(*among_first(filters, name, SAMPLE), None).scalar_subquery() for name in names]
    return dict(zip(names, conn.execute(select(*samples)).one(), strict=True))


class SqlitePlanner(Planner):
    """SQLite's reads: each filter probed on its own index, the one with the fewest matches leads."""

    def __init__(self) -> None:
        self._leads = LeadCache()
        self._fields = IndexedFields()

    def choose_lead(self, conn: Connection, filters: RunFilter) -> Lead:
        """Probe each filter that has an index and take the one with the fewest matches."""
        names = probed_parts(filters, self._fields.get(conn))
        if not names:
            return NO_LEAD
        probes = _probe(conn, filters, names, NARROW)
        # The fewest matches leads; on a tie, an index on runs before the search index (cheaper a row).
        rank = {name: i for i, name in enumerate(sorted(names, key=lambda n: n == "text"))}
        lead = min(names, key=lambda n: (probes[n], rank[n]))
        if probes[lead] > NARROW and len(names) > 1:
            probes = _probe(conn, filters, names, RANK)
            lead = min(names, key=lambda n: (probes[n], rank[n]))
            tied = [name for name in names if probes[name] > RANK]
            if probes[lead] > RANK and len(tied) > 1:
                # All broad: count through the one whose first rows match the others most often
                # (the count then reads about cap / share rows).
                shares = _sample(conn, filters, tied)
                lead = max(tied, key=lambda n: (shares[n], -rank[n]))
        indexed = served(lead, filters)
        covered = None
        if probes[lead] > NARROW and indexed >= set(filters.parts()):
            # e.g. a status and a task-count range, both broad, few runs with both: one index has both
            covered = conn.execute(
                count_select(*source(filters, indexed, columns=False), NARROW)
            ).scalar_one()
        return Lead(lead, probes, indexed, covered)

    @staticmethod
    def page_plan(filters: RunFilter, lead: Lead, sort: Field) -> Plan:
        """A narrow lead (or an index that serves every filter and finds few runs) is read whole
        and sorted; else the page is read in the sort's order."""
        few = lead.covered is not None and lead.covered <= NARROW
        if lead.name is not None and (lead.probes[lead.name] <= NARROW or few):
            return Plan(lead.indexed, sort_indexed=False)
        if lead.name is not None and _ordered(filters, lead.name, sort):
            return Plan(lead.indexed, sort_indexed=True)
        # Read in the sort's order; a created range stays on the index when that is the sort's.
        keep = "created" in filters.parts() and sort.name == "created_at"
        return Plan(frozenset({"created"}) if keep else frozenset(), sort_indexed=True)

    @staticmethod
    def count_plan(filters: RunFilter, lead: Lead) -> Plan:
        """The count reads through the lead's index; when the lead has more than COUNT_BUDGET runs
        and a filter its index does not serve, a capped count reads only COUNT_BUDGET of them."""
        within = None
        budget = interface.COUNT_BUDGET
        if lead.name is not None and lead.probes[lead.name] > budget and set(filters.parts()) - lead.indexed:
            within = (lead.name, budget)
        return Plan(lead.indexed, sort_indexed=False, within=within)

    def lead(self, conn: Connection, filters: RunFilter) -> Lead | None:
        """The lead for `filters` (kept planner.PLAN_SECONDS); None for a filter with no parts."""
        if not filters.parts():
            return None
        return self._leads.get(filters) or self._leads.put(filters, self.choose_lead(conn, filters))

    def page(
        self, conn: Connection, filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int
    ) -> list[RunSummary]:
        """Through the lead's index, read whole and sorted, or in the sort's order (page_plan)."""
        lead = self.lead(conn, filters)
        if lead is None:
            stmt = portable_page(filters, sort, descending, limit, offset)
        else:
            stmt = page_statement(
                filters, sort, descending, limit, offset, self.page_plan(filters, lead, sort)
            )
        return summaries(conn.execute(stmt))

    def count(self, conn: Connection, filters: RunFilter, cap: int | None) -> MatchCount:
        """Through the lead's index, within its budget when capped (count_plan)."""
        lead = self.lead(conn, filters)
        if lead is None:
            return match_count(conn.execute(portable_count(filters, cap)).scalar_one(), cap, budgeted=False)
        plan = self.count_plan(filters, lead)
        n = conn.execute(count_statement(filters, cap, plan)).scalar_one()
        return match_count(n, cap, budgeted=cap is not None and plan.within is not None)

    def forget(self) -> None:
        self._leads.clear()
