"""The planners of a filtered runs page (orchestrator.run_queries): each SQLite plan finds the same
runs as the filter means (the Python reference of test_store), and the filter with the fewest
matches leads. PostgreSQL's pages get no plan (its planner has each value's share of the rows);
its count gets the same budget as SQLite's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from orchestrator.db import runs
from orchestrator.db.field_indexes import indexed_fields
from orchestrator.run_queries import (
    Field,
    MatchCount,
    RunFilter,
    planner,
    postgres_planner,
    sqlite_planner,
    statements,
)
from orchestrator.run_queries.planner import COMPANIONS, probed_parts
from orchestrator.run_queries.sqlite_planner import Plan, SqlitePlanner
from orchestrator.runs import RunStore
from tests.test_store import FILTER_CASES, SEED, by_created, full_row, py_matches, py_sorted_ids

PLANNED = [(name, f) for name, f, _ in FILTER_CASES if f.parts()] + [
    (
        "two statuses, counts",
        RunFilter(statuses=["failed", "succeeded"], tasks_total_min=3, tasks_failed_max=2),
    ),
    ("one status, created from", RunFilter(statuses=["succeeded"], created_from=by_created(10))),
    ("workflow, created, text", RunFilter(workflows=["simulate"], created_to=by_created(50), text="plain")),
    ("text and counts", RunFilter(text="alpha", tasks_completed_min=1)),
    ("unicode text and status", RunFilter(text="héllo", statuses=["succeeded", "failed"])),
    # field filters: never probed (no lead), tested row by row beside any lead, under every plan
    ("a field alone", RunFilter(where=["input.size >= 200"])),
    ("a field and a status", RunFilter(statuses=["succeeded", "failed"], where=["input.size < 300"])),
    (
        "fields, counts and text",
        RunFilter(tasks_total_min=2, text="plain", where=["input.note contains text", "state.i > 5"]),
    ),
    (
        "a field and created",
        RunFilter(created_from=by_created(20), where=["input.size != 17", "state.i is set"]),
    ),
    ("a field no run has", RunFilter(workflows=["simulate"], where=["input.nothing is set"])),
]
SORTS = [
    ("created_at", True),
    ("created_at", False),
    ("tasks_total", False),
    ("tags", True),
    ("run_id", True),
    ("input.size", True),
    ("state.i", False),
]


def every_plan(f: RunFilter) -> Iterator[Plan]:
    """Reading in the sort's order with no index, and each filter leading, sorted or in order."""
    names = set(f.parts())
    for lead in [None, *sorted(names)]:
        indexed = (
            frozenset() if lead is None else frozenset({lead} | (COMPANIONS.get(lead, frozenset()) & names))
        )
        for sort_indexed in (True, False):
            yield Plan(indexed, sort_indexed)


@pytest.fixture
def seeded(store: RunStore) -> RunStore:
    store.insert_many(SEED)
    return store


def test_every_plan_reads_the_runs_the_filter_means(
    seeded: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite = isinstance(seeded.planner, SqlitePlanner)
    with seeded.engine.connect() as conn:
        # Deep pages find their run ids first (statements.DEFER_OFFSET): from offset 10 here.
        monkeypatch.setattr(statements, "DEFER_OFFSET", 10)
        statements.forget_statements()
        failures = []
        for name, f in PLANNED:
            want = [r for r in SEED if py_matches(r, f)]
            for plan in every_plan(f) if sqlite else ():  # PostgreSQL's pages get no plan
                for sort, descending in SORTS:
                    ordered = py_sorted_ids(want, sort, descending)
                    for offset, limit in ((0, 1000), (3, 4), (12, 5)):
                        stmt = sqlite_planner.page_statement(f, Field(sort), descending, limit, offset, plan)
                        got = [row.run_id for row in conn.execute(stmt)]
                        if got != ordered[offset : offset + limit]:
                            failures.append(f"{name}, {plan}, sort {sort}, offset {offset}: {got}")
                exact = conn.execute(sqlite_planner.count_statement(f, None, plan)).scalar_one()
                capped = conn.execute(sqlite_planner.count_statement(f, 2, plan)).scalar_one()
                if (exact, capped) != (len(want), min(len(want), 3)):
                    failures.append(f"{name}, {plan}: counted {exact} and {capped}, want {len(want)}")
            for lead in probed_parts(f, indexed_fields(conn)):
                # A count within a budget of 4 of the lead's runs: at most 4, never more than
                # match, and all that match when the lead has no more than 4 runs.
                alone = conn.execute(
                    select(func.count()).select_from(runs).where(*statements.clauses(f.parts()[lead]))
                ).scalar_one()
                if sqlite:
                    within = sqlite_planner.count_statement(f, 10, Plan(frozenset(), False, within=(lead, 4)))
                else:
                    within = postgres_planner.count_statement(f, 10, (lead, 4))
                got = conn.execute(within).scalar_one()
                if got > min(len(want), 4) or (alone <= 4 and got != len(want)):
                    failures.append(
                        f"{name}, within 4 of {lead} ({alone} alone): counted {got} of {len(want)}"
                    )
    statements.forget_statements()
    assert not failures, "\n".join(failures[:20])


T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


# 40 runs, one a minute: 0-29 succeeded, 30-39 failed; 10-39 in workflow "a"; tasks_total = i;
# input.tasks = i (a field with an expression index: field_indexes, migration 0017).
FORTY = [
    full_row(
        f"r{i:02d}",
        status="succeeded" if i < 30 else "failed",
        workflow="a" if i >= 10 else "b",
        created_at=T0 + dt.timedelta(minutes=i),
        tasks_total=i,
        input={"tasks": i},
    )
    for i in range(40)
]


@pytest.fixture
def forty(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    """FORTY, with SQLite's thresholds shrunk to them: narrow is at most 4 matches, ranked up to
    12, sampled by 5."""
    monkeypatch.setattr(sqlite_planner, "NARROW", 4)
    monkeypatch.setattr(sqlite_planner, "RANK", 12)
    monkeypatch.setattr(sqlite_planner, "SAMPLE", 5)
    store.insert_many(FORTY)
    return store


CHOICES = [
    # (filter, the lead, its probe, the page's plan reads in the sort's order, the count)
    (RunFilter(statuses=["succeeded"], tasks_total_min=37), "tasks_total", 3, False, 0),
    (RunFilter(statuses=["failed"], tasks_total_min=10), "status", 10, True, 10),
    # both broader than RANK: the first SAMPLE runs on workflow's index are all succeeded,
    # on status's index none is in workflow "a"
    (RunFilter(statuses=["succeeded"], workflows=["a"]), "workflow", 13, True, 20),
    # both broader than NARROW, but one index has both and finds none: read that way, sorted
    (RunFilter(statuses=["succeeded"], tasks_total_min=33), "tasks_total", 7, False, 0),
    # broad, and no index has the sort's order: read through the sort's index
    (RunFilter(tasks_total_min=5, workflows=["a", "b"]), "workflow", 13, True, 35),
    # an indexed field leads like a column: narrow, read whole through its expression index
    (RunFilter(statuses=["succeeded"], where=["input.tasks >= 37"]), "input.tasks >= 37", 3, False, 0),
    (RunFilter(workflows=["a"], where=["input.tasks < 3"]), "input.tasks < 3", 3, False, 0),
    # broad, beside a narrower status
    (RunFilter(statuses=["failed"], where=["input.tasks >= 5"]), "status", 10, True, 10),
]


@pytest.mark.parametrize(("f", "lead", "probe", "in_order", "count"), CHOICES)
def test_the_filter_with_the_fewest_matches_leads(
    forty: RunStore, f: RunFilter, lead: str, probe: int, in_order: bool, count: int
) -> None:
    want = [r for r in FORTY if py_matches(r, f)]
    assert len(want) == count  # the count written by hand agrees with the reference
    newest_first = py_sorted_ids(want, "created_at", True)
    with forty.engine.connect() as conn:
        if not isinstance(forty.planner, SqlitePlanner):
            # PostgreSQL: the lead is the filter its planner expects fewest of (after ANALYZE)
            conn.exec_driver_sql("ANALYZE runs")
            chosen = forty.planner.choose_lead(conn, f)
            assert chosen.name is not None and chosen.probes[chosen.name] == min(chosen.probes.values())
            assert postgres_planner.PostgresPlanner.count_plan(f, chosen) is None  # within the budget: whole
        else:
            chosen = forty.planner.choose_lead(conn, f)
            assert (chosen.name, chosen.probes[lead]) == (lead, probe)
            assert lead in SqlitePlanner.count_plan(f, chosen).indexed
            assert SqlitePlanner.page_plan(f, chosen, Field("created_at")).sort_indexed is in_order
    assert forty.count_matching(f) == MatchCount(count, exact=True)
    assert [r["run_id"] for r in forty.page_runs(f, limit=100)] == newest_first


def test_a_plan_is_probed_once_for_a_page_and_its_count_and_again_when_old(
    forty: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lead is kept PLAN_SECONDS by the planner's clock, which the test drives: the page and
    its count probe once, a forgotten plan or one older than PLAN_SECONDS is probed again."""
    from sqlalchemy import event

    from orchestrator.run_queries import planner

    clock = [1000.0]
    monkeypatch.setattr(planner, "monotonic", lambda: clock[0])
    f = RunFilter(statuses=["succeeded"], tasks_total_min=37)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith(("SELECT", "EXPLAIN")):
            statements.append(statement)

    def reads(*calls) -> int:  # type: ignore[no-untyped-def]
        statements.clear()
        for call in calls:
            call()
        return len(statements)

    event.listen(forty.engine, "before_cursor_execute", seen)
    try:
        page, count = (lambda: forty.page_runs(f)), (lambda: forty.count_matching(f))
        reads(page, count)  # the indexed fields are read once, kept planner.FIELDS_SECONDS
        probed = reads(forty.forget_plans, page, count) - reads(page, count)  # the lead's probes
        assert probed >= 1, statements  # SQLite: one probe; PostgreSQL: an estimate per filter
        clock[0] += planner.PLAN_SECONDS - 0.1  # still fresh: no probe
        assert reads(page, count) == 2, statements
        clock[0] += 0.2  # older than PLAN_SECONDS: probed again, once for the page and its count
        assert reads(page, count) == 2 + probed, statements
    finally:
        event.remove(forty.engine, "before_cursor_execute", seen)


def test_a_count_reads_a_budget_of_the_leads_runs_and_says_at_least(
    forty: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planner, "COUNT_BUDGET", 8)
    broad = RunFilter(statuses=["succeeded"], workflows=["a"])  # workflow leads (13 > 8), status is apart
    served = RunFilter(statuses=["failed"], tasks_total_min=10)  # status leads; its index has tasks_total
    if isinstance(forty.planner, SqlitePlanner):
        # the first 8 runs of workflow "a" (r10-r17) are all succeeded: at least 8
        assert forty.count_matching(broad) == MatchCount(8, exact=False)
        assert str(forty.count_matching(broad)) == "8+"
    else:
        # PostgreSQL leads with the filter it expects fewest of (a tie: 30 and 30) and reads any
        # 8 of its runs: at least as many of them as match the other filter
        with forty.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE runs")
            conn.commit()
        forty.forget_plans()
        got = forty.count_matching(broad)
        assert not got.exact and got.value <= 8
    assert forty.count_matching(broad, cap=None) == MatchCount(20, exact=True)
    capped = forty.count_matching(broad, cap=5)
    assert not capped.exact and capped.value <= 5
    assert forty.count_matching(served) == MatchCount(10, exact=True)


@pytest.mark.parametrize(("sort", "descending"), SORTS)
def test_deep_pages_find_their_run_ids_first_and_keep_the_order(
    seeded: RunStore, monkeypatch: pytest.MonkeyPatch, sort: str, descending: bool
) -> None:
    """From statements.DEFER_OFFSET on (10 here), a page selects its run ids, then their rows."""
    monkeypatch.setattr(statements, "DEFER_OFFSET", 10)
    statements.forget_statements()
    try:
        for f in (RunFilter(), RunFilter(statuses=["succeeded", "failed"]), RunFilter(text="alpha")):
            ordered = py_sorted_ids([r for r in SEED if py_matches(r, f)], sort, descending)
            for offset in (9, 10, 11, 25, len(ordered) - 2, len(ordered) + 5):
                rows = seeded.page_runs(f, sort=sort, descending=descending, limit=7, offset=offset)
                assert [r["run_id"] for r in rows] == ordered[offset : offset + 7], (f, offset)
    finally:
        statements.forget_statements()
