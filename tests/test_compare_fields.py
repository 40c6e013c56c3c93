"""orchestrator.compare_fields: the N-way compare table (figures, inputs, final states, metrics),
which cells are marked, and metric series overlaid.

Hand-made runs with answers worked out by hand, and real runs of a team's graph that records its
own metrics (tests/metric_workflows.py) on SQLite and PostgreSQL, read back by the store.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.compare import METRICS
from orchestrator.compare_fields import field_leaves, marked_cells, overlaid_series, side_by_side
from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.helpers import with_workflows


def _run(input: Any = None, state: Any = None, metrics: Any = None, **figures: Any) -> dict[str, Any]:
    return {
        "workflow": "simulate",
        "status": "succeeded",
        "tasks_total": 2,
        "tasks_completed": 2,
        "input": input,
        "state_snapshot": state,
        "metrics": metrics,
        **figures,
    }


def _fields(runs: list[dict[str, Any]]) -> dict[str, tuple[list[Any], list[bool], list[int]]]:
    return {
        r["label"]: (r["values"], r["present"], r["marked"])
        for r in side_by_side(runs)["rows"]
        if r["section"] != "run"
    }


# --- which cells are marked ---------------------------------------------------------------------


def test_the_usual_value_is_the_one_most_runs_hold() -> None:
    assert marked_cells(["a", "a", "b"]) == [2]
    assert marked_cells(["a", "b", "b"]) == [0]
    assert marked_cells(["b", "a", "b", "a", "a"]) == [0, 2]


def test_on_a_tie_the_earliest_runs_value_is_the_usual_one() -> None:
    assert marked_cells(["a", "b"]) == [1]
    assert marked_cells(["a", "b", "c"]) == [1, 2]
    assert marked_cells(["a", "b", "b", "a"]) == [1, 2]


def test_equal_values_are_never_marked() -> None:
    assert marked_cells([3, 3.0, 3]) == []
    assert marked_cells([{"x": [1]}, {"x": [1.0]}]) == []
    assert marked_cells([]) == []


def test_true_is_not_1_and_null_is_not_a_missing_field() -> None:
    runs = [_run({"flag": True, "note": None}), _run({"flag": 1, "note": None}), _run({"flag": True})]
    fields = _fields(runs)
    assert fields["input.flag"] == ([True, 1, True], [True, True, True], [1])
    assert fields["input.note"] == ([None, None, None], [True, True, False], [2])


# --- the rows -----------------------------------------------------------------------------------


def test_the_rows_are_the_figures_then_input_state_and_metric_fields() -> None:
    runs = [
        _run({"tasks": 3, "seed": 1}, {"summary": {"total": 3, "label": "done"}}, {"accuracy": 0.9}),
        _run({"tasks": 3, "seed": 2}, {"summary": {"total": 3, "label": "done"}}, {"accuracy": 0.8}),
        _run({"tasks": 5, "seed": 1, "goal": "x"}, {"summary": {"total": 4}}, {"accuracy": 0.9, "loss": 0.5}),
    ]
    rows = side_by_side(runs)["rows"]
    assert [r["key"] for r in rows] == [key for key, _ in METRICS] + [
        "input.tasks",
        "input.seed",
        "input.goal",
        "state.summary.total",
        "state.summary.label",
        "metrics.accuracy",
        "metrics.loss",
    ]
    fields = _fields(runs)
    assert fields["input.tasks"] == ([3, 3, 5], [True] * 3, [2])
    assert fields["input.seed"] == ([1, 2, 1], [True] * 3, [1])
    assert fields["input.goal"] == ([None, None, "x"], [False, False, True], [2])
    assert fields["state.summary.total"] == ([3, 3, 4], [True] * 3, [2])
    assert fields["state.summary.label"] == (["done", "done", None], [True, True, False], [2])
    assert fields["metrics.accuracy"] == ([0.9, 0.8, 0.9], [True] * 3, [1])
    assert fields["metrics.loss"] == ([None, None, 0.5], [False, False, True], [2])
    differing = [r["label"] for r in rows if r["differs"]]
    assert differing == [
        "input.tasks",
        "input.seed",
        "input.goal",
        "state.summary.total",
        "state.summary.label",
        "metrics.accuracy",
        "metrics.loss",
    ]


def test_run_figures_are_marked_as_they_are_shown() -> None:
    runs = [
        _run(status="succeeded", work_seconds=1.23),
        _run(status="failed", work_seconds=1.26),  # 1.3 s against 1.2 s
        _run(status="succeeded", work_seconds=1.21),
    ]
    figures = {r["key"]: r for r in side_by_side(runs)["rows"] if r["section"] == "run"}
    assert figures["status"]["marked"] == [1]
    assert figures["work_seconds"]["marked"] == [1]
    assert figures["workflow"]["marked"] == [] and not figures["workflow"]["differs"]
    assert figures["success_rate"]["values"] == [1.0, 1.0, 1.0]


def test_leaves_lists_odd_keys_and_depth() -> None:
    assert field_leaves("input", {"a": {"b": {}}, "xs": [1, {"y": 2}], "a b": 1, "n": None}) == [
        ("input.a.b", {}),
        ("input.xs", [1, {"y": 2}]),
        ('input["a b"]', 1),
        ("input.n", None),
    ]
    deep = {"a": {"b": {"c": 1}}}
    assert field_leaves("state", deep, depth=2) == [("state.a.b", {"c": 1})]
    assert field_leaves("input", None) == [] and field_leaves("input", {}) == []
    assert field_leaves("input", 5) == []  # a root that is not a dict has no fields


def test_no_more_field_rows_than_asked_and_the_rest_is_counted() -> None:
    runs = [_run({f"k{i}": i for i in range(10)}), _run({f"k{i}": i for i in range(12)})]
    table = side_by_side(runs, max_field_rows=5)
    assert [r["key"] for r in table["rows"] if r["section"] == "input"] == [f"input.k{i}" for i in range(5)]
    assert table["fields_left_out"] == 7


def test_series_are_overlaid_by_run_in_the_order_given() -> None:
    series = [
        {"loss": [{"step": 1, "value": 0.5}, {"step": 0, "value": 1.0}], "acc": [{"step": 0, "value": 0.7}]},
        {},
        {"loss": [{"step": 0, "value": 2.0}]},
    ]
    assert overlaid_series(["1: a", "2: b", "3: c"], series) == [
        {"run": "1: a", "metric": "acc", "step": 0, "value": 0.7},
        {"run": "1: a", "metric": "loss", "step": 0, "value": 1.0},
        {"run": "1: a", "metric": "loss", "step": 1, "value": 0.5},
        {"run": "3: c", "metric": "loss", "step": 0, "value": 2.0},
    ]


# --- real runs that record their metrics --------------------------------------------------------


def test_real_runs_metrics_are_rows_of_the_table(config: OrchestratorConfig) -> None:
    orch = Orchestrator(with_workflows(config, {"scored": "tests.metric_workflows:build_scored"}))
    try:
        ids = [orch.launch("scored", {"points": n}) for n in (2, 2, 3)]
        execute(orch, ids)
        fields = _fields(orch.store.get_runs(ids))
        # accuracy = points / 10, then + 0.01 at the next step (the latest value); loss: 1 / (step + 1)
        assert fields["input.points"] == ([2, 2, 3], [True] * 3, [2])
        assert fields["metrics.accuracy"][0] == pytest.approx([0.21, 0.21, 0.31])
        assert fields["metrics.accuracy"][2] == [2]
        assert fields["metrics.loss"][0] == pytest.approx([0.5, 0.5, 1 / 3])
        assert fields["state.done"] == ([True] * 3, [True] * 3, [])
    finally:
        orch.engine.dispose()
