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
  planner.COUNT_BUDGET of its runs (FIELD_BUDGET of it where a field filter is tested on each).

A field filter on a field with a number index (db.field_indexes) reads it as one clause
(statements.number_clause) that the index answers without a row: its probe is exact, its
count index-only, and with at most WHOLE matches (beside no filter but a status, which that
index holds too) its newest page's ids come from the index as well. Fields on their number
indexes alone (two broad fields) are probed up to WHOLE each; past it they are all broad, and
the sample chooses which leads the count.

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
    number_clause,
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
# A field's number index (db.field_indexes) holds each run's status, creation time and id: a
# lead on it with at most WHOLE matches, beside no filter but a status, finds the newest page
# and its count in the index alone (~0.2 us an entry: <= 4 ms), then reads that page's rows.
WHOLE = 20_000
# A count within its budget that tests a field filter on each of the lead's runs reads its JSON
# (~2.3 us a run, not ~1.5) beside a page that reads as many: two broad fields' page reads about
# 5,000 runs in the sort's order (1 % match) and their lead's sample 2,000. So it reads this share
# of planner.COUNT_BUDGET, 3,000 runs (~7 ms), keeping page and count near 10,000 runs in all.
FIELD_BUDGET = 1 / 4
CARRIED = frozenset({"status"})


@dataclass(frozen=True)
class Plan:
    """Which filters' indexes a statement may use, and whether the sort's index may read it in order."""

    indexed: frozenset[str]
    sort_indexed: bool
    # A capped count reads only the first N runs on this filter's index (planner.COUNT_BUDGET).
    within: tuple[str, int] | None = None
    # The field filters read through their field's number index (Lead.numbers).
    numbers: frozenset[str] = frozenset()
    # Find the page's run ids first (on the lead's number index), then read their rows.
    ids_first: bool = False


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


def spelled(
    filters: RunFilter, indexed: frozenset[str], numbers: frozenset[str] = frozenset()
) -> dict[str, list[ColumnElement[bool]]]:
    """Each part's clauses, on its index if it is in `indexed` (a field filter in `numbers`: on
    its number index, type test and all), else tested row by row."""
    found: dict[str, list[ColumnElement[bool]]] = {}
    for name, part in filters.parts().items():
        if isinstance(part, Contains):
            found[name] = [text_clause(part, name in indexed)]
        elif isinstance(part, Where) and name in indexed and name in numbers:
            found[name] = [number_clause(part)]
        else:
            found[name] = clauses(part, None if name in indexed else unindexed(field_column(part.field)))
    return found


def source(
    filters: RunFilter,
    indexed: frozenset[str],
    *,
    columns: bool = True,
    numbers: frozenset[str] = frozenset(),
) -> tuple[FromClause, list[Any]]:
    """The FROM and WHERE of the runs that match under a plan's `indexed` filters.

    A plan that leads with the text search reads from the search index joined to `runs`, so that
    a LIMIT stops it: `rowid IN (SELECT ...)` builds the whole list of matches first (92 ms
    against 26 ms for a capped count of a text in a third of a million runs). Without `columns`
    (a count) and with no other filter, from the search index alone (one row per run)."""
    text = filters.text
    if "text" not in indexed or not searchable(text):
        return runs, [cond for conds in spelled(filters, indexed, numbers).values() for cond in conds]
    from_: Any = search_table
    if columns or len(filters.parts()) > 1:
        from_ = search_table.join(runs, search_table.c.rowid == RUNS_ROWID)
    others = [cond for name, conds in spelled(filters, indexed).items() if name != "text" for cond in conds]
    return from_, [_match(text), *others]


def on_index(filters: RunFilter, name: str, numbers: frozenset[str]) -> list[ColumnElement[bool]]:
    """Filter `name`'s clauses as its own index reads them (a field in `numbers`: its number index)."""
    part = filters.parts()[name]
    return [number_clause(part)] if isinstance(part, Where) and name in numbers else clauses(part)


def among_first(
    filters: RunFilter, name: str, size: int, numbers: frozenset[str] = frozenset()
) -> tuple[FromClause, list[Any]]:
    """The FROM and WHERE of the runs among the first `size` on filter `name`'s own index that
    match every other filter (the sample of broad leads, and a count's budget of rows)."""
    others = [c for other, conds in spelled(filters, frozenset()).items() if other != name for c in conds]
    if name == "text":
        rowids = search_rowids(filters.text, size)
    else:
        rowids = select(literal_column("rowid")).where(*on_index(filters, name, numbers)).limit(size)
    return runs, [RUNS_ROWID.in_(rowids), *others]


# -- statements, kept by their arguments (statements.kept) ----------------------------------------


@kept
def page_statement(
    filters: RunFilter, sort: Field, descending: bool, limit: int, offset: int, plan: Plan
) -> Select[Any]:
    """One page under `plan`: the sort's column off its index unless the plan reads in its order."""
    from_, conds = source(filters, plan.indexed, numbers=plan.numbers)
    order_on = None if plan.sort_indexed else unindexed(sort_column(sort))
    return page_select(
        from_, conds, sort, descending, limit, offset, order_on=order_on, ids_first=plan.ids_first
    )


@kept
def count_statement(filters: RunFilter, cap: int | None, plan: Plan) -> Select[Any]:
    """The count under `plan`: through the lead's index, capped, within its budget when capped."""
    if plan.within is not None and cap is not None:
        from_, conds = among_first(filters, *plan.within, numbers=plan.numbers)
    else:
        from_, conds = source(filters, plan.indexed, columns=False, numbers=plan.numbers)
    return count_select(from_, conds, cap)


def probe_statement(filters: RunFilter, name: str, cap: int, number: bool = False) -> Select[Any]:
    """How many runs match filter `name` alone, up to cap + 1, on its own index (`number`: a
    field's number index, exact; else its value index, the comparison alone: at least as many
    as match, which is all a lead's choice needs)."""
    if name == "text":
        return select(func.count()).select_from(search_rowids(filters.text, cap + 1).subquery())
    part = filters.parts()[name]
    if isinstance(part, Where):
        alone = [number_clause(part)] if number else where_clauses(part)[1:]
    else:
        alone = clauses(part)
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


def _probe(
    conn: Connection,
    filters: RunFilter,
    names: list[str],
    cap: int,
    numbers: frozenset[str],
    whole: int = WHOLE,
) -> dict[str, int]:
    """Each named filter's matches alone, up to its cap + 1, in one statement; above its cap a
    filter says cap + 1 ("more than cap": broad).

    A field on its number index (in `numbers`) counts up to `whole` at least (index-only); one
    without counts at most NARROW (its value index holds no type: each match's row is read)."""
    parts = filters.parts()
    caps = {
        name: max(cap, whole)
        if name in numbers
        else min(cap, NARROW)
        if isinstance(parts[name], Where)
        else cap
        for name in names
    }
    probes = [probe_statement(filters, name, caps[name], name in numbers).scalar_subquery() for name in names]
    found = dict(zip(names, conn.execute(select(*probes)).one(), strict=True))
    return {name: max(cap, caps[name]) + 1 if found[name] > caps[name] else found[name] for name in names}


def _ranked(
    conn: Connection,
    filters: RunFilter,
    probes: dict[str, int],
    cap: int,
    numbers: frozenset[str],
    whole: int,
) -> dict[str, int]:
    """The probes, each filter counted up to `cap` (at most `whole`): only those the first probe
    counted no further than NARROW are counted again; a field on its number index was counted
    up to `whole` already, and one without counts no further than NARROW (it ranks as broad)."""
    parts = filters.parts()
    again = [n for n, found in probes.items() if found > NARROW and n not in numbers]
    recount = [n for n in again if not isinstance(parts[n], Where)]
    ranked = dict(probes)
    ranked.update({n: cap + 1 for n in again})
    if recount:
        ranked.update(_probe(conn, filters, recount, cap, numbers, whole))
    return ranked


def _sample(
    conn: Connection, filters: RunFilter, names: list[str], numbers: frozenset[str]
) -> dict[str, int]:
    """Per named filter, how many of its first SAMPLE runs match every other filter."""
    samples = [
        count_select(*among_first(filters, name, SAMPLE, numbers), None).scalar_subquery() for name in names
    ]
    return dict(zip(names, conn.execute(select(*samples)).one(), strict=True))


def whole_on_numbers(filters: RunFilter, lead: Lead) -> bool:
    """Whether the lead is a field on its number index with at most WHOLE matches and every
    other filter is one that index carries (CARRIED): the page and its count need no row."""
    return (
        lead.name in lead.numbers
        and lead.probes[lead.name] <= WHOLE
        and set(filters.parts()) - {lead.name} <= CARRIED
    )


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
        numbered = self._fields.numbers(conn)
        numbers = frozenset(
            name
            for name, part in filters.parts().items()
            if name in names and isinstance(part, Where) and part.field.name in numbered
        )
        # Beside other filters, a field on its number index counts up to RANK at once (index-only,
        # ~0.1 us an entry), so that ranking the broad ones below need not count it again. Beside
        # fields on their number indexes alone, up to WHOLE: past it each is broad (more runs than
        # a count's budget reads), and the sample tells broad ones apart (counting two fields
        # of 100,000 runs each to RANK took 8 to 14 ms, the sample 5 to 10).
        alone = len(names) == 1 or set(names) <= numbers
        whole = WHOLE if alone else max(WHOLE, RANK)
        probes = _probe(conn, filters, names, NARROW, numbers, whole)
        if alone and len(names) > 1:
            broad = max(NARROW, whole)  # what _probe counted each to
            probes = {name: RANK + 1 if found > broad else found for name, found in probes.items()}
        # The fewest matches leads; on a tie, an index on runs before the search index (cheaper a row).
        rank = {name: i for i, name in enumerate(sorted(names, key=lambda n: n == "text"))}
        lead = min(names, key=lambda n: (probes[n], rank[n]))
        if probes[lead] > NARROW and len(names) > 1:
            # A field's count on its number index is exact up to `whole`: the others need counting
            # only that far to tell whether they have fewer.
            known = [probes[n] for n in numbers if probes[n] <= whole]
            probes = _ranked(conn, filters, probes, min([RANK, *known]), numbers, whole)
            lead = min(names, key=lambda n: (probes[n], rank[n]))
            tied = [name for name in names if probes[name] > RANK]
            if probes[lead] > RANK and len(tied) > 1:
                # All broad: count through the one whose first rows match the others most often
                # (the count then reads about cap / share rows).
                shares = _sample(conn, filters, tied, numbers)
                lead = max(tied, key=lambda n: (shares[n], -rank[n]))
        indexed = served(lead, filters)
        covered = None
        if probes[lead] > NARROW and indexed >= set(filters.parts()):
            # e.g. a status and a task-count range, both broad, few runs with both: one index has both
            covered = conn.execute(
                count_select(*source(filters, indexed, columns=False, numbers=numbers), NARROW)
            ).scalar_one()
        return Lead(lead, probes, indexed, covered, numbers)

    @staticmethod
    def page_plan(filters: RunFilter, lead: Lead, sort: Field) -> Plan:
        """A narrow lead (or an index that serves every filter and finds few runs) is read whole
        and sorted; else the page is read in the sort's order: through the index of the probed
        filter with the fewest matches that has that order (the lead's, or e.g. a status's
        (status, created_at) beside a broad field filter), else the sort's own."""
        if whole_on_numbers(filters, lead) and sort.name == "created_at":
            return Plan(lead.indexed, sort_indexed=False, numbers=lead.numbers, ids_first=True)
        few = lead.covered is not None and lead.covered <= NARROW
        if lead.name is not None and (lead.probes[lead.name] <= NARROW or few):
            return Plan(lead.indexed, sort_indexed=False, numbers=lead.numbers)
        ordered = sorted((n for n in lead.probes if _ordered(filters, n, sort)), key=lambda n: lead.probes[n])
        if ordered:
            # Every filter it does not serve is tested row by row, as in the sort's own order,
            # but on the rows of this one filter only.
            indexed = lead.indexed if ordered[0] == lead.name else frozenset({ordered[0]})
            return Plan(indexed, sort_indexed=True, numbers=lead.numbers)
        # Read in the sort's order; a created range stays on the index when that is the sort's.
        keep = "created" in filters.parts() and sort.name == "created_at"
        return Plan(frozenset({"created"}) if keep else frozenset(), sort_indexed=True)

    @staticmethod
    def count_plan(filters: RunFilter, lead: Lead) -> Plan:
        """The count reads through the lead's index; when the lead has more than COUNT_BUDGET runs
        and a filter its index does not serve, a capped count reads only COUNT_BUDGET of them (a
        field filter among those: FIELD_BUDGET of it)."""
        within = None
        budget = interface.COUNT_BUDGET
        unserved = set(filters.parts()) - lead.indexed
        if whole_on_numbers(filters, lead):
            pass  # the lead's number index has every filter: its count reads no row
        elif lead.name is not None and lead.probes[lead.name] > budget and unserved:
            parts = filters.parts()
            if any(isinstance(parts[name], Where) for name in unserved):
                budget = int(budget * FIELD_BUDGET)
            within = (lead.name, budget)
        return Plan(lead.indexed, sort_indexed=False, within=within, numbers=lead.numbers)

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
