"""`orchestrator runs --where ... --sort -field` (and `--columns`), in this process, on both
backends: the runs each flag selects, in the order asked; a bad field is one error line."""

from __future__ import annotations

import json

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.run_queries import Field, parse_where
from orchestrator.runs import RunStore
from tests.field_reference import py_field_order, py_where
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.test_run_fields import ROWS


@pytest.fixture
def fielded(store: RunStore) -> RunStore:
    store.insert_many(ROWS)
    return store


def test_runs_where_and_sort_by_fields(config: OrchestratorConfig, fielded: RunStore) -> None:
    db = database_args(config)

    def listed(*flags: str) -> dict:
        result = call_cli("runs", "--json", "--limit", "100", *flags, *db)
        assert result.code == 0, result.err
        return json.loads(result.out)

    wheres = ["input.tasks >= 100", "metrics.accuracy > 0.6"]
    want = [r for r in ROWS if all(py_where(r, parse_where(w)) for w in wheres)]
    assert want
    got = listed("--where", wheres[0], "--where", wheres[1], "--sort", "-input.tasks")
    assert [r["run_id"] for r in got["runs"]] == py_field_order(want, Field("input.tasks"), True)
    assert got["total"] == len(want)
    ascending = listed("--where", wheres[0], "--where", wheres[1], "--sort", "+input.tasks")
    assert [r["run_id"] for r in ascending["runs"]] == py_field_order(want, Field("input.tasks"), False)
    # with the other filters
    failed = listed(
        "--status", "failed", "--where", "state.summary.label = s1", "--sort", "-state.summary.total"
    )
    want_failed = [
        r for r in ROWS if r["status"] == "failed" and py_where(r, parse_where("state.summary.label = s1"))
    ]
    assert [r["run_id"] for r in failed["runs"]] == py_field_order(
        want_failed, Field("state.summary.total"), True
    )
    # the table prints too
    table = call_cli("runs", "--where", "input.goal contains amm", *db)
    assert table.code == 0 and "matching runs" in table.out


BAD = [
    (("--where", "input.tasks ~ 3"), "Cannot read the field filter"),
    (("--where", "params.tasks > 3"), "Unknown field 'params.tasks'"),
    (("--sort", "-input.ta sks"), "is not a path of keys"),
    (("--sort", "-nothing"), "Cannot sort by"),
    (("--where", "input.tasks') OR 1=1 -- = 1"), "Cannot read the field filter"),
    (("--where", "input.x'||1||'y = 1"), "not a path of keys"),
]


def test_a_bad_field_is_one_error_line(config: OrchestratorConfig, fielded: RunStore) -> None:
    for flags, words in BAD:
        assert_one_error_line(call_cli("runs", *flags, *database_args(config)), words)


def test_runs_columns_as_json_and_table(config: OrchestratorConfig, fielded: RunStore) -> None:
    db = database_args(config)
    result = call_cli(
        "runs",
        "--json",
        "--columns",
        "input.tasks,state.summary.total,metrics.accuracy",
        "--sort",
        "run_id",
        "--asc",
        "--limit",
        "5",
        *db,
    )
    assert result.code == 0, result.err
    got = json.loads(result.out)["runs"]
    for run, row in zip(got, sorted(ROWS, key=lambda r: r["run_id"])[:5], strict=True):
        assert run["run_id"] == row["run_id"]
        assert run["input.tasks"] == row["input"].get("tasks")
        assert run["state.summary.total"] == (row["state_snapshot"].get("summary") or {}).get("total")
        assert run["metrics.accuracy"] == (row["metrics"] or {}).get("accuracy")
    table = call_cli("runs", "--columns", "input.goal", "--limit", "3", *db)
    assert table.code == 0 and "input.goal" in table.out.splitlines()[0]
    assert_one_error_line(
        call_cli("runs", "--columns", "input.tasks,input.a b", *db), "is not a path of keys"
    )
