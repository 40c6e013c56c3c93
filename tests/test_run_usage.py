"""A run's model calls and logs as figures of the runs list (issue 26, point 3), on both backends:
real runs of the `chatty` team graph executed here, filtered and sorted by cost, tokens, calls,
warnings and errors in the store, the CLI and the CSV, and the same figures everywhere (run
detail's row, the runs list, the CSV, `runs --json` and the CLI's table)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest

from dashboard.observe import usage_line
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.metrics import Period, overview
from orchestrator.observe.figures import cost_text
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.run_queries.filter import parse_cost
from orchestrator.runs_csv import csv_bytes
from tests.helpers import with_workflows
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.test_run_logs import PRICES, WORKFLOWS, run_here

# (model calls, failing work task): 0, 1 and 2 calls of $0.00575 and 1,500 tokens each.
RUNS = {"none": (0, False), "one": (1, True), "two": (2, False)}


@pytest.fixture
def usage_runs(config: OrchestratorConfig):
    orch = Orchestrator(with_workflows(config, WORKFLOWS, model_prices=PRICES))
    ids = {name: run_here(orch, tasks=1, lines=0, calls=calls, fail=fail) for name, (calls, fail) in RUNS.items()}
    yield orch, ids
    orch.engine.dispose()


def matching(orch: Orchestrator, **filters: Any) -> set[str]:
    return {r["run_id"] for r in orch.store.page_runs(RunFilter(**filters), limit=50)}


def test_filters_and_sorts_on_cost_tokens_calls_warnings_and_errors(usage_runs) -> None:
    orch, ids = usage_runs
    assert matching(orch, cost_usd_min=0.005) == {ids["one"], ids["two"]}
    assert matching(orch, cost_usd_min=0.006, cost_usd_max=0.02) == {ids["two"]}
    assert matching(orch, cost_usd_max=0.0) == {ids["none"]}
    assert matching(orch, tokens_min=1500, tokens_max=1500) == {ids["one"]}
    assert matching(orch, model_calls_min=2) == {ids["two"]}
    assert matching(orch, errors_min=1) == {ids["one"]}
    assert matching(orch, warnings_min=1, warnings_max=1) == set(ids.values())  # each work task warns once
    assert orch.store.count_matching(RunFilter(tokens_min=1)).value == 2
    for sort in ("tokens", "cost_usd", "cost", "model_calls", "calls"):
        order = [r["run_id"] for r in orch.store.page_runs(sort=sort, descending=True)]
        assert order == [ids["two"], ids["one"], ids["none"]], sort
    ascending = [r["run_id"] for r in orch.store.page_runs(sort="tokens", descending=False)]
    assert ascending == [ids["none"], ids["one"], ids["two"]]
    assert orch.store.page_runs(sort="errors")[0]["run_id"] == ids["one"]


def test_one_figure_in_run_detail_the_list_the_csv_and_the_cli(usage_runs) -> None:
    orch, ids = usage_runs
    listed = {r["run_id"]: r for r in orch.store.page_runs(limit=50)}
    rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(csv_bytes(orch.store).decode()))}
    db = database_args(orch.config)
    cli_json = call_cli("runs", "--json", *db)
    assert cli_json.code == 0, cli_json
    printed = {r["run_id"]: r for r in json.loads(cli_json.out)["runs"]}
    table = call_cli("runs", "--sort", "-cost", *db)
    assert table.code == 0, table
    lines = table.out.splitlines()
    assert lines[0].split()[-5:] == ["calls", "tokens", "cost", "warn", "err"]
    names = ("model_calls", "tokens", "input_tokens", "output_tokens", "cost_usd", "warnings", "errors")
    for name, run_id in ids.items():
        detail = orch.get_run(run_id)
        figures = {key: detail[key] for key in names}
        assert detail["tokens"] == detail["input_tokens"] + detail["output_tokens"] == 1500 * RUNS[name][0]
        assert {key: listed[run_id][key] for key in names} == figures
        assert {key: printed[run_id][key] for key in names} == figures
        assert {key: float(rows[run_id][key]) for key in names} == pytest.approx(figures, abs=1e-12)
        line = next(line for line in lines if line.startswith(run_id))
        assert line.split()[-5:] == [
            str(figures["model_calls"]),
            str(figures["tokens"]),
            cost_text(figures["cost_usd"]),
            str(figures["warnings"]),
            str(figures["errors"]),
        ]
        if figures["model_calls"]:  # run detail's line says the same
            assert f"{figures['tokens']:,} tokens" in usage_line(detail)
            assert cost_text(figures["cost_usd"]) in usage_line(detail)
    assert [line.split()[0] for line in lines[1:4]] == [ids["two"], ids["one"], ids["none"]]


def test_the_cli_filters_by_cost_and_tokens(usage_runs) -> None:
    orch, ids = usage_runs
    db = database_args(orch.config)

    def listed(*flags: str) -> list[str]:
        outcome = call_cli("runs", "--json", *flags, *db)
        assert outcome.code == 0, outcome
        return [r["run_id"] for r in json.loads(outcome.out)["runs"]]

    assert listed("--min-cost", "0.006") == [ids["two"]]
    assert listed("--max-cost", "$0.006", "--min-cost", "0.001") == [ids["one"]]
    assert listed("--min-tokens", "1", "--sort", "+tokens") == [ids["one"], ids["two"]]
    assert listed("--min-calls", "1", "--max-calls", "1") == [ids["one"]]
    assert listed("--min-errors", "1") == [ids["one"]]
    assert listed("--max-warnings", "0") == []
    assert_one_error_line(call_cli("runs", "--min-cost", "cheap", *db), "--min-cost must be a number of US dollars")
    assert_one_error_line(
        call_cli("runs", "--min-cost", "2", "--max-cost", "1", *db), "the range is empty"
    )
    assert_one_error_line(call_cli("runs", "--sort", "price", *db), "Cannot sort by")


def test_a_cost_is_checked_once_everywhere() -> None:
    assert parse_cost(" $0.25 ", "--min-cost") == 0.25
    for bad in ("-1", "1e3", "nan", "0.1.2", ""):
        with pytest.raises(InputError, match="must be a number of US dollars"):
            parse_cost(bad, "--min-cost")
    for bad in (-0.5, float("inf"), float("nan"), True, "1"):
        with pytest.raises(InputError, match="cost_usd_min must be a number of US dollars"):
            RunFilter(cost_usd_min=bad)
    assert RunFilter(cost_usd_min=1).cost_usd_min == 1.0


def test_the_overview_adds_up_the_same_figures(usage_runs) -> None:
    orch, ids = usage_runs
    now = dt.datetime.now(dt.UTC)
    data = overview(orch.engine, Period(now - dt.timedelta(days=7), now + dt.timedelta(minutes=1)))
    usage = data["usage"]
    details = [orch.get_run(run_id) for run_id in ids.values()]
    assert usage["totals"]["model_calls"] == sum(d["model_calls"] for d in details) == 3
    assert usage["totals"]["tokens"] == sum(d["tokens"] for d in details) == 4500
    assert usage["totals"]["cost_usd"] == pytest.approx(sum(d["cost_usd"] for d in details), abs=1e-12)
    (day,) = usage["over_time"]  # one day, one workflow; the run without calls is not in it
    assert (day["workflow"], day["runs"], day["bucket"][:10]) == ("chatty", 2, str(details[0]["created_at"].date()))
    assert [r["run_id"] for r in usage["runs"]] == [ids["two"], ids["one"]]
    assert [r["cost_usd"] for r in usage["runs"]] == [orch.get_run(ids["two"])["cost_usd"], orch.get_run(ids["one"])["cost_usd"]]
    (node,) = usage["nodes"]
    assert (node["workflow"], node["node"], node["model_calls"], node["tokens"]) == ("chatty", "ask", 3, 4500)
    assert node["cost_usd"] == pytest.approx(usage["totals"]["cost_usd"], abs=1e-12) and not usage["nodes_cut"]
    other = overview(orch.engine, Period(now - dt.timedelta(days=7), now + dt.timedelta(minutes=1)), ["nothing"])
    assert other["usage"]["over_time"] == [] and other["usage"]["nodes"] == []
