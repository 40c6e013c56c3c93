"""How SQLite reads a filtered runs page and its count: which filter's index leads.

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
  COUNT_BUDGET of its runs.

A plan changes how rows are found, never which: every plan's statement has every filter.
PostgreSQL's planner has each value's share of the rows, so its pages get no plan (None); its
count gets the same budget, its lead chosen by the planner's own estimates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from orchestrator.db import estimated_rows

if TYPE_CHECKING:
    from orchestrator.run_filter import RunFilter

# A lead with at most this many matches is read whole and sorted (~1.5 us a row: <= 8 ms).
NARROW = 5_000
# Broader leads are ranked by their matches up to this many (an index-only count, <= 2 ms).
RANK = 50_000
# Filters broader than RANK are told apart by how many of their first SAMPLE runs match the
# others (SAMPLE row reads, ~1.5 ms each).
SAMPLE = 1_000
# A capped count reads at most this many of its lead's runs (~1.5 us each, ~20 ms): where few of
# them match the other filters, 10,000 matches could mean reading 100,000 runs (0.15 s). Beyond
# the budget the page says how many it found, as "at least" (e.g. "2,013+"), exact on demand.
COUNT_BUDGET = 12_000
# Which filters an index that leads with a filter also serves (the composite indexes on runs),
# so that they stay usable beside the lead.
COMPANIONS: Mapping[str, frozenset[str]] = {
    "status": frozenset({"tasks_total", "tasks_completed", "tasks_failed", "created"}),
    "workflow": frozenset({"created"}),
    "launched_by": frozenset({"created"}),
    "tasks_total": frozenset({"status"}),
    "tasks_completed": frozenset({"status"}),
    "tasks_failed": frozenset({"status"}),
    "created": frozenset({"status", "workflow", "launched_by"}),
    "text": frozenset(),
}
# A plan is kept this long for the same filter on the same engine, so the page and its count
# (asked apart, by two fragments) probe once. A stale plan is only slower, never wrong.
PLAN_SECONDS = 5.0


@dataclass(frozen=True)
class Plan:
    """Which filters' indexes a statement may use, and whether the sort's index may read it in order."""

    indexed: frozenset[str]
    sort_indexed: bool
    # A capped count reads only the first N runs on this filter's index (COUNT_BUDGET).
    within: tuple[str, int] | None = None
    sqlite: bool = True  # SQLite's statements (rowid, the search table) or PostgreSQL's


@dataclass(frozen=True)
class Lead:
    """The filter whose index leads, and each probed filter's matches alone (capped)."""

    name: str | None
    probes: Mapping[str, int]
    indexed: frozenset[str]  # the lead and the filters its index also serves
    # Where the lead's index serves every filter: the runs that match them all, up to NARROW + 1
    # (counted on that index alone). None where it does not, or the lead is narrow itself.
    covered: int | None = None


def _ordered(filters: RunFilter, lead: str, sort: str) -> bool:
    """Whether the lead's index reads its matches in the page's sort order."""
    if sort == "created_at":
        if lead == "status":
            return len(filters.statuses) == 1  # (status, created_at)
        if lead == "workflow":
            return len(filters.workflows) == 1  # (workflow, created_at)
        return lead in ("launched_by", "created")
    return lead == sort  # a task count's index is (count, run_id): the sort and its tie-break


def _probe(conn: Connection, filters: RunFilter, names: list[str], cap: int) -> dict[str, int]:
    """Each named filter's matches alone, up to cap + 1, in one statement."""
    probes = [filters.probe(name, cap).scalar_subquery() for name in names]
    return dict(zip(names, conn.execute(select(*probes)).one(), strict=True))


def _sample(conn: Connection, filters: RunFilter, names: list[str]) -> dict[str, int]:
    """Per named filter, how many of its first SAMPLE runs match every other filter."""
    samples = [filters.sample(name, SAMPLE).scalar_subquery() for name in names]
    return dict(zip(names, conn.execute(select(*samples)).one(), strict=True))


def _estimated_lead(conn: Connection, filters: RunFilter) -> Lead:
    """PostgreSQL: the filter its planner expects the fewest matches of (its statistics; only
    the count's budget needs it, and only with two filters or more)."""
    names = filters.probed_parts()
    if len(names) < 2:
        return Lead(None, {}, frozenset())
    estimates = {name: estimated_rows(conn, filters.probe(name, cap=None)) for name in names}
    lead = min(names, key=lambda n: estimates[n])
    return Lead(lead, estimates, frozenset({lead} | (COMPANIONS[lead] & set(filters.parts()))))


def choose_lead(conn: Connection, filters: RunFilter) -> Lead:
    """Probe each filter that has an index and take the one with the fewest matches."""
    if conn.dialect.name == "postgresql":
        return _estimated_lead(conn, filters)
    names = filters.probed_parts()
    if not names:
        return Lead(None, {}, frozenset())
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
    indexed = frozenset({lead} | (COMPANIONS[lead] & set(filters.parts())))
    covered = None
    if probes[lead] > NARROW and indexed >= set(filters.parts()):
        # e.g. a status and a task-count range, both broad, few runs with both: one index has both
        covered = conn.execute(filters.probe_all(indexed, NARROW)).scalar_one()
    return Lead(lead, probes, indexed, covered)


def count_plan(conn: Connection, filters: RunFilter, lead: Lead) -> Plan | None:
    """The count reads through the lead's index; when the lead has more than COUNT_BUDGET runs
    and a filter its index does not serve, a capped count reads only COUNT_BUDGET of them.
    PostgreSQL's count is its planner's but for that budget (None: no plan)."""
    within = None
    if (
        lead.name is not None
        and lead.probes[lead.name] > COUNT_BUDGET
        and set(filters.parts()) - lead.indexed
    ):
        within = (lead.name, COUNT_BUDGET)
    if conn.dialect.name != "sqlite":
        return None if within is None else Plan(frozenset(), sort_indexed=False, within=within, sqlite=False)
    return Plan(lead.indexed, sort_indexed=False, within=within)


def page_plan(filters: RunFilter, lead: Lead, sort: str) -> Plan:
    """A narrow lead (or an index that serves every filter and finds few runs) is read whole and
    sorted; else the page is read in the sort's order."""
    few = lead.covered is not None and lead.covered <= NARROW
    if lead.name is not None and (lead.probes[lead.name] <= NARROW or few):
        return Plan(lead.indexed, sort_indexed=False)
    if lead.name is not None and _ordered(filters, lead.name, sort):
        return Plan(lead.indexed, sort_indexed=True)
    # Read in the sort's order; a created range stays on the index when that is the sort's.
    keep = "created" in filters.parts() and sort == "created_at"
    return Plan(frozenset({"created"}) if keep else frozenset(), sort_indexed=True)


class LeadCache:
    """Leads by filter, kept PLAN_SECONDS: the page and its count probe once."""

    def __init__(self) -> None:
        self._leads: dict[tuple[Any, ...], tuple[float, Lead]] = {}

    def get(self, conn: Connection, filters: RunFilter, key: tuple[Any, ...]) -> Lead:
        now = time.monotonic()
        found = self._leads.get(key)
        if found is not None and now - found[0] < PLAN_SECONDS:
            return found[1]
        lead = choose_lead(conn, filters)
        if len(self._leads) > 256:
            self._leads = {k: v for k, v in self._leads.items() if now - v[0] < PLAN_SECONDS}
        self._leads[key] = (now, lead)
        return lead

    def clear(self) -> None:
        self._leads.clear()
