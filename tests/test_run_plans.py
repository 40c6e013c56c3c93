"""SQLite's plans for a filtered runs page (orchestrator.run_plans): each plan finds the same runs
as the filter means (the Python reference of test_store), and the filter with the fewest matches
leads. PostgreSQL gets no plan: its planner has each value's share of the rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from orchestrator import run_plans
from orchestrator import runs as runs_module
from orchestrator.db import runs
from orchestrator.run_plans import COMPANIONS, Plan, choose_lead, count_plan, page_plan
from orchestrator.runs import MatchCount, RunFilter, RunStore
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
]
SORTS = [
    ("created_at", True),
    ("created_at", False),
    ("tasks_total", False),
    ("tags", True),
    ("run_id", True),
]


def every_plan(f: RunFilter) -> Iterator[Plan]:
    """Reading in the sort's order with no index, and each filter leading, sorted or in order."""
    names = set(f.parts())
    for lead in [None, *sorted(names)]:
        indexed = frozenset() if lead is None else frozenset({lead} | (COMPANIONS[lead] & names))
        for sort_indexed in (True, False):
            yield Plan(indexed, sort_indexed)


@pytest.fixture
def seeded(store: RunStore) -> RunStore:
    store.insert_many(SEED)
    return store


def test_every_plan_reads_the_runs_the_filter_means(
    seeded: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite = seeded.engine.dialect.name == "sqlite"
    with seeded.engine.connect() as conn:
        # Deep pages find their run ids first (runs.DEFER_OFFSET): from offset 10 here.
        monkeypatch.setattr(runs_module, "DEFER_OFFSET", 10)
        runs_module._page_select.cache_clear()
        failures = []
        for name, f in PLANNED:
            want = [r for r in SEED if py_matches(r, f)]
            for plan in every_plan(f) if sqlite else ():  # PostgreSQL's pages get no plan
                for sort, descending in SORTS:
                    ordered = py_sorted_ids(want, sort, descending)
                    for offset, limit in ((0, 1000), (3, 4), (12, 5)):
                        stmt = seeded.page_statement(
                            f, sort=sort, descending=descending, limit=limit, offset=offset, plan=plan
                        )
                        got = [row.run_id for row in conn.execute(stmt)]
                        if got != ordered[offset : offset + limit]:
                            failures.append(f"{name}, {plan}, sort {sort}, offset {offset}: {got}")
                exact = conn.execute(seeded.count_statement(f, cap=None, plan=plan)).scalar_one()
                capped = conn.execute(seeded.count_statement(f, cap=2, plan=plan)).scalar_one()
                if (exact, capped) != (len(want), min(len(want), 3)):
                    failures.append(f"{name}, {plan}: counted {exact} and {capped}, want {len(want)}")
            for lead in f.probed_parts():
                # A count within a budget of 4 of the lead's runs: at most 4, never more than
                # match, and all that match when the lead has no more than 4 runs.
                alone = conn.execute(
                    select(func.count()).select_from(runs).where(*f.parts()[lead])
                ).scalar_one()
                plan = Plan(frozenset(), sort_indexed=False, within=(lead, 4), sqlite=sqlite)
                got = conn.execute(seeded.count_statement(f, cap=10, plan=plan)).scalar_one()
                if got > min(len(want), 4) or (alone <= 4 and got != len(want)):
                    failures.append(
                        f"{name}, within 4 of {lead} ({alone} alone): counted {got} of {len(want)}"
                    )
    runs_module._page_select.cache_clear()
    assert not failures, "\n".join(failures[:20])


T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def forty(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    """40 runs, one a minute: 0-29 succeeded, 30-39 failed; 10-39 in workflow "a"; tasks_total = i.
    The thresholds shrink with them: narrow is at most 4 matches, ranked up to 12, sampled by 5."""
    monkeypatch.setattr(run_plans, "NARROW", 4)
    monkeypatch.setattr(run_plans, "RANK", 12)
    monkeypatch.setattr(run_plans, "SAMPLE", 5)
    store.insert_many(
        [
            full_row(
                f"r{i:02d}",
                status="succeeded" if i < 30 else "failed",
                workflow="a" if i >= 10 else "b",
                created_at=T0 + dt.timedelta(minutes=i),
                tasks_total=i,
            )
            for i in range(40)
        ]
    )
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
]


@pytest.mark.parametrize(("f", "lead", "probe", "in_order", "count"), CHOICES)
def test_the_filter_with_the_fewest_matches_leads(
    forty: RunStore, f: RunFilter, lead: str, probe: int, in_order: bool, count: int
) -> None:
    with forty.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            # PostgreSQL: the lead is the filter its planner expects fewest of (after ANALYZE)
            conn.exec_driver_sql("ANALYZE runs")
            chosen = choose_lead(conn, f)
            assert chosen.name is not None and chosen.probes[chosen.name] == min(chosen.probes.values())
            assert count_plan(conn, f, chosen) is None  # no more than COUNT_BUDGET: counted whole
            assert forty.count_matching(f).value == count
            return
        chosen = choose_lead(conn, f)
        assert (chosen.name, chosen.probes[lead]) == (lead, probe)
        assert lead in count_plan(conn, f, chosen).indexed  # type: ignore[union-attr]
    page = page_plan(f, chosen, "created_at")
    assert page.sort_indexed is in_order
    assert forty.count_matching(f).value == count
    want = sorted((r for r in forty.page_runs(f, limit=100)), key=lambda r: r["created_at"], reverse=True)
    assert len(want) == count


def test_a_plan_is_probed_once_for_a_page_and_its_count(forty: RunStore) -> None:
    f = RunFilter(statuses=["succeeded"], tasks_total_min=37)
    statements: list[str] = []
    from sqlalchemy import event

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT"):
            statements.append(statement)

    event.listen(forty.engine, "before_cursor_execute", seen)
    try:
        forty.page_runs(f)
        forty.count_matching(f)
        forty.forget_plans()
        forty.page_runs(f)
    finally:
        event.remove(forty.engine, "before_cursor_execute", seen)
    expected = 5 if forty.engine.dialect.name == "sqlite" else 3  # SQLite: probe, page, count, probe, page
    assert len(statements) == expected, statements


def test_a_count_reads_a_budget_of_the_leads_runs_and_says_at_least(
    forty: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_plans, "COUNT_BUDGET", 8)
    broad = RunFilter(statuses=["succeeded"], workflows=["a"])  # workflow leads (13 > 8), status is apart
    served = RunFilter(statuses=["failed"], tasks_total_min=10)  # status leads; its index has tasks_total
    if forty.engine.dialect.name == "sqlite":
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
    """From runs.DEFER_OFFSET on (10 here), a page selects its run ids, then their rows."""
    monkeypatch.setattr(runs_module, "DEFER_OFFSET", 10)
    runs_module._page_select.cache_clear()
    try:
        for f in (RunFilter(), RunFilter(statuses=["succeeded", "failed"]), RunFilter(text="alpha")):
            ordered = py_sorted_ids([r for r in SEED if py_matches(r, f)], sort, descending)
            for offset in (9, 10, 11, 25, len(ordered) - 2, len(ordered) + 5):
                rows = seeded.page_runs(f, sort=sort, descending=descending, limit=7, offset=offset)
                assert [r["run_id"] for r in rows] == ordered[offset : offset + 7], (f, offset)
    finally:
        runs_module._page_select.cache_clear()
