"""RunStore on both backends: round trips, status changes, deletes and queries (the executor's
fenced writes are in test_claims.py).

Query results are checked against the same filter / sort / page computed in plain Python
from the seed rows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.db import run_tasks, runs, utcnow
from orchestrator.errors import InputError
from orchestrator.run_queries import COST, LIST_COLUMNS, SORT_COLUMNS, USAGE_COUNTS, Field, RunFilter
from orchestrator.run_queries.statements import portable_count, portable_page
from orchestrator.status import ALL_STATUSES
from tests.field_reference import MISSING, py_where, value_at
from tests.helpers import FINISHED

UTC = dt.UTC
PLUS_TWO = dt.timezone(dt.timedelta(hours=2))
T0 = dt.datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)


def assert_utc_equal(got: dt.datetime | None, want: dt.datetime | None, what: str = "") -> None:
    if want is None:
        assert got is None, what
        return
    assert got is not None, what
    assert got.tzinfo is not None, f"{what}: naive datetime {got!r}"
    assert got.utcoffset() == dt.timedelta(0), f"{what}: not UTC {got!r}"
    assert got == want, what


def full_row(run_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "run_id": run_id,
        "workflow": "simulate",
        "status": "queued",
        "created_at": T0,
        "started_at": None,
        "finished_at": None,
        "tasks_total": 0,
        "tasks_completed": 0,
        "tasks_failed": 0,
        "input": {},
        "state_snapshot": None,
        "error": None,
        "tags": [],
        "heartbeat_at": None,
        "worker": None,
        "cancel_requested": False,
        "resume_value": None,
        "rerun_of": None,
    }
    row.update(overrides)
    return row


# -- round trips ------------------------------------------------------------------------------

ROUND_TRIP = full_row(
    "rt-1",
    workflow="plan_execute",
    status="failed",
    created_at=dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    # Written with a +02:00 offset: must come back as the same instant in UTC.
    started_at=dt.datetime(2024, 3, 1, 2, 0, 0, 1, tzinfo=PLUS_TWO),
    finished_at=dt.datetime(2024, 3, 1, 0, 1, 30, 654321, tzinfo=UTC),
    tasks_total=5,
    tasks_completed=3,
    tasks_failed=2,
    input={
        "text": "héllo ✓ 日本",
        "nested": {"list": [1, -2, 2.5, None, True, False, "ß"], "deep": {"deeper": [{}, []]}},
        "none": None,
        "empty": "",
        "quote": 'say "hi" \\ bye',
    },
    state_snapshot={"messages": [{"role": "user", "content": "日本"}], "count": 2, "none": None},
    error="node b raised ValueError ✓",
    tags=["alpha", "日本", "with space"],
    heartbeat_at=dt.datetime(2024, 3, 1, 0, 1, 29, 5, tzinfo=UTC),
    worker="host-ü:4242",
    cancel_requested=True,
    resume_value={"approved": True, "note": None, "text": "ja ✓"},
    rerun_of="rt-0",
)


def test_every_column_round_trips_through_insert_many(store):
    store.insert_many([ROUND_TRIP])
    run = store.get_run("rt-1")
    assert run is not None
    for key, want in ROUND_TRIP.items():
        if isinstance(want, dt.datetime):
            assert_utc_equal(run[key], want, key)
        else:
            assert run[key] == want, key
            assert type(run[key]) is type(want), key
    want_duration = (ROUND_TRIP["finished_at"] - ROUND_TRIP["started_at"]).total_seconds()
    assert run["wall_seconds"] == pytest.approx(want_duration, abs=1e-3)


def test_create_run_round_trips_and_fills_defaults(store):
    created = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=PLUS_TWO)
    run_id = store.create_run(
        "simulate", {"topic": "héllo ✓ 日本", "n": [1, None]}, ["a", "ünï"], created_at=created
    )
    run = store.get_run(run_id)
    assert run["run_id"] == run_id
    assert run["workflow"] == "simulate"
    assert run["status"] == "queued"
    assert_utc_equal(run["created_at"], created, "created_at")
    assert run["input"] == {"topic": "héllo ✓ 日本", "n": [1, None]}
    assert run["tags"] == ["a", "ünï"]
    assert (run["tasks_total"], run["tasks_completed"], run["tasks_failed"]) == (0, 0, 0)
    assert run["cancel_requested"] is False
    for key in (
        "started_at",
        "finished_at",
        "heartbeat_at",
        "worker",
        "error",
        "state_snapshot",
        "resume_value",
        "rerun_of",
        "wall_seconds",
        "work_seconds",
        "tasks_planned",
    ):
        assert run[key] is None, key


def test_create_run_defaults_created_at_to_now_and_tags_to_empty(store):
    before = utcnow()
    run_id = store.create_run("simulate", None, run_id="given-id")
    after = utcnow()
    run = store.get_run(run_id)
    assert run_id == "given-id"
    assert run["created_at"].utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(milliseconds=1) <= run["created_at"] <= after
    assert run["tags"] == []
    assert run["input"] is None


def test_get_run_of_unknown_id_is_none_and_get_runs_keeps_the_order_asked(store):
    ids = [store.create_run("simulate", {"i": i}) for i in range(3)]
    assert store.get_run("no-such-run") is None
    got = store.get_runs([ids[2], "missing", ids[0]])
    assert [r["run_id"] for r in got] == [ids[2], ids[0]]
    assert got[0]["input"] == {"i": 2}


def test_none_json_values_are_sql_null_sorted_last_and_not_searchable(store):
    store.insert_many(
        [
            full_row("with-tags", tags=["x"], input={"k": "v"}),
            full_row("no-tags", tags=None, input=None, created_at=T0 + dt.timedelta(minutes=1)),
        ]
    )
    with store.engine.connect() as conn:
        nulls = conn.execute(select(func.count()).select_from(runs).where(runs.c.tags.is_(None))).scalar_one()
    assert nulls == 1
    for descending in (False, True):
        page = store.query_runs(sort="tags", descending=descending)
        assert [r["run_id"] for r in page.rows] == ["with-tags", "no-tags"]
    assert store.query_runs(RunFilter(text="null")).total == 0


# -- updates and status changes ---------------------------------------------------------------


def test_update_run_with_expected_statuses_reports_a_lost_race(store):
    run_id = store.create_run("simulate", {})
    assert store.update_run(run_id, expected=["running"], worker="w1") is False
    assert store.get_run(run_id)["worker"] is None
    assert store.update_run(run_id, expected=["queued", "running"], worker="w1") is True
    assert store.get_run(run_id)["worker"] == "w1"
    assert store.update_run(run_id, worker="w2") is True
    assert store.update_run("no-such-run", worker="w3") is False


def test_set_status_moves_once_and_final_status_sets_finished_at(store):
    run_id = store.create_run("simulate", {})
    assert store.set_status(run_id, "running", expected=["queued"]) is True
    assert store.set_status(run_id, "running", expected=["queued"]) is False  # the lost race
    run = store.get_run(run_id)
    assert run["status"] == "running"
    assert run["finished_at"] is None

    before = utcnow()
    assert store.set_status(run_id, "succeeded", expected=["running"], snapshot={"answer": "日本 ✓"})
    after = utcnow()
    run = store.get_run(run_id)
    assert run["status"] == "succeeded"
    assert run["state_snapshot"] == {"answer": "日本 ✓"}
    assert run["error"] is None
    assert before - dt.timedelta(milliseconds=1) <= run["finished_at"] <= after
    assert run["finished_at"].utcoffset() == dt.timedelta(0)

    assert store.set_status(run_id, "cancelled", expected=list(("queued", "running"))) is False
    assert store.get_run(run_id)["status"] == "succeeded"


def test_set_status_failed_stores_the_error(store):
    run_id = store.create_run("simulate", {})
    assert store.set_status(run_id, "failed", error="boom ✗")
    run = store.get_run(run_id)
    assert (run["status"], run["error"]) == ("failed", "boom ✗")
    assert run["finished_at"] is not None


def test_delete_run_removes_the_run_and_its_tasks_only(store):
    keep = store.create_run("simulate", {})
    gone = store.create_run("simulate", {})
    store.insert_tasks(
        [
            {"run_id": run_id, "task_id": "t", "node": "work", "status": "succeeded", "started_at": T0}
            for run_id in (keep, gone)
        ]
    )
    assert store.delete_run(gone) is True
    assert store.get_run(gone) is None
    assert store.get_tasks(gone) == []
    assert store.delete_run(gone) is False
    assert store.get_run(keep) is not None
    assert len(store.get_tasks(keep)) == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(run_tasks)).scalar_one() == 1


# -- queries ----------------------------------------------------------------------------------

WORKFLOWS = ("simulate", "plan_execute", "etl")
SEED_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")  # no awaiting_input
TAG_POOL = ("alpha", "beta", "team_a", "prod", "日本", "ünï")
NOTES = (
    "héllo ✓ 日本",
    "50%_off",
    "50abcoff",
    "plain text",
    "path/to/file",
    "Mixed CASE Note",
    "underscore_x",
)


def seed_rows(n: int = 60) -> list[dict[str, Any]]:
    rng = random.Random(20240301)
    # The runs' model calls and log counts from a generator of their own: the other columns stay
    # as the query tests knew them.
    usage_rng = random.Random(26)
    minutes = list(range(n))
    rng.shuffle(minutes)  # created_at order differs from run_id order
    rows = []
    for i in range(n):
        status = SEED_STATUSES[i % len(SEED_STATUSES)] if i < 12 else rng.choice(SEED_STATUSES)
        created = T0 + dt.timedelta(minutes=3 * minutes[i], microseconds=rng.randrange(1_000_000))
        started = finished = worker = heartbeat = None
        if status != "queued" and not (status == "cancelled" and i % 2 == 0):
            started = created + dt.timedelta(
                seconds=rng.randrange(1, 120), microseconds=rng.randrange(1_000_000)
            )
            worker = f"worker-{rng.randint(1, 3)}"
            heartbeat = started + dt.timedelta(seconds=5)
        if status in FINISHED:
            # Distinct durations, so float rounding never decides an order.
            base = started or created
            finished = base + dt.timedelta(seconds=11 * (i + 1), microseconds=rng.randrange(1_000_000))
        total = rng.randint(0, 12)
        completed = rng.randint(0, total)
        failed = rng.randint(0, total - completed)
        # A finished run's work: a part of its wall time (waits and pauses are the rest), distinct.
        work = None
        if started is not None and finished is not None:
            work = round((finished - started).total_seconds() * (0.2 + 0.6 * rng.random()), 6) + i * 1e-3
        rows.append(
            full_row(
                f"run-{i:03d}",
                workflow=rng.choice(WORKFLOWS),
                status=status,
                created_at=created,
                started_at=started,
                finished_at=finished,
                work_seconds=work,
                tasks_total=total,
                tasks_completed=completed,
                tasks_failed=failed,
                input={"note": NOTES[i % len(NOTES)], "size": rng.randint(1, 500)},
                state_snapshot={"i": i},
                error="boom" if status == "failed" else None,
                tags=rng.sample(TAG_POOL, k=rng.randint(0, 3)),
                heartbeat_at=heartbeat,
                worker=worker,
                **usage_figures(usage_rng, i),
            )
        )
    return rows


def usage_figures(rng: random.Random, i: int) -> dict[str, Any]:
    """A run's model calls, tokens, cost and log counts (none for every fourth run)."""
    calls = 0 if i % 4 == 0 else rng.randint(1, 5)
    input_tokens = calls * rng.randint(100, 900)
    output_tokens = calls * rng.randint(10, 300)
    return {
        "model_calls": calls,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": (input_tokens * 2.5 + output_tokens * 10.0) / 1_000_000,
        "warnings": rng.randint(0, 3),
        "errors": rng.choice((0, 0, 1, 2)),
    }


SEED = seed_rows()
SEED_BY_ID = {r["run_id"]: r for r in SEED}


@pytest.fixture
def seeded(store):
    store.insert_many(SEED)
    return store


def py_matches(row: dict[str, Any], f: RunFilter) -> bool:
    """RunFilter's meaning, written independently of the SQL."""
    if f.statuses and row["status"] not in f.statuses:
        return False
    if f.workflows and row["workflow"] not in f.workflows:
        return False
    for name in ("tasks_total", "tasks_completed", "tasks_failed", *USAGE_COUNTS, COST):
        low, high = getattr(f, f"{name}_min"), getattr(f, f"{name}_max")
        if low is not None and sort_value(row, name) < low:
            return False
        if high is not None and sort_value(row, name) > high:
            return False
    if f.created_from is not None and row["created_at"] < f.created_from:
        return False
    if f.created_to is not None and row["created_at"] >= f.created_to:
        return False
    term = f.text.strip().lower()
    if term:
        haystacks = (
            row["run_id"],
            json.dumps(row["tags"], ensure_ascii=False),
            json.dumps(row["input"], ensure_ascii=False),
        )
        if not any(term in h.lower() for h in haystacks):
            return False
    return all(py_where(row, test) for test in f.where)  # type: ignore[arg-type]


def sort_value(row: dict[str, Any], key: str) -> Any:
    if "." in key:  # a field: missing or null sorts last
        value = value_at(row, Field(key))
        return None if value is MISSING else value
    if key == "wall_seconds":
        if row["started_at"] is None or row["finished_at"] is None:
            return None
        return (row["finished_at"] - row["started_at"]).total_seconds()
    if key == "tags":
        return None if row["tags"] is None else json.dumps(row["tags"], ensure_ascii=False)
    if key == "tokens":  # input + output tokens, as every view has it
        return row["input_tokens"] + row["output_tokens"]
    return row[key]


def py_sorted_ids(rows: list[dict[str, Any]], key: str, descending: bool) -> list[str]:
    """ORDER BY key [DESC] NULLS LAST, run_id in the same direction."""
    present = [r for r in rows if sort_value(r, key) is not None]
    missing = [r for r in rows if sort_value(r, key) is None]
    present.sort(key=lambda r: (sort_value(r, key), r["run_id"]), reverse=descending)
    missing.sort(key=lambda r: r["run_id"], reverse=descending)
    return [r["run_id"] for r in present + missing]


def all_ids(store, f: RunFilter | None = None, **kwargs: Any) -> tuple[list[str], int]:
    page = store.query_runs(f, limit=1000, **kwargs)
    return [r["run_id"] for r in page.rows], page.total


def by_created(i: int) -> dt.datetime:
    return sorted(r["created_at"] for r in SEED)[i]


FILTER_CASES: list[tuple[str, RunFilter, bool]] = [
    # (name, filter, must the seed give a non-empty answer)
    ("no filter", RunFilter(), True),
    ("one status", RunFilter(statuses=["failed"]), True),
    ("two statuses", RunFilter(statuses=["succeeded", "cancelled"]), True),
    ("status with no runs", RunFilter(statuses=["awaiting_input"]), False),
    ("one workflow", RunFilter(workflows=["etl"]), True),
    ("two workflows", RunFilter(workflows=["simulate", "etl"]), True),
    ("unknown workflow", RunFilter(workflows=["nope"]), False),
    ("tasks_total min", RunFilter(tasks_total_min=7), True),
    ("tasks_total max", RunFilter(tasks_total_max=3), True),
    ("tasks_total range", RunFilter(tasks_total_min=4, tasks_total_max=6), True),
    ("tasks_completed min", RunFilter(tasks_completed_min=5), True),
    ("tasks_completed max", RunFilter(tasks_completed_max=0), True),
    ("tasks_completed range", RunFilter(tasks_completed_min=2, tasks_completed_max=4), True),
    ("tasks_failed min", RunFilter(tasks_failed_min=2), True),
    ("tasks_failed max", RunFilter(tasks_failed_max=0), True),
    ("tasks_failed range", RunFilter(tasks_failed_min=1, tasks_failed_max=1), True),
    ("created from (inclusive)", RunFilter(created_from=by_created(40)), True),
    ("created to (exclusive)", RunFilter(created_to=by_created(15)), True),
    ("created range", RunFilter(created_from=by_created(10), created_to=by_created(30)), True),
    (
        "created range in another time zone",
        RunFilter(
            created_from=by_created(5).astimezone(PLUS_TWO), created_to=by_created(25).astimezone(PLUS_TWO)
        ),
        True,
    ),
    ("cost min", RunFilter(cost_usd_min=0.005), True),
    ("cost range", RunFilter(cost_usd_min=0.001, cost_usd_max=0.004), True),
    ("no cost", RunFilter(cost_usd_max=0.0), True),
    ("tokens range", RunFilter(tokens_min=500, tokens_max=2000), True),
    ("model calls", RunFilter(model_calls_min=2, model_calls_max=3), True),
    ("warnings and errors", RunFilter(warnings_min=1, errors_max=0), True),
    ("failed runs that cost", RunFilter(statuses=["failed"], cost_usd_min=0.0001), True),
    ("text in run_id", RunFilter(text="run-01"), True),
    ("text in run_id, other case", RunFilter(text="RUN-02"), True),
    ("text in tags", RunFilter(text="alpha"), True),
    ("text in tags, other case", RunFilter(text="BETA"), True),
    ("text in input", RunFilter(text="plain"), True),
    ("text in input, other case", RunFilter(text="mixed case"), True),
    ("text with surrounding spaces", RunFilter(text="  prod  "), True),
    ("unicode text", RunFilter(text="日本"), True),
    ("unicode text with accent", RunFilter(text="héllo ✓"), True),
    ("unicode tag", RunFilter(text="ünï"), True),
    ("percent and underscore literally", RunFilter(text="50%_off"), True),
    ("percent alone literally", RunFilter(text="%"), True),
    ("underscore alone literally", RunFilter(text="_"), True),
    ("slash literally", RunFilter(text="h/to"), True),
    ("text matching nothing", RunFilter(text="zzz-nothing"), False),
    (
        "combined",
        RunFilter(
            statuses=["succeeded", "failed", "interrupted"],
            workflows=["simulate", "plan_execute"],
            tasks_total_min=2,
            tasks_failed_max=3,
            created_from=by_created(3),
            text="a",
        ),
        True,
    ),
]


def test_seed_covers_the_cases_the_query_tests_rely_on():
    statuses = Counter(r["status"] for r in SEED)
    assert set(statuses) == set(SEED_STATUSES)
    assert any(r["input"]["note"] == "50abcoff" for r in SEED)  # what an unescaped '50%_off' would match
    for key in SORT_COLUMNS:
        values = [sort_value(r, key) for r in SEED]
        assert len({v for v in values if v is not None}) > 1, key
    assert any(r["started_at"] is None for r in SEED) and any(r["worker"] is None for r in SEED)


def test_seed_gives_every_filter_case_a_meaningful_answer():
    for name, run_filter, non_empty in FILTER_CASES:
        want = [r for r in SEED if py_matches(r, run_filter)]
        if non_empty:
            assert want, f"seed does not exercise {name!r}"
        if name != "no filter":
            assert len(want) < len(SEED), f"{name!r} filters nothing out"


def test_every_filter_matches_python_reference(seeded):
    failures = []
    for name, run_filter, _ in FILTER_CASES:
        want = sorted(r["run_id"] for r in SEED if py_matches(r, run_filter))
        got, total = all_ids(seeded, run_filter, sort="run_id", descending=False)
        if got != want or total != len(want):
            failures.append(f"{name}: got {got} (total {total}), want {want}")
    assert not failures, "\n".join(failures)


def test_literal_percent_underscore_search_does_not_match_wildcards(seeded):
    got, _ = all_ids(seeded, RunFilter(text="50%_off"))
    assert got
    assert all(SEED_BY_ID[i]["input"]["note"] == "50%_off" for i in got)


def test_sort_by_every_column_both_directions(seeded):
    for key in SORT_COLUMNS:
        for descending in (False, True):
            got, total = all_ids(seeded, sort=key, descending=descending)
            assert total == len(SEED)
            assert got == py_sorted_ids(SEED, key, descending), f"sort={key} descending={descending}"


def test_sort_with_filter_keeps_nulls_last(seeded):
    f = RunFilter(statuses=["queued", "cancelled", "succeeded"])
    rows = [r for r in SEED if py_matches(r, f)]
    for key in ("started_at", "finished_at", "wall_seconds", "work_seconds", "worker"):
        for descending in (False, True):
            got, _ = all_ids(seeded, f, sort=key, descending=descending)
            assert got == py_sorted_ids(rows, key, descending), f"sort={key} descending={descending}"
            nulls = [i for i in got if sort_value(SEED_BY_ID[i], key) is None]
            assert nulls and got[-len(nulls) :] == nulls


def test_list_rows_have_the_list_columns_and_duration(seeded):
    page = seeded.query_runs(limit=1000)
    assert set(page.rows[0]) == {c.name for c in LIST_COLUMNS}
    for row in page.rows:
        want = SEED_BY_ID[row["run_id"]]
        for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            assert_utc_equal(row[key], want[key], key)
        assert row["tags"] == want["tags"]
        wall = sort_value(want, "wall_seconds")
        if want["started_at"] is None:
            assert (row["wall_seconds"], row["work_seconds"]) == (None, None)
        elif wall is None:
            # Started and not finished: both read as of now (the seed's running runs began in 2024).
            so_far = (utcnow() - want["started_at"]).total_seconds()
            assert row["wall_seconds"] == pytest.approx(so_far, abs=60)
            if want["status"] == "running":
                assert row["work_seconds"] == pytest.approx(so_far, abs=60)
        else:
            assert row["wall_seconds"] == pytest.approx(wall, abs=1e-3)
            assert row["work_seconds"] == pytest.approx(want["work_seconds"], abs=1e-9)


@pytest.mark.parametrize("limit", [1, 7, 25])
def test_pages_concatenate_to_the_full_sorted_list(seeded, limit):
    f = RunFilter(statuses=list(FINISHED), tasks_total_min=1)
    want = py_sorted_ids([r for r in SEED if py_matches(r, f)], "tasks_total", True)
    assert len(want) > limit
    got: list[str] = []
    offset = 0
    while True:
        page = seeded.query_runs(f, sort="tasks_total", descending=True, limit=limit, offset=offset)
        assert page.total == len(want)
        assert len(page.rows) <= limit
        if not page.rows:
            break
        got.extend(r["run_id"] for r in page.rows)
        offset += limit
    assert got == want
    beyond = seeded.query_runs(f, sort="tasks_total", limit=limit, offset=len(want) + 5)
    assert beyond.rows == [] and beyond.total == len(want)


def test_default_query_is_newest_first(seeded):
    page = seeded.query_runs(limit=5)
    assert [r["run_id"] for r in page.rows] == py_sorted_ids(SEED, "created_at", True)[:5]
    assert page.total == len(SEED)


def test_query_rejects_unknown_sort_status_and_bad_paging(seeded):
    with pytest.raises(InputError, match="Cannot sort by 'nope'"):
        seeded.query_runs(sort="nope")
    with pytest.raises(InputError, match="Unknown status 'done'"):
        seeded.query_runs(RunFilter(statuses=["succeeded", "done"]))
    with pytest.raises(InputError, match=r"^The page size must be a whole number from 1 to 2147483647\.$"):
        seeded.query_runs(limit=0)
    with pytest.raises(InputError, match=r"^The offset must be a whole number from 0 to 2147483647\.$"):
        seeded.query_runs(offset=-1)


def test_count_by_status_lists_every_status_with_zeros(seeded):
    want = Counter(r["status"] for r in SEED)
    got = seeded.count_by_status()
    assert list(got) == list(ALL_STATUSES)
    assert got == {s: want.get(s, 0) for s in ALL_STATUSES}
    assert got["awaiting_input"] == 0


def test_count_runs_and_workflow_names(seeded):
    assert seeded.count_runs() == len(SEED)
    assert seeded.workflow_names() == sorted({r["workflow"] for r in SEED})


def test_a_page_asked_again_reuses_its_statement_and_reads_the_rows_anew(store):
    """The planners keep recent page and count statements (not their results): a page asked again
    with equal filters sees rows written since, and different filters get their own statement."""
    mine = RunFilter(statuses=["queued"], tasks_total_min=1)
    newest = (Field("created_at"), True, 50, 0)
    assert portable_page(mine, *newest) is portable_page(
        RunFilter(statuses=("queued",), tasks_total_min=1), *newest
    )
    assert portable_page(mine, *newest) is not portable_page(
        RunFilter(statuses=["queued"], tasks_total_min=2), *newest
    )
    assert portable_count(mine, 10) is portable_count(RunFilter(statuses=["queued"], tasks_total_min=1), 10)
    assert store.page_runs(mine) == [] and store.count_matching(mine).value == 0
    store.insert_many([full_row("cache-1", tasks_total=1), full_row("cache-2", tasks_total=0)])
    rows = store.page_runs(mine)
    assert [r["run_id"] for r in rows] == ["cache-1"]
    assert set(rows[0]) == {c.name for c in LIST_COLUMNS}
    assert store.count_matching(mine).value == 1
    assert [
        r["run_id"] for r in store.page_runs(RunFilter(statuses=["queued"]), sort="run_id", descending=False)
    ] == [
        "cache-1",
        "cache-2",
    ]


def test_count_by_status_on_an_empty_table(store):
    assert store.count_by_status() == {s: 0 for s in ALL_STATUSES}
    assert store.query_runs().total == 0


def test_insert_many_keeps_columns_only_later_rows_give(store):
    store.insert_many(
        [
            {"run_id": "m1", "workflow": "simulate", "status": "queued", "created_at": T0},
            {
                "run_id": "m2",
                "workflow": "simulate",
                "status": "succeeded",
                "created_at": T0,
                "state_snapshot": {"summary": {"count": 3}},
                "tasks_total": 5,
            },
        ]
    )
    first, second = store.get_run("m1"), store.get_run("m2")
    assert (first["state_snapshot"], first["tasks_total"]) == (None, 0)
    assert (second["state_snapshot"], second["tasks_total"]) == ({"summary": {"count": 3}}, 5)


# -- durations --------------------------------------------------------------------------------

# (start, end, seconds) written out by hand: fractions at and past .9995 s, across a minute,
# a day and a year; SQLite's strftime('%s') rounds .9995 s and later up to the next second.
EXACT_DURATIONS = [
    (
        dt.datetime(2026, 1, 1, 0, 0, 0, 2, tzinfo=UTC),
        dt.datetime(2026, 1, 1, 0, 0, 44, 999998, tzinfo=UTC),
        44.999996,
    ),
    (
        dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
        dt.datetime(2026, 1, 1, 0, 0, 0, 999500, tzinfo=UTC),
        0.9995,
    ),
    (
        dt.datetime(2026, 1, 1, 0, 0, 59, 999999, tzinfo=UTC),
        dt.datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC),
        0.000001,
    ),
    (
        dt.datetime(2025, 12, 31, 23, 59, 59, 999600, tzinfo=UTC),
        dt.datetime(2026, 1, 1, 0, 0, 0, 100, tzinfo=UTC),
        0.0005,
    ),
    (
        dt.datetime(2026, 3, 1, 9, 0, 0, 999999, tzinfo=UTC),
        dt.datetime(2026, 3, 1, 10, 0, 1, 0, tzinfo=UTC),
        3600.000001,
    ),
]


def test_task_durations_are_exact_to_the_microsecond(store):
    store.insert_many([full_row("timed")])
    store.insert_tasks(
        [
            {
                "run_id": "timed",
                "task_id": f"t{n}",
                "node": "work",
                "status": "succeeded",
                "started_at": start,
                "finished_at": end,
            }
            for n, (start, end, _) in enumerate(EXACT_DURATIONS)
        ]
    )
    got = {t["task_id"]: t["work_seconds"] for t in store.get_tasks("timed")}
    for n, (_, _, seconds) in enumerate(EXACT_DURATIONS):
        assert got[f"t{n}"] == pytest.approx(seconds, abs=2e-7), n


def test_seconds_between_is_exact_on_both_backends(store):
    from sqlalchemy import literal

    from orchestrator.db import UTCDateTime, seconds_between

    with store.engine.connect() as conn:
        for start, end, seconds in EXACT_DURATIONS:
            got = conn.execute(
                select(seconds_between(literal(start, UTCDateTime), literal(end, UTCDateTime)))
            ).scalar_one()
            assert got == pytest.approx(seconds, abs=2e-7), (start, end)


def test_a_count_of_exactly_the_cap_is_exact_and_one_more_is_at_least(store):
    """The runs page counts exactly up to its cap: as many matches as the cap read as that number,
    one more as "cap+" (an off-by-one here reads "5+" for five runs)."""
    store.insert_many([full_row(f"c{i}", status="failed") for i in range(5)])
    only_failed = RunFilter(statuses=["failed"])
    assert str(store.count_matching(only_failed, cap=5)) == "5"
    assert store.count_matching(only_failed, cap=5).exact
    store.insert_many([full_row("c5", status="failed")])
    count = store.count_matching(only_failed, cap=5)
    assert (str(count), count.exact) == ("5+", False)
    assert store.count_matching(only_failed, cap=None).value == 6
