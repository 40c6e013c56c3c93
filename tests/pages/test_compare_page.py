"""The Compare page, N ways (both backends): three runs' figures, inputs, final states and metrics
in one table, the cells most runs do not hold marked, only the rows that differ on request, and
the runs' metric series overlaid in one colour per run."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import pyarrow as pa

from dashboard.looks import RUN_COLORS
from orchestrator.db.schema import run_metrics
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import open_page

MARK = "background-color: #fff3b0"


def insert(orch: Orchestrator, *runs: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    """Succeeded `simulate` runs (run_id, input, state, metrics), a minute apart, the same figures."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": run_id,
                "workflow": "simulate",
                "status": "succeeded",
                "created_at": base + dt.timedelta(minutes=n),
                "started_at": base,
                "finished_at": base + dt.timedelta(seconds=2),
                "work_seconds": 2.0,
                "wall_seconds": 2.0,
                "tasks_total": 2,
                "tasks_completed": 2,
                "input": input,
                "state_snapshot": state,
                "metrics": metrics,
                "tags": [],
            }
            for n, (run_id, input, state, metrics) in enumerate(runs)
        ]
    )


def table(at: Any) -> pd.DataFrame:
    (frame,) = [df.value for df in at.dataframe if list(df.value.columns)[:1] == ["1: nway1"]]
    return frame


def marked_cells(at: Any) -> set[tuple[str, str]]:
    """The (row, run) cells drawn highlighted, from the Styler's CSS the page sent."""
    (element,) = [df for df in at.dataframe if list(df.value.columns)[:1] == ["1: nway1"]]
    styler = element.proto.arrow_data.styler
    frame = table(at)
    marked = set()
    for rule in styler.styles.split("}"):
        if MARK.split(": ")[1] in rule:
            # `#T_<uuid>_row<r>_col<c>` selectors, one per styled cell
            for selector in rule.split("{")[0].split(","):
                r, c = selector.strip().rsplit("_row", 1)[1].split("_col")
                marked.add((frame.index[int(r)], frame.columns[int(c)]))
    return marked


def test_three_runs_side_by_side_marked_and_only_the_rows_that_differ(page_orch: Orchestrator) -> None:
    insert(
        page_orch,
        ("nway1", {"tasks": 3, "seed": 1}, {"summary": {"total": 3}}, {"accuracy": 0.9}),
        ("nway2", {"tasks": 3, "seed": 2}, {"summary": {"total": 3}}, {"accuracy": 0.8}),
        ("nway3", {"tasks": 5, "seed": 2}, {"summary": {"total": 4}, "label": "x"}, {"accuracy": 0.8}),
    )
    at = open_page("compare", run_ids="nway1,nway2,nway3")
    assert not at.exception, [e.value for e in at.exception]
    frame = table(at)
    assert list(frame.columns) == ["1: nway1", "2: nway2", "3: nway3"]
    fields = frame.loc[["input.tasks", "input.seed", "state.summary.total", "state.label", "metrics.accuracy"]]
    assert fields.values.tolist() == [
        ["3", "3", "5"],
        ["1", "2", "2"],
        ["3", "3", "4"],
        ["–", "–", "x"],
        ["0.9", "0.8", "0.8"],
    ]
    assert frame.loc["Status"].tolist() == ["succeeded"] * 3
    assert marked_cells(at) == {
        ("input.tasks", "3: nway3"),
        ("input.seed", "1: nway1"),
        ("state.summary.total", "3: nway3"),
        ("state.label", "3: nway3"),
        ("metrics.accuracy", "1: nway1"),
        ("Created at", "2: nway2"),  # a minute apart each: all differ, run 1's is the usual one
        ("Created at", "3: nway3"),
    }

    at.toggle(key="compare_only_diff").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = list(table(at).index)  # PostgreSQL's jsonb keeps an object's keys in its own order
    assert shown[0] == "Created at" and len(shown) == 6
    assert set(shown) == {
        "Created at",
        "input.tasks",
        "input.seed",
        "state.summary.total",
        "state.label",
        "metrics.accuracy",
    }


def test_metric_series_are_overlaid_one_colour_per_run(page_orch: Orchestrator) -> None:
    insert(
        page_orch,
        ("nway1", {}, {}, {"loss": 0.5}),
        ("nway2", {}, {}, {"loss": 0.25}),
    )
    at_time = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    with page_orch.engine.begin() as conn:  # as a run's executor writes them (fenced_run.py)
        conn.execute(
            run_metrics.insert(),
            [
                {"run_id": run_id, "name": "loss", "step": step, "value": value, "at": at_time}
                for run_id, values in (("nway1", [1.0, 0.5]), ("nway2", [1.0, 0.5, 0.25]))
                for step, value in enumerate(values)
            ],
        )
    at = open_page("compare", run_ids="nway1,nway2")
    assert not at.exception, [e.value for e in at.exception]
    (chart,) = [c for c in at.get("vega_lite_chart") if "facet" in json.loads(c.proto.spec)]
    spec = json.loads(chart.proto.spec)
    assert spec["spec"]["encoding"]["color"]["scale"] == {
        "domain": ["1: nway1", "2: nway2"],
        "range": list(RUN_COLORS[:2]),
    }
    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()
    assert list(data[["run", "step", "value"]].itertuples(index=False, name=None)) == [
        ("1: nway1", 0, 1.0),
        ("1: nway1", 1, 0.5),
        ("2: nway2", 0, 1.0),
        ("2: nway2", 1, 0.5),
        ("2: nway2", 2, 0.25),
    ]
