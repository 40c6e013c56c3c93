"""Field filters and sorts (orchestrator.run_queries.fields): `input.tasks >= 100`, `state.a.b`,
`metrics.m`, in the database on both backends, against a Python reference of what each test
means (py_where); a bad path or operator is one sentence; a path shaped like SQL is refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from orchestrator.errors import InputError
from orchestrator.run_queries import Field, RunFilter, field_path, parse_where, sort_field
from orchestrator.runs import RunStore
from tests.field_reference import MISSING, kind_of, py_field_order, py_where, value_at
from tests.test_store import full_row

T0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _row(i: int) -> dict[str, Any]:
    """Runs whose fields differ in kind on purpose: a number, a text, a boolean, missing, null."""
    inp: dict[str, Any] = {"tasks": (i * 37) % 200, "goal": ["alpha", "beta", "Gamma ray", "delta"][i % 4]}
    if i % 5 == 0:
        inp["tasks"] = str(inp["tasks"])  # a text where others hold numbers
    if i % 7 == 0:
        del inp["tasks"]
    if i % 6 == 0:
        inp["flag"] = i % 12 == 0
    if i % 9 == 0:
        inp["goal"] = None
    state = {"summary": {"total": i * 1.5, "label": f"s{i % 3}"}} if i % 4 else {"other": 1}
    metrics = {"accuracy": round(0.5 + (i % 10) / 20, 3)} if i % 3 else None
    return full_row(
        f"f{i:02d}",
        status="succeeded" if i % 2 else "failed",
        created_at=T0 + dt.timedelta(minutes=i),
        input=inp,
        state_snapshot=state,
        metrics=metrics,
    )


ROWS = [_row(i) for i in range(40)]


WHERES = [
    "input.tasks >= 100",
    "input.tasks < 50",
    "input.tasks = 74",
    "input.tasks != 74",
    "input.tasks = '110'",  # the texts only
    "input.tasks > 100.5",
    "input.goal = alpha",
    "input.goal != alpha",
    "input.goal > beta",
    "input.goal contains AMM",
    "input.goal contains 'a r'",
    "input.goal is set",
    "input.goal is not set",
    "input.flag = true",
    "input.flag != true",
    "input.flag is set",
    "input.tasks is not set",
    "state.summary.total <= 12",
    "state.summary.label = s1",
    "state.other is set",
    "state.summary.nothing is set",
    "metrics.accuracy > 0.7",
    "metrics.accuracy <= 0.6",
    "metrics.accuracy is not set",
]


@pytest.fixture
def fielded(store: RunStore) -> RunStore:
    store.insert_many(ROWS)
    return store


def ids(store: RunStore, f: RunFilter, sort: str = "run_id", descending: bool = False) -> list[str]:
    return [r["run_id"] for r in store.page_runs(f, sort=sort, descending=descending, limit=1000)]


def test_each_field_filter_finds_the_runs_it_means(fielded: RunStore) -> None:
    failures = []
    for written in WHERES:
        test = parse_where(written)
        want = sorted(r["run_id"] for r in ROWS if py_where(r, test))
        got = ids(fielded, RunFilter(where=[written]))
        if got != want:
            failures.append(f"{written}: got {got}, want {want}")
        count = fielded.count_matching(RunFilter(where=[written]), cap=None).value
        if count != len(want):
            failures.append(f"{written}: counted {count}, want {len(want)}")
    assert not failures, "\n".join(failures)
    # the cases are not empty answers by accident
    assert sum(1 for w in WHERES if any(py_where(r, parse_where(w)) for r in ROWS)) >= len(WHERES) - 2


def test_field_filters_combine_with_each_other_and_the_other_filters(fielded: RunStore) -> None:
    f = RunFilter(statuses=["succeeded"], where=["input.tasks >= 50", "metrics.accuracy > 0.6"])
    want = sorted(
        r["run_id"]
        for r in ROWS
        if r["status"] == "succeeded" and all(py_where(r, w) for w in f.where)  # type: ignore[arg-type]
    )
    assert want and ids(fielded, f) == want
    assert fielded.count_matching(f).value == len(want)


def test_a_page_sorts_by_any_field_missing_last(fielded: RunStore) -> None:
    for path in ("state.summary.total", "metrics.accuracy", "input.goal"):
        field = Field(path)
        # input.goal holds texts or null (none of another kind): one kind per field sorts alike
        rows = [r for r in ROWS if kind_of(value_at(r, field)) in ("text", "number", "other")]
        assert len(rows) == len(ROWS)
        for descending in (False, True):
            want = py_field_order(rows, field, descending)
            got = [r["run_id"] for r in fielded.page_runs(sort=path, descending=descending, limit=1000)]
            assert got == want, (path, descending)
            # and in pages that never overlap
            paged = [
                r["run_id"]
                for o in range(0, 40, 7)
                for r in fielded.page_runs(sort=path, descending=descending, limit=7, offset=o)
            ]
            assert paged == want, (path, descending)


def test_sort_by_numbers_and_filter_at_once(fielded: RunStore) -> None:
    f = RunFilter(where=["input.tasks > 20"])
    want = py_field_order([r for r in ROWS if py_where(r, f.where[0])], Field("input.tasks"), True)  # type: ignore[arg-type]
    assert ids(fielded, f, sort="input.tasks", descending=True) == want


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("inputs.tasks > 3", "Unknown field 'inputs.tasks'"),
        ("input > 3", "is not a path of keys"),
        ("input.tasks ~ 3", "Cannot read the field filter"),
        ("input.tasks >= ", "has no value after >="),
        ("input.tasks > true", "compare only with = and !="),
        ("metrics.a.b = 1", "a metric is one name"),
        ("input.1st = 1", "is not a path of keys"),
    ],
)
def test_a_bad_field_filter_is_one_sentence(written: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        RunFilter(where=[written])
    message = str(caught.value)
    assert words in message and "\n" not in message and message.endswith(".")


@pytest.mark.parametrize(
    "path",
    [
        "input.tasks') OR 1=1 --",
        "input.x'||(SELECT 1)||'",
        'input."tasks"',
        "input.tasks;DROP TABLE runs",
        "state.a-b",
        "input.$.tasks",
    ],
)
def test_a_path_shaped_like_sql_is_refused(path: str) -> None:
    with pytest.raises(InputError):
        field_path(path)
    with pytest.raises(InputError):
        RunFilter(where=[f"{path} = 1"])
    with pytest.raises(InputError):
        sort_field(path)


def test_refused_paths_leave_the_runs_alone(fielded: RunStore) -> None:
    for path in ("input.tasks;DROP TABLE runs", "input.x') OR 1=1 --"):
        with pytest.raises(InputError):
            fielded.page_runs(sort=path)
        with pytest.raises(InputError):
            fielded.count_matching(RunFilter(where=[f"{path} = 1"]))
    with fielded.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == len(ROWS)


def test_a_value_shaped_like_sql_is_only_a_value(fielded: RunStore) -> None:
    f = RunFilter(where=["input.goal = \"alpha' OR '1'='1\""])
    assert ids(fielded, f) == []
    assert fielded.count_matching(RunFilter(where=["input.goal contains %"]), cap=None).value == 0


def test_a_where_reads_back_as_written() -> None:
    for written in WHERES:
        test = parse_where(written)
        assert parse_where(str(test)) == test
    assert parse_where("input.tasks >= 100").value == 100
    assert parse_where("input.tasks = '100'").value == "100"
    assert parse_where("input.goal contains 12").value == "12"


# -- fields as columns --------------------------------------------------------------------------

COLUMNS = [
    "input.tasks",
    "input.goal",
    "state.summary",
    "state.summary.total",
    "metrics.accuracy",
    "input.nothing",
]


def py_value(row: dict[str, Any], path: str) -> Any:
    value = value_at(row, Field(path))
    return None if value is MISSING else value


def test_a_page_shows_field_columns_as_stored(fielded: RunStore) -> None:
    f = RunFilter(where=["input.tasks >= 20"])
    rows = fielded.page_runs(f, sort="input.tasks", limit=15, offset=2, columns=COLUMNS)
    want = py_field_order([r for r in ROWS if py_where(r, f.where[0])], Field("input.tasks"), True)  # type: ignore[arg-type]
    assert [r["run_id"] for r in rows] == want[2:17]
    by_id = {r["run_id"]: r for r in ROWS}
    for row in rows:
        for path in COLUMNS:
            assert row[path] == py_value(by_id[row["run_id"]], path), (row["run_id"], path)  # type: ignore[literal-required]
    assert any(isinstance(r["state.summary"], dict) for r in rows)  # type: ignore[typeddict-item]


def test_columns_are_checked_and_offered(fielded: RunStore) -> None:
    with pytest.raises(InputError, match=r"Unknown field 'params\.x'"):
        fielded.page_runs(columns="input.tasks,params.x")
    with pytest.raises(InputError, match="at most 20"):
        fielded.page_runs(columns=[f"input.k{i}" for i in range(21)])
    from orchestrator.workflows.simulate import SimulateInput

    offered = fielded.offered_fields([r["run_id"] for r in ROWS[:8]], [SimulateInput])
    # the model's fields first among input.*, then what the runs hold, each once, in root order
    assert {f"input.{name}" for name in SimulateInput.model_fields} <= set(offered)
    assert {
        "input.tasks",
        "input.goal",
        "input.flag",
        "state.summary.total",
        "state.summary.label",
        "state.other",
    } <= set(offered)
    assert "metrics.accuracy" in offered
    roots = [name.split(".")[0] for name in offered]
    assert roots == sorted(roots, key=["input", "state", "metrics"].index)
