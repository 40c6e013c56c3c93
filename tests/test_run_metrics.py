"""A team's own metrics (orchestrator.record_metric) on both backends: recorded by a graph's
async and sync nodes, kept per step, the latest value a `metrics.<name>` field to filter and sort
by; written only through the executor's fence; refused outside a run and for bad values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator import record_metric
from orchestrator.claims import ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.fenced_run import Claim, ClaimLost
from orchestrator.operations import Orchestrator
from orchestrator.run_metrics import checked_metric
from orchestrator.run_queries import RunFilter
from tests.apptest_helpers import execute
from tests.helpers import with_workflows

SCORED = {"scored": "tests.metric_workflows:build_scored"}


@pytest.fixture
def scored(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(with_workflows(config, SCORED, heartbeat_seconds=0.2))
    yield orch
    orch.engine.dispose()


def test_a_graph_records_metrics_that_filter_and_sort_runs(scored: Orchestrator) -> None:
    ids = {points: scored.launch("scored", {"points": points}) for points in (2, 5, 8)}
    done = execute(scored, list(ids.values()))
    assert {run["status"] for run in done.values()} == {"succeeded"}, [r["error"] for r in done.values()]
    # the series: loss at steps 0 … points - 1 (by hand: 1, 0.5, 0.333…, …); accuracy at 0 and 1
    series = scored.store.metric_series(ids[5])
    assert [(p["step"], p["value"]) for p in series["loss"]] == [(i, 1 / (i + 1)) for i in range(5)]
    assert [(p["step"], round(p["value"], 6)) for p in series["accuracy"]] == [(0, 0.5), (1, 0.51)]
    # the latest value of each is a field: stored on the run, filtered and sorted by the database
    assert done[ids[5]]["metrics"] == {"loss": 0.2, "accuracy": pytest.approx(0.51)}
    f = RunFilter(where=["metrics.accuracy > 0.3"])
    page = scored.store.page_runs(f, sort="metrics.accuracy", columns=["metrics.accuracy", "metrics.loss"])
    assert [r["run_id"] for r in page] == [ids[8], ids[5]]
    assert [round(r["metrics.loss"], 6) for r in page] == [0.125, 0.2]  # type: ignore[typeddict-item]


def test_a_metric_is_written_only_under_the_claim(scored: Orchestrator) -> None:
    run_id = scored.launch("scored", {"points": 1})
    execute(scored, [run_id])
    stale = ClaimStore(scored.engine).fenced(
        Claim(run_id, attempt=99)
    )  # not the run's claim (and it has finished)
    with pytest.raises(ClaimLost):
        stale.record_metrics([("accuracy", 1.0, None)])
    assert [p["value"] for p in scored.store.metric_series(run_id)["accuracy"]] == [0.1, 0.11]


def test_record_metric_outside_a_run_and_bad_values_are_one_sentence() -> None:
    with pytest.raises(OrchestratorError, match="inside a node"):
        record_metric("accuracy", 0.5)
    for name, value, step, words in [
        ("acc uracy", 1.0, None, "A metric name is letters"),
        ("1st", 1.0, None, "A metric name is letters"),
        ("accuracy", float("nan"), None, "must be a finite number"),
        ("accuracy", True, None, "must be a finite number"),
        ("accuracy", "0.5", None, "must be a finite number"),
        ("accuracy", 0.5, -1, "step must be a whole number"),
    ]:
        with pytest.raises(InputError, match=words) as caught:
            checked_metric(name, value, step)
        assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
