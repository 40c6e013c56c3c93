"""orchestrator.compare: the metrics table, the JSON diff and checkpoint divergence.

Hand-made runs, JSON and histories with hand-computed answers, plus real runs (the built-in
`simulate` workflow and a 3-stage linear graph) executed by the orchestrator on SQLite and on
PostgreSQL and read back through the real savers, with hand-written expectations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from orchestrator.compare import METRICS, compare_table, diff_json, divergence, json_equal
from orchestrator.config import OrchestratorConfig
from orchestrator.history import checkpoint_history
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute
from tests.helpers import with_workflows

# --- compare_table -----------------------------------------------------------------------------


def _run(**fields: Any) -> dict[str, Any]:
    base = {
        "run_id": "r",
        "workflow": "simulate",
        "status": "succeeded",
        "created_at": "2024-05-01T10:00:00+00:00",
        "work_seconds": 1.23,
        "wall_seconds": 9.5,
        "tasks_total": 4,
        "tasks_completed": 3,
        "tasks_failed": 1,
        "tags": ["b", "a"],
    }
    return base | fields


def _rows(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in compare_table(runs)}


def test_metrics_are_the_table_rows_in_order() -> None:
    assert [key for key, _ in METRICS] == [
        "workflow",
        "status",
        "created_at",
        "work_seconds",
        "wall_seconds",
        "tasks_total",
        "tasks_completed",
        "tasks_failed",
        "success_rate",
        "tags",
    ]
    rows = compare_table([_run()])
    assert [(r["key"], r["metric"]) for r in rows] == METRICS
    assert all(set(r) == {"metric", "key", "values", "differs", "differing_runs"} for r in rows)


def test_compare_table_marks_exactly_the_differing_cells() -> None:
    a = _run(run_id="a")
    # Same as a except created_at; work time 1.24 rounds to a's 1.2; tags in another order.
    b = _run(run_id="b", created_at="2024-05-01T10:00:01+00:00", work_seconds=1.24, tags=["a", "b"])
    # Differs from a everywhere except created_at.
    c = _run(
        run_id="c",
        workflow="plan_execute",
        status="failed",
        work_seconds=2.0,
        wall_seconds=2.0,
        tasks_total=0,
        tasks_completed=0,
        tasks_failed=0,
        tags=None,
    )
    rows = _rows([a, b, c])
    expected = {
        "workflow": [2],
        "status": [2],
        "created_at": [1],
        "work_seconds": [2],
        "wall_seconds": [2],
        "tasks_total": [2],
        "tasks_completed": [2],
        "tasks_failed": [2],
        "success_rate": [2],
        "tags": [2],
    }
    assert {key: row["differing_runs"] for key, row in rows.items()} == expected
    assert all(row["differs"] for row in rows.values())
    # Values are shown as they are, in run order; only the comparison is normalised.
    assert rows["work_seconds"]["values"] == [1.23, 1.24, 2.0]
    assert rows["success_rate"]["values"] == [0.75, 0.75, None]
    assert rows["tags"]["values"] == [["b", "a"], ["a", "b"], None]
    assert rows["workflow"]["values"] == ["simulate", "simulate", "plan_execute"]


def test_identical_runs_differ_nowhere() -> None:
    rows = compare_table([_run(run_id="a"), _run(run_id="b"), _run(run_id="c")])
    assert not any(row["differs"] or row["differing_runs"] for row in rows)


@pytest.mark.parametrize("key", ["work_seconds", "wall_seconds"])
def test_durations_are_compared_to_a_tenth_of_a_second(key: str) -> None:
    rows = _rows([_run(**{key: 1.21}), _run(**{key: 1.249}), _run(**{key: 1.26})])
    assert rows[key]["differing_runs"] == [2]
    rows = _rows([_run(**{key: None}), _run(**{key: None}), _run(**{key: 0.0})])
    assert rows[key]["differing_runs"] == [2]


def test_durations_are_the_stores_never_worked_out_again() -> None:
    """One definition: compare shows the figures the store gives (a run waiting for a person has
    worked 2 s of its 70 s), never its own sum of start and finish."""
    start = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    run = _run(
        started_at=start, finished_at=start + dt.timedelta(seconds=70), work_seconds=2.0, wall_seconds=70.0
    )
    rows = _rows([run])
    assert (rows["work_seconds"]["values"], rows["wall_seconds"]["values"]) == ([2.0], [70.0])


def test_success_rate_is_compared_to_four_decimals() -> None:
    one_third = _run(tasks_total=3, tasks_completed=1)
    close = _run(tasks_total=30001, tasks_completed=10000)  # 0.33332..., 0.3333 at 4 decimals
    far = _run(tasks_total=3000, tasks_completed=1001)  # 0.33366..., 0.3337
    row = _rows([one_third, close, far])["success_rate"]
    assert row["differing_runs"] == [2]
    assert row["values"][0] == pytest.approx(1 / 3)


def test_success_rate_is_none_without_tasks() -> None:
    row = _rows([_run(tasks_total=0, tasks_completed=0), _run(tasks_total=None, tasks_completed=None)])
    assert row["success_rate"]["values"] == [None, None]
    assert not row["success_rate"]["differs"]


def test_tags_compare_as_sorted_lists_and_none_is_no_tags() -> None:
    rows = _rows(
        [_run(tags=None), _run(tags=[]), _run(tags=["x"]), _run(tags=["ü", "x"]), _run(tags=["x", "ü"])]
    )
    assert rows["tags"]["differing_runs"] == [2, 3, 4]
    rows = _rows([_run(tags=["ü", "x"]), _run(tags=["x", "ü"])])
    assert rows["tags"]["differing_runs"] == []


def test_created_at_is_compared_to_the_second_as_it_is_shown() -> None:
    t = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    later = [t + dt.timedelta(microseconds=1), t + dt.timedelta(seconds=1)]
    rows = _rows([_run(created_at=t), _run(created_at=later[0]), _run(created_at=later[1])])
    assert rows["created_at"]["differing_runs"] == [2]


def test_counts_compare_ints_and_floats_but_not_bools() -> None:
    rows = _rows([_run(tasks_failed=1), _run(tasks_failed=1.0), _run(tasks_failed=True)])
    assert rows["tasks_failed"]["differing_runs"] == [2]


def test_no_runs_no_differences() -> None:
    rows = compare_table([])
    assert len(rows) == len(METRICS)
    assert all(row["values"] == [] and not row["differs"] for row in rows)


# --- diff_json ---------------------------------------------------------------------------------


def _changes(left: Any, right: Any) -> list[tuple[str, str]]:
    return [(d["path"], d["change"]) for d in diff_json(left, right)]


def test_equal_values_have_no_diff() -> None:
    value = {"summary": {"count": 3, "tags": ["a", "b"]}, "results": [{"v": 1}, {"v": None}]}
    assert diff_json(value, value) == []
    assert diff_json({"n": 1, "xs": [2, 3.0]}, {"n": 1.0, "xs": [2.0, 3]}) == []


def test_nested_dicts_and_lists() -> None:
    left = {
        "summary": {"count": 3, "mean": 1.5},
        "results": [{"index": 0, "value": 1}, {"index": 1, "value": 2}],
        "seed": 1,
    }
    right = {
        "summary": {"count": 4, "mean": 1.5, "digest": "abc"},
        "results": [{"index": 0, "value": 1}, {"index": 1, "value": 5}],
        "seed": 1,
    }
    assert diff_json(left, right) == [
        {"path": "summary.count", "change": "changed", "left": 3, "right": 4},
        {"path": "summary.digest", "change": "added", "left": None, "right": "abc"},
        {"path": "results[1].value", "change": "changed", "left": 2, "right": 5},
    ]


def test_order_is_left_keys_then_right_new_keys() -> None:
    assert _changes({"b": 1, "a": 1, "z": 0}, {"c": 1, "a": 2, "z": 0, "d": 3}) == [
        ("b", "removed"),
        ("a", "changed"),
        ("c", "added"),
        ("d", "added"),
    ]


def test_removed_and_added_keys_carry_their_whole_value() -> None:
    assert diff_json({"a": {"x": [1]}, "n": None}, {}) == [
        {"path": "a", "change": "removed", "left": {"x": [1]}, "right": None},
        {"path": "n", "change": "removed", "left": None, "right": None},
    ]
    assert diff_json({}, {"a": {"x": 1}}) == [
        {"path": "a", "change": "added", "left": None, "right": {"x": 1}}
    ]


def test_list_length_changes_report_extra_items_at_their_indices() -> None:
    assert diff_json([1, 2, 3], [1, 9]) == [
        {"path": "[1]", "change": "changed", "left": 2, "right": 9},
        {"path": "[2]", "change": "removed", "left": 3, "right": None},
    ]
    assert _changes({"xs": [1]}, {"xs": [1, 2, {"k": 3}]}) == [("xs[1]", "added"), ("xs[2]", "added")]
    assert _changes({"xs": [{"a": 1}, {"a": 2}]}, {"xs": [{"a": 1, "b": 0}]}) == [
        ("xs[0].b", "added"),
        ("xs[1]", "removed"),
    ]


def test_nested_lists() -> None:
    assert _changes({"m": [[1, 2], [3]]}, {"m": [[1, 2], [3, 4]]}) == [("m[1][1]", "added")]


def test_type_changes_are_changed_at_their_path() -> None:
    assert diff_json({"a": {"x": 1}}, {"a": [1]}) == [
        {"path": "a", "change": "changed", "left": {"x": 1}, "right": [1]}
    ]
    assert _changes({"n": 1, "s": "1", "l": [], "d": {}}, {"n": "1", "s": 1, "l": {}, "d": None}) == [
        ("n", "changed"),
        ("s", "changed"),
        ("l", "changed"),
        ("d", "changed"),
    ]


def test_numbers_int_equals_float_but_bool_is_not_a_number() -> None:
    assert diff_json({"n": 1}, {"n": 1.0}) == []
    assert _changes({"n": True}, {"n": 1}) == [("n", "changed")]
    assert _changes({"n": 0}, {"n": False}) == [("n", "changed")]
    assert _changes({"n": 1.5}, {"n": 1}) == [("n", "changed")]
    assert diff_json({"b": True}, {"b": True}) == []


def test_unicode_keys_and_values() -> None:
    assert diff_json({"名前": "café", "emoji": "🙂"}, {"名前": "cafe", "emoji": "🙂"}) == [
        {"path": "名前", "change": "changed", "left": "café", "right": "cafe"}
    ]
    assert _changes({"ä": {"ö": 1}}, {"ä": {"ö": 2}}) == [("ä.ö", "changed")]


def test_keys_with_dots_or_brackets_are_quoted() -> None:
    assert _changes({"a.b": 1}, {"a.b": 2}) == [('["a.b"]', "changed")]
    assert _changes({"m": {"x[0]": 1}}, {"m": {"x[0]": 2}}) == [('m["x[0]"]', "changed")]
    assert _changes({"m": {"é.t": [1]}}, {"m": {"é.t": [2]}}) == [('m["é.t"][0]', "changed")]
    assert _changes({"": 1}, {"": 2}) == [('[""]', "changed")]


def test_root_values() -> None:
    assert diff_json(1, 2) == [{"path": "", "change": "changed", "left": 1, "right": 2}]
    assert diff_json("x", "x") == []
    assert _changes([{"a": 1}], [{"a": 2}]) == [("[0].a", "changed")]
    assert _changes({"a": 1}, [1]) == [("", "changed")]


def test_json_equal() -> None:
    assert json_equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not json_equal({"a": 1}, {"a": 1, "b": None})
    assert not json_equal([1], [True])
    assert json_equal(float("nan"), float("nan"))


# --- divergence (hand-made histories) ----------------------------------------------------------


def _cp(step: int, writers: list[str], changed: list[str], values: dict[str, Any]) -> dict[str, Any]:
    return {
        "checkpoint_id": f"cp{step}",
        "step": step,
        "source": "input" if step == -1 else "loop",
        "created_at": "2024-05-01T10:00:00+00:00",
        "writers": writers,
        "changed": changed,
        "next": [],
        "values": values,
    }


def _history(seed: int = 1, results: list[int] | None = None, extra_steps: int = 0) -> list[dict[str, Any]]:
    """input (-1) -> input applied (0) -> plan (1) -> work (2) -> summarize (3) [-> more]."""
    results = [10, 20] if results is None else results
    inp = {"tasks": 2, "seed": seed}
    history = [
        _cp(-1, [], [], {}),
        _cp(0, ["(input)"], ["seed", "tasks"], dict(inp)),
        _cp(1, ["plan"], ["task_ids"], inp | {"task_ids": [0, 1]}),
        _cp(2, ["work"], ["results"], inp | {"task_ids": [0, 1], "results": results}),
        _cp(
            3,
            ["summarize"],
            ["summary"],
            inp | {"task_ids": [0, 1], "results": results, "summary": sum(results)},
        ),
    ]
    for k in range(extra_steps):
        last = history[-1]
        history.append(_cp(4 + k, ["review"], ["round"], last["values"] | {"round": k}))
    return history


def test_a_history_agrees_with_itself() -> None:
    h = _history()
    result = divergence(h, h, "simulate", "simulate")
    assert result["applies"] is True
    assert result["reason"] is None
    assert result["first_divergent_step"] is None
    assert result["summary"] == "Runs agree at every step (5 steps)."
    assert [s["step"] for s in result["steps"]] == [-1, 0, 1, 2, 3]
    assert all(s["equal"] and s["differing_channels"] == [] for s in result["steps"])


def test_equal_histories_built_separately_agree() -> None:
    result = divergence(_history(), _history(), "simulate", "simulate")
    assert result["summary"] == "Runs agree at every step (5 steps)."


def test_steps_carry_both_sides_writers_and_changed() -> None:
    step = divergence(_history(), _history(), "w", "w")["steps"][3]
    assert step == {
        "step": 2,
        "left_writers": ["work"],
        "right_writers": ["work"],
        "left_changed": ["results"],
        "right_changed": ["results"],
        "differing_channels": [],
        "equal": True,
        "only_in": None,
    }


def test_differ_at_a_later_step() -> None:
    result = divergence(_history(results=[10, 20]), _history(results=[10, 21]), "simulate", "simulate")
    assert result["first_divergent_step"] == 2
    assert result["summary"] == "Runs agree up to step 1; at step 2 node `work` wrote different `results`."
    by_step = {s["step"]: s for s in result["steps"]}
    assert [by_step[s]["equal"] for s in (-1, 0, 1, 2, 3)] == [True, True, True, False, False]
    assert by_step[2]["differing_channels"] == ["results"]
    assert by_step[3]["differing_channels"] == ["results", "summary"]


def test_writers_are_the_union_of_both_sides() -> None:
    left, right = _history(results=[1]), _history(results=[2])
    right[3]["writers"] = ["review", "work"]
    right[3]["values"]["notes"] = "x"
    result = divergence(left, right, "w", "w")
    assert result["summary"] == (
        "Runs agree up to step 1; at step 2 nodes `review`, `work` wrote different `notes`, `results`."
    )


def test_differ_from_the_first_step_without_writers() -> None:
    left = [_cp(-1, [], [], {"tasks": 3, "seed": 1}), _cp(0, ["plan"], ["x"], {"x": 1})]
    right = [_cp(-1, [], [], {"tasks": 4, "seed": 2}), _cp(0, ["plan"], ["x"], {"x": 1})]
    result = divergence(left, right, "w", "w")
    assert result["first_divergent_step"] == -1
    assert result["summary"] == "Runs differ from the first step (step -1): different `seed`, `tasks`."
    assert [s["equal"] for s in result["steps"]] == [False, True]


def test_differ_from_the_first_step_with_writers() -> None:
    left = [_cp(0, ["plan"], ["task_ids"], {"task_ids": [0]})]
    right = [_cp(0, ["plan"], ["task_ids"], {"task_ids": [0, 1]})]
    result = divergence(left, right, "w", "w")
    assert (
        result["summary"]
        == "Runs differ from the first step (step 0); node `plan` wrote different `task_ids`."
    )


def test_input_pseudo_writer_is_not_a_node() -> None:
    result = divergence(_history(seed=1), _history(seed=2), "simulate", "simulate")
    assert result["first_divergent_step"] == 0
    assert result["summary"] == "Runs agree up to step -1; at step 0: different `seed`."


def test_a_channel_missing_on_one_side_differs() -> None:
    left = [_cp(0, ["a"], [], {"x": 1})]
    right = [_cp(0, ["a"], [], {"x": 1.0, "y": None})]
    step = divergence(left, right, "w", "w")["steps"][0]
    assert step["differing_channels"] == ["y"]
    assert step["equal"] is False


def test_left_history_longer() -> None:
    result = divergence(_history(extra_steps=2), _history(), "simulate", "simulate")
    assert result["first_divergent_step"] == 4
    assert result["summary"] == "Runs agree up to step 3; then only the left run has more steps (4..5)."
    tail = result["steps"][-2:]
    assert [(s["step"], s["only_in"], s["equal"]) for s in tail] == [(4, "left", False), (5, "left", False)]
    assert tail[0]["left_writers"] == ["review"]
    assert tail[0]["right_writers"] == []
    assert tail[0]["differing_channels"] == []


def test_right_history_longer_by_one_step() -> None:
    result = divergence(_history(), _history(extra_steps=1), "simulate", "simulate")
    assert result["summary"] == "Runs agree up to step 3; then only the right run has more steps (step 4)."


def test_longer_history_after_an_earlier_difference_reports_the_difference() -> None:
    result = divergence(_history(results=[1]), _history(results=[2], extra_steps=1), "w", "w")
    assert result["first_divergent_step"] == 2
    assert result["summary"] == "Runs agree up to step 1; at step 2 node `work` wrote different `results`."


def test_a_gap_in_one_history() -> None:
    right = [cp for cp in _history() if cp["step"] != 1]
    result = divergence(_history(), right, "w", "w")
    assert result["first_divergent_step"] == 1
    assert result["summary"] == "Runs agree up to step 0; step 1 exists only in the left run."
    assert [s["step"] for s in result["steps"]] == [-1, 0, 1, 2, 3]


def test_empty_histories() -> None:
    assert divergence([], [], "w", "w")["summary"] == "Neither run has any checkpoints."
    result = divergence([], _history()[:3], "w", "w")
    assert result["first_divergent_step"] == -1
    assert result["summary"] == "Only the right run has checkpoints (-1..1)."


def test_a_repeated_step_uses_its_latest_checkpoint() -> None:
    left = [_cp(0, ["a"], [], {"x": 1}), _cp(0, ["a"], [], {"x": 2})]
    right = [_cp(0, ["a"], [], {"x": 2})]
    assert divergence(left, right, "w", "w")["summary"] == "Runs agree at every step (1 step)."


def test_different_workflows_do_not_apply() -> None:
    result = divergence(_history(), _history(), "simulate", "plan_execute")
    assert result["applies"] is False
    assert result["reason"] == (
        "Runs of different workflows (simulate, plan_execute) have different graphs, so their checkpoints "
        "cannot be aligned step by step; compare their metrics above."
    )
    assert result["steps"] == []
    assert result["first_divergent_step"] is None
    assert result["summary"] == result["reason"]


# --- divergence on real runs, read back from the real savers -----------------------------------
#
# Runs executed by the orchestrator's executor on the test's SQLite file or PostgreSQL database,
# their histories read the way the Compare page reads them (checkpoint_history through the saver,
# writers named from run_tasks). Every expected value is written by hand.

STAGES = {"stages": "tests.test_compare:build_stages"}


class StagesState(TypedDict, total=False):
    x: int
    s1: int
    s2: int
    s3: int


def _stage(n: int) -> Any:
    def stage(state: StagesState, config: RunnableConfig) -> dict:
        # `flip_at` comes through the run config, not the state, so it is no channel of its own.
        flipped = n >= config["configurable"]["flip_at"]
        return {f"s{n}": state["x"] * 10 + n + (100 if flipped else 0)}

    return stage


def build_stages() -> StateGraph:
    """stage1 -> stage2 -> stage3; stage n writes s<n> = 10*x + n, plus 100 from stage `flip_at` on."""
    graph = StateGraph(StagesState)
    for n in (1, 2, 3):
        graph.add_node(f"stage{n}", _stage(n))
    graph.add_edge(START, "stage1")
    graph.add_edge("stage1", "stage2")
    graph.add_edge("stage2", "stage3")
    graph.add_edge("stage3", END)
    return graph


@pytest.fixture
def orch(config: OrchestratorConfig, engine) -> Iterator[Orchestrator]:
    with_stages = with_workflows(config, STAGES)
    yield Orchestrator(with_stages, engine=engine)


def histories(orch: Orchestrator, *launches: tuple[str, dict[str, Any], dict[str, Any]]) -> list[list[dict]]:
    """Launch and execute the runs, then read each one's history as the Compare page does."""
    run_ids = [orch.launch(workflow, input, config=cfg) for workflow, input, cfg in launches]
    for run_id, run in execute(orch, run_ids).items():
        assert run["status"] == "succeeded", (run_id, run["error"])
    return [
        checkpoint_history(
            orch.config, run_id, {t["task_id"]: t["node"] for t in orch.store.get_tasks(run_id)}
        )
        for run_id in run_ids
    ]


def simulate(seed: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return ("simulate", {"tasks": 3, "delay_ms": 0, "seed": seed}, {})


def test_simulate_runs_with_the_same_seed_agree_at_every_step(orch: Orchestrator) -> None:
    left, right = histories(orch, simulate(7), simulate(7))
    # input (-1), input applied (0), plan (1), work (2), summarize (3)
    assert [cp["step"] for cp in left] == [-1, 0, 1, 2, 3]
    assert [cp["writers"] for cp in left] == [[], ["(input)"], ["plan"], ["work"], ["summarize"]]
    result = divergence(left, right, "simulate", "simulate")
    assert result["summary"] == "Runs agree at every step (5 steps)."
    assert result["first_divergent_step"] is None


def test_simulate_runs_with_different_seeds_diverge_where_work_writes_results(orch: Orchestrator) -> None:
    left, right = histories(orch, simulate(1), simulate(2))
    result = divergence(left, right, "simulate", "simulate")
    # `seed` is itself a state channel, so the input step already differs in it ...
    assert result["first_divergent_step"] == 0
    assert result["summary"] == "Runs agree up to step -1; at step 0: different `seed`."
    by_step = {s["step"]: s for s in result["steps"]}
    assert by_step[1]["differing_channels"] == ["seed"]
    # ... and the work results first differ at step 2, written by `work`.
    assert by_step[2]["left_writers"] == by_step[2]["right_writers"] == ["work"]
    assert by_step[2]["differing_channels"] == ["results", "seed"]
    assert by_step[3]["differing_channels"] == ["results", "seed", "summary"]


def stages(x: int, flip_at: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return ("stages", {"x": x}, {"flip_at": flip_at})


def test_linear_graph_diverges_exactly_where_stage_two_writes(orch: Orchestrator) -> None:
    left, right = histories(orch, stages(5, 2), stages(5, 3))
    assert [(cp["step"], cp["writers"]) for cp in left] == [
        (-1, []),
        (0, ["(input)"]),
        (1, ["stage1"]),
        (2, ["stage2"]),
        (3, ["stage3"]),
    ]
    # s1 = 51 in both; s2 = 152 (flipped at 2) against 52; s3 = 153 in both (flipped at 2 and at 3)
    assert left[-1]["values"] == {"x": 5, "s1": 51, "s2": 152, "s3": 153}
    assert right[-1]["values"] == {"x": 5, "s1": 51, "s2": 52, "s3": 153}
    result = divergence(left, right, "stages", "stages")
    assert result["first_divergent_step"] == 2
    assert result["summary"] == "Runs agree up to step 1; at step 2 node `stage2` wrote different `s2`."
    by_step = {s["step"]: s for s in result["steps"]}
    assert [by_step[s]["equal"] for s in (-1, 0, 1)] == [True, True, True]
    assert by_step[2]["left_changed"] == by_step[2]["right_changed"] == ["s2"]
    # Stage 3 is flipped in both runs, so only the carried-over s2 still differs.
    assert by_step[3]["differing_channels"] == ["s2"]
    assert diff_json(left[-1]["values"], right[-1]["values"]) == [
        {"path": "s2", "change": "changed", "left": 152, "right": 52}
    ]


def test_linear_graph_runs_with_the_same_flip_agree(orch: Orchestrator) -> None:
    left, right = histories(orch, stages(5, 2), stages(5, 2))
    result = divergence(left, right, "stages", "stages")
    assert result["summary"] == "Runs agree at every step (5 steps)."
