"""Two field filters together, each on its field's number index (`input.tasks >= 15 &
metrics.accuracy > 0.4`, both broad): the page reads the runs they mean on both databases, and
the count is honest: exact where the planner counts them all, "N+" with N no more than match
where it stops at its budget (SQLite: FIELD_BUDGET of COUNT_BUDGET; PostgreSQL: COMBINED_BUDGET,
and a budget's other filters are tested on their number columns, not their JSON)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from orchestrator.db.field_indexes import add_field_index, number_column_name
from orchestrator.run_queries import MatchCount, RunFilter, planner, postgres_planner, sqlite_planner
from orchestrator.run_queries.postgres_planner import PostgresPlanner
from orchestrator.runs import RunStore
from tests.test_field_indexes import PAIRS, TWO

WANT = sorted(
    (r["run_id"] for r in PAIRS if r["input"]["tasks"] >= 15 and r["metrics"]["accuracy"] > 0.4),
    reverse=True,
)
# With a status too, as broad as the fields: PAIRS are queued (full_row's default) but these.
FAILED = {"p20", "p25", "p31", "p38"}
WITH_STATUS = RunFilter(statuses=["queued"], where=list(TWO.where))


@pytest.fixture
def paired(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    """PAIRS with both fields number-indexed; SQLite's thresholds shrunk so that both are broad
    (more than RANK each) and sampled, as at a million runs."""
    rows = [{**row, "status": "failed"} if row["run_id"] in FAILED else row for row in PAIRS]
    store.insert_many(rows)
    add_field_index(store.engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    for name, value in (("WHOLE", 2), ("NARROW", 4), ("RANK", 12), ("SAMPLE", 5)):
        monkeypatch.setattr(sqlite_planner, name, value)
    if store.engine.dialect.name == "postgresql":
        # PostgreSQL's estimates (the lead), as the bench leaves its table
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) runs"))
    return RunStore(store.engine)


def test_two_fields_are_counted_exactly_within_the_budget(paired: RunStore) -> None:
    assert len(WANT) == 16
    assert [r["run_id"] for r in paired.page_runs(TWO, limit=50)] == WANT
    assert paired.count_matching(TWO) == paired.count_matching(TWO, cap=None) == MatchCount(16, exact=True)
    assert paired.count_matching(TWO, cap=5) == MatchCount(5, exact=False)  # "5+": more than 5
    with_status = sorted(set(WANT) - FAILED, reverse=True)
    assert [r["run_id"] for r in paired.page_runs(WITH_STATUS, limit=50)] == with_status
    assert paired.count_matching(WITH_STATUS) == MatchCount(len(with_status), exact=True)


def test_over_the_budget_the_count_is_at_least_and_no_more_than_match(
    paired: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget smaller than either field's matches: "N+", N of the runs that match (never more),
    the same runs on the page; exact on demand (no cap)."""
    monkeypatch.setattr(planner, "COUNT_BUDGET", 9)
    paired.forget_plans()
    got = paired.count_matching(TWO)
    assert not got.exact and got.value <= 16 and str(got) == f"{got.value}+"
    assert paired.count_matching(TWO, cap=None) == MatchCount(16, exact=True)
    assert [r["run_id"] for r in paired.page_runs(TWO, limit=50)] == WANT


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # PostgreSQL's planner alone
def test_postgres_counts_two_fields_within_a_budget_of_the_lead(
    paired: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two filters on number columns, the lead broader than COMBINED_BUDGET: a capped count reads
    that many of its runs (not every match's row); within it, or uncapped, exact."""
    assert isinstance(paired.planner, PostgresPlanner)
    with paired.engine.connect() as conn:
        lead = paired.planner.lead(conn, TWO)
    assert lead is not None and lead.name in TWO.parts() and lead.numbers == set(TWO.parts())
    assert PostgresPlanner.count_plan(TWO, lead) is None  # 23 or 25 runs: within the budget
    monkeypatch.setattr(postgres_planner, "COMBINED_BUDGET", 4)
    assert PostgresPlanner.count_plan(TWO, lead) == (lead.name, 4)
    got = paired.count_matching(TWO)
    assert not got.exact and got.value <= 4
    assert paired.count_matching(TWO, cap=None) == MatchCount(16, exact=True)
    one = RunFilter(where=["input.tasks >= 15"], statuses=["queued"])  # one number column: exact
    with paired.engine.connect() as conn:
        assert PostgresPlanner.count_plan(one, paired.planner.lead(conn, one)) is None


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # PostgreSQL's planner alone
def test_postgres_budget_tests_the_other_fields_on_their_number_columns(paired: RunStore) -> None:
    """A count within a budget of the lead's runs (a filter beside that no number column serves)
    tests the other field on its number column, not its JSON; at most as many as match, all of
    them where the budget holds every run of the lead."""
    f = RunFilter(where=[*TWO.where, "state.done is not set"])  # no run has a state: all of them
    with paired.engine.connect() as conn:
        lead = paired.planner.lead(conn, f)
        assert lead is not None and lead.name in TWO.parts()
        other = next(name for name in TWO.parts() if name != lead.name)
        field = other.split()[0]
        for size in (4, 25):  # 25: every run of either field
            stmt = postgres_planner.count_statement(f, 10_000, (lead.name, size), lead.numbers)
            sql = str(stmt.compile(conn))
            assert f"first.{number_column_name(field)} " in sql, sql
            assert f"first.{field.split('.')[0]} " not in sql, sql  # its JSON is not read
            got = conn.execute(stmt).scalar_one()
            assert got == len(WANT) if size == 25 else got <= size
