"""orchestrator.run_plots: the points of a scatter and of parallel coordinates, worked out by hand,
and the bounded sample read from a real database (both backends) for the page's filter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.errors import InputError
from orchestrator.run_plots import parallel_points, plot_axis, plot_color, plot_sample, scatter_points
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _row(run_id: str, **values: Any) -> dict[str, Any]:
    return {"run_id": run_id, "status": "succeeded", "workflow": "simulate", **values}


def test_a_point_per_run_with_a_number_on_both_axes() -> None:
    rows = [
        _row("a", tasks_total=3, **{"metrics.accuracy": 0.5, "input.kind": "x"}),
        _row("b", tasks_total=4, **{"metrics.accuracy": None}),  # no accuracy
        _row("c", tasks_total=5, **{"metrics.accuracy": True}),  # a boolean is not a number
        _row("d", tasks_total=6, **{"metrics.accuracy": "0.9"}),  # nor is a text
        _row("e", tasks_total=7, **{"metrics.accuracy": 2, "input.kind": ["y"]}),
    ]
    points, left_out = scatter_points(rows, "tasks_total", "metrics.accuracy", "input.kind")
    assert [(p["run_id"], p["x"], p["y"], p["color"]) for p in points] == [
        ("a", 3, 0.5, "x"),
        ("e", 7, 2, "['y']"),
    ]
    assert left_out == 3


def test_over_time_the_points_are_in_time_order_and_a_moment_is_needed() -> None:
    rows = [
        _row("late", created_at=T0 + dt.timedelta(minutes=2), work_seconds=1.0),
        _row("early", created_at=T0, work_seconds=2.0),
        _row("never", created_at=None, work_seconds=3.0),
        _row("same", created_at=T0, work_seconds=0.5),
    ]
    points, left_out = scatter_points(rows, "created_at", "work_seconds", "status")
    assert [p["run_id"] for p in points] == ["early", "same", "late"]  # ties by run id
    assert left_out == 1
    assert points[0]["color"] == "succeeded"


def test_parallel_positions_run_from_each_fields_lowest_to_its_highest() -> None:
    rows = [
        _row("a", tasks_total=2, **{"input.delay_ms": 100, "metrics.accuracy": 0.5}),
        _row("b", tasks_total=4, **{"input.delay_ms": 300, "metrics.accuracy": 0.5}),
        _row("c", tasks_total=10, **{"input.delay_ms": 150, "metrics.accuracy": 0.5}),
        _row("d", tasks_total=1, **{"input.delay_ms": None, "metrics.accuracy": 0.1}),  # left out
    ]
    fields = ["tasks_total", "input.delay_ms", "metrics.accuracy"]
    points, left_out = parallel_points(rows, fields, "status")
    positions = {(p["run_id"], p["field"]): p["position"] for p in points}
    assert positions == {
        ("a", "tasks_total"): 0.0,
        ("b", "tasks_total"): 0.25,  # (4 - 2) / (10 - 2)
        ("c", "tasks_total"): 1.0,
        ("a", "input.delay_ms"): 0.0,
        ("b", "input.delay_ms"): 1.0,
        ("c", "input.delay_ms"): 0.25,  # (150 - 100) / (300 - 100)
        ("a", "metrics.accuracy"): 0.5,  # all equal: the middle
        ("b", "metrics.accuracy"): 0.5,
        ("c", "metrics.accuracy"): 0.5,
    }
    assert left_out == 1
    assert [p["value"] for p in points if p["run_id"] == "c"] == [10, 150, 0.5]


def test_a_moment_in_parallel_coordinates_is_placed_by_its_seconds() -> None:
    rows = [_row("a", created_at=T0), _row("b", created_at=T0 + dt.timedelta(hours=1))]
    rows[0]["tasks_total"], rows[1]["tasks_total"] = 5, 5
    points, _ = parallel_points(rows, ["created_at", "tasks_total"], "status")
    assert [(p["run_id"], p["field"], p["position"]) for p in points] == [
        ("a", "created_at", 0.0),
        ("a", "tasks_total", 0.5),
        ("b", "created_at", 1.0),
        ("b", "tasks_total", 0.5),
    ]
    assert points[0]["value"] == "2026-03-01T12:00:00+00:00"


def test_an_axis_is_a_run_figure_or_a_field() -> None:
    assert plot_axis(" tasks_total ") == "tasks_total"
    assert plot_axis("metrics.accuracy") == "metrics.accuracy"
    assert plot_color("workflow") == "workflow" and plot_color("input.kind") == "input.kind"
    with pytest.raises(InputError, match=r"^Cannot plot 'status': choose one of created_at"):
        plot_axis("status")
    with pytest.raises(InputError, match=r"^Unknown field 'tags\.x'"):
        plot_axis("tags.x")
    with pytest.raises(InputError, match=r"^Cannot colour by 'run_id'"):
        plot_color("run_id")


def test_the_sample_is_the_first_runs_of_the_filter_in_the_pages_order(store: RunStore) -> None:
    store.insert_many(
        [
            {
                "run_id": f"s{n:02d}",
                "workflow": "simulate",
                "status": "failed" if n % 3 == 0 else "succeeded",
                "created_at": T0 + dt.timedelta(minutes=n),
                "tasks_total": n,
                "input": {"delay_ms": 5 * n},
                "metrics": {"accuracy": n / 100},
                "tags": [],
            }
            for n in range(12)
        ]
    )
    succeeded = RunFilter(statuses=["succeeded"])  # s01 s02 s04 s05 s07 s08 s10 s11
    sample = plot_sample(store, succeeded, ["input.delay_ms", "tasks_total", "status"], limit=3)
    assert [r["run_id"] for r in sample.rows] == ["s11", "s10", "s08"]
    assert [r["input.delay_ms"] for r in sample.rows] == [55, 50, 40]
    assert (sample.count.value, sample.count.exact, sample.sampled) == (8, True, True)

    by_tasks = plot_sample(
        store, succeeded, ["metrics.accuracy"], sort="tasks_total", descending=False, limit=20
    )
    assert [r["run_id"] for r in by_tasks.rows] == ["s01", "s02", "s04", "s05", "s07", "s08", "s10", "s11"]
    assert by_tasks.rows[0]["metrics.accuracy"] == pytest.approx(0.01)
    assert not by_tasks.sampled
