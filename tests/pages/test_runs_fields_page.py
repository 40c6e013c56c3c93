"""The Runs page's field filters and field sort (both backends): the editor adds a checked line,
the lines and the sort live in the URL and read back from it; a mistake is one sentence."""

from __future__ import annotations

import datetime as dt
import json

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import open_page
from tests.pages.test_runs_page import shown_ids


def seed(orch: Orchestrator) -> None:
    """r00 … r11, a minute apart; input.tasks = 10 x n; state.label "even"/"odd"."""
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": f"r{n:02d}",
                "workflow": "simulate",
                "status": "succeeded",
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": 10 * n},
                "state_snapshot": {"label": "odd" if n % 2 else "even"},
                "tags": [],
            }
            for n in range(12)
        ]
    )


def test_field_filters_and_sort_round_trip_through_the_url(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    # the editor adds one checked line
    at.text_input(key="runs_where_path").input("input.tasks")
    at.selectbox(key="runs_where_op").select(">=")
    at.text_input(key="runs_where_value").input("60")
    at.button(key="runs_where_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="runs_where").value == "input.tasks >= 60"
    assert shown_ids(at) == ["r11", "r10", "r09", "r08", "r07", "r06"]
    at.text_area(key="runs_where").input("input.tasks >= 60\nstate.label = odd").run()
    at.text_input(key="runs_sort_field").input("input.tasks").run()
    at.toggle(key="runs_ascending").set_value(True).run()
    assert shown_ids(at) == ["r07", "r09", "r11"]
    params = dict(at.query_params)
    assert params["where"] in (
        "input.tasks >= 60\nstate.label = odd",
        ["input.tasks >= 60\nstate.label = odd"],
    )
    # the same URL in a new session shows the same runs
    again = open_page(
        "runs", where="input.tasks >= 60\nstate.label = odd", sort_field="input.tasks", asc="true"
    )
    assert not again.exception
    assert again.text_area(key="runs_where").value == "input.tasks >= 60\nstate.label = odd"
    assert shown_ids(again) == ["r07", "r09", "r11"]


def test_a_bad_field_filter_is_one_sentence_on_the_page(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs", where="input.tasks') OR 1=1 --")
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "Cannot read the field filter" in error and "\n" not in error
    at = open_page("runs")
    at.text_input(key="runs_where_path").input("params.x")
    at.text_input(key="runs_where_value").input("1")
    at.button(key="runs_where_add").click().run()
    (error,) = [e.value for e in at.error]
    assert error.startswith("Unknown field 'params.x'")
    assert at.text_area(key="runs_where").value == ""


def test_field_columns_are_offered_shown_and_kept_in_the_url(page_orch: Orchestrator) -> None:
    seed(page_orch)
    at = open_page("runs", where="input.tasks >= 90")
    assert not at.exception, [e.value for e in at.exception]
    at.run()  # the second run offers the fields found in the page shown first
    offered = at.multiselect(key="runs_columns").options
    # simulate's input model declares tasks (and more); the page's runs hold state.label
    assert {"input.tasks", "state.label"} <= set(offered)
    at.multiselect(key="runs_columns").set_value(["input.tasks", "state.label"]).run()
    assert not at.exception, [e.value for e in at.exception]
    (frame,) = [df.value for df in at.dataframe if "run_id" in df.value.columns]
    assert list(frame["input.tasks"]) == [110.0, 100.0, 90.0]
    assert list(frame["state.label"]) == ["odd", "even", "odd"]
    assert at.query_params["columns"] in ("input.tasks,state.label", ["input.tasks,state.label"])
    again = open_page("runs", where="input.tasks >= 90", columns="state.label")
    (frame,) = [df.value for df in again.dataframe if "run_id" in df.value.columns]
    assert list(frame["state.label"]) == ["odd", "even", "odd"]
    bad = open_page("runs", columns="input.tasks,input.x;DROP")
    assert not bad.exception
    assert any("is not a path of keys" in e.value for e in bad.error)


def test_run_detail_shows_the_runs_metrics_and_charts_a_series(page_orch: Orchestrator) -> None:
    from sqlalchemy import insert

    from orchestrator.db import run_metrics

    seed(page_orch)
    at_ = dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)
    with page_orch.engine.begin() as conn:
        conn.execute(
            insert(run_metrics),
            [{"run_id": "r03", "name": "loss", "step": s, "value": 1 / (s + 1), "at": at_} for s in range(3)]
            + [{"run_id": "r03", "name": "accuracy", "step": 0, "value": 0.9, "at": at_}],
        )
    at = open_page("run_detail", run_id="r03")
    assert not at.exception, [e.value for e in at.exception]
    (table,) = [df.value for df in at.dataframe if "metric" in df.value.columns]
    assert dict(zip(table["metric"], table["latest"], strict=True)) == {"accuracy": 0.9, "loss": 1 / 3}
    assert dict(zip(table["metric"], table["steps"], strict=True)) == {"accuracy": 1, "loss": 3}
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    (series,) = [spec for spec in specs if "facet" in spec]  # the series with more than one step
    assert series["facet"]["row"]["field"] == "metric"
    assert series["spec"]["encoding"]["x"]["field"] == "step"
    empty = open_page("run_detail", run_id="r04")
    assert any("No metrics recorded" in c.value for c in empty.caption)


def test_the_page_says_which_fields_are_indexed(page_orch: Orchestrator) -> None:
    from orchestrator.db.field_indexes import add_field_index

    def indexed_caption(at) -> str:  # type: ignore[no-untyped-def]
        (caption,) = [c.value for c in at.caption if c.value.startswith("Indexed")]
        return caption

    at = open_page("runs")
    assert indexed_caption(at).startswith("Indexed, fast at any size: input.tasks. Other fields")
    add_field_index(page_orch.engine, "metrics.accuracy", "metrics", ("accuracy",), by="test")
    at = open_page("runs")
    assert indexed_caption(at).startswith("Indexed, fast at any size: input.tasks, metrics.accuracy. Other")
