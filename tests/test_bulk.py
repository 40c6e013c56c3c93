"""Bulk actions (orchestrator/bulk.py and the CLI's cancel/resume/rerun/delete by ids or filters),
on both backends.

The runs are made in known statuses, so every expected count is written here by hand from the
status table (tests/test_status_table.py writes the table out): a run whose status does not
allow the action is skipped and counted by its status; the others go through the operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from orchestrator import bulk
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError, ReadOnlyError
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action, RunStatus
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.test_status_table import a_run

# How many runs of each status the tests make (11 in all).
MADE = {
    RunStatus.QUEUED: 1,
    RunStatus.RUNNING: 2,
    RunStatus.AWAITING_INPUT: 1,
    RunStatus.SUCCEEDED: 3,
    RunStatus.FAILED: 2,
    RunStatus.CANCELLED: 1,
    RunStatus.INTERRUPTED: 1,
}


@pytest.fixture
def orch(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(config)
    yield orch
    orch.engine.dispose()


def make_runs(orch: Orchestrator) -> dict[str, RunStatus]:
    return {a_run(orch, status): status for status, n in MADE.items() for _ in range(n)}


def statuses(orch: Orchestrator) -> Counter[str]:
    return Counter(orch.store.count_by_status())


def test_cancel_by_filter_counts_done_and_skipped_by_status(orch: Orchestrator) -> None:
    made = make_runs(orch)
    calls: list[tuple[int, int]] = []
    outcome = bulk.apply(orch, Action.CANCEL, RunFilter(), progress=lambda n, of: calls.append((n, of)))
    assert calls == [(n, 11) for n in range(1, 12)]
    assert outcome.done == {"queued": 1, "running": 2, "awaiting_input": 1, "interrupted": 1}
    assert outcome.skipped == {"succeeded": 3, "failed": 2, "cancelled": 1}
    assert (outcome.done_total, outcome.skipped_total, outcome.missing) == (5, 6, 0)
    assert not outcome.failed and not outcome.dry_run
    # Queued, waiting and interrupted runs are cancelled at once; running ones are asked to stop.
    after = {run_id: orch.get_run(run_id) for run_id in made}
    assert Counter(run["status"] for run in after.values()) == {
        "cancelled": 1 + 1 + 1 + 1,
        "running": 2,
        "succeeded": 3,
        "failed": 2,
    }
    assert sum(bool(run["cancel_requested"]) for run in after.values()) == 2
    assert outcome.sentence() == (
        "Cancelled 5 runs (2 running, 1 queued, 1 waiting, 1 interrupted); 6 skipped "
        "(3 succeeded, 2 failed, 1 cancelled): only queued, running, waiting or interrupted runs "
        "can be cancelled."
    )


def test_a_dry_run_says_the_same_and_changes_nothing(orch: Orchestrator) -> None:
    make_runs(orch)
    before = statuses(orch)
    planned = bulk.apply(orch, Action.DELETE, RunFilter(), dry_run=True)
    assert planned.done == {
        "awaiting_input": 1,
        "succeeded": 3,
        "failed": 2,
        "cancelled": 1,
        "interrupted": 1,
    }
    assert planned.skipped == {"queued": 1, "running": 2}
    assert planned.sentence().startswith("Would delete 8 runs")
    assert statuses(orch) == before
    done = bulk.apply(orch, Action.DELETE, RunFilter())
    assert (done.done, done.skipped) == (planned.done, planned.skipped)
    assert sorted(done.run_ids) == sorted(planned.run_ids)
    assert orch.store.count_runs() == 3


def test_resume_and_rerun_by_ids(orch: Orchestrator) -> None:
    made = make_runs(orch)
    failed = [run_id for run_id, status in made.items() if status == RunStatus.FAILED]
    succeeded = [run_id for run_id, status in made.items() if status == RunStatus.SUCCEEDED]
    outcome = bulk.apply(orch, Action.RESUME, [*failed, *succeeded, "0" * 32])
    assert (outcome.done, outcome.skipped, outcome.missing) == ({"failed": 2}, {"succeeded": 3}, 1)
    assert all(orch.get_run(run_id)["status"] == RunStatus.QUEUED for run_id in failed)

    rerun = bulk.apply(orch, "rerun", succeeded, by="cli:someone@here")
    assert rerun.done == {"succeeded": 3} and not rerun.skipped
    assert len(set(rerun.new_run_ids)) == 3
    for old, new in zip(rerun.run_ids, rerun.new_run_ids, strict=True):
        row = orch.get_run(new)
        assert (row["rerun_of"], row["status"], row["launched_by"]) == (old, "queued", "cli:someone@here")


def test_a_filter_acts_only_on_its_runs(orch: Orchestrator) -> None:
    made = make_runs(orch)
    (other,) = orch.launch_copies("simulate", {"tasks": 1}, launched_by="someone")
    outcome = bulk.apply(orch, Action.CANCEL, RunFilter(statuses=["queued"], launched_by="someone"))
    assert (outcome.done, outcome.skipped, outcome.run_ids) == ({"queued": 1}, {}, [other])
    queued = [run_id for run_id, status in made.items() if status == RunStatus.QUEUED]
    assert orch.get_run(queued[0])["status"] == RunStatus.QUEUED


def test_refusals(orch: Orchestrator, config: OrchestratorConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    make_runs(orch)
    with pytest.raises(InputError, match="one of cancel, resume, rerun, delete, tag"):
        bulk.apply(orch, "approve", RunFilter())
    monkeypatch.setattr(bulk, "MAX_BULK", 10)
    with pytest.raises(InputError, match="More than 10 runs match"):
        bulk.apply(orch, Action.CANCEL, RunFilter())
    monkeypatch.undo()
    reader = Orchestrator(config.with_read_only())
    try:
        before = statuses(orch)
        with pytest.raises(ReadOnlyError):
            bulk.apply(reader, Action.DELETE, RunFilter())
        assert bulk.apply(reader, Action.DELETE, RunFilter(), dry_run=True).done_total == 8
        assert statuses(orch) == before
    finally:
        reader.engine.dispose()


def test_the_cli_by_filter_by_ids_and_dry_run(
    orch: Orchestrator, config: OrchestratorConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_runs(orch)
    db = database_args(config)
    looked = call_cli("delete", "--status", "succeeded", "--status", "queued", "--dry-run", *db)
    assert looked.code == 0, looked
    lines = looked.out.splitlines()
    assert lines[0] == (
        "Would delete 3 runs (3 succeeded); 1 skipped (1 queued): only waiting, succeeded, failed, "
        "cancelled or interrupted runs can be deleted."
    )
    assert sorted(lines[1:]) == sorted(
        f"would delete: {run_id}" for run_id, status in made.items() if status == RunStatus.SUCCEEDED
    )
    assert orch.store.count_runs() == 11

    assert_one_error_line(call_cli("delete", "--status", "succeeded", *db), "--dry-run", "--yes")
    assert_one_error_line(call_cli("delete", *db), "filters")
    assert_one_error_line(call_cli("delete", "x" * 32, "--status", "failed", *db), "not both")
    assert_one_error_line(call_cli("cancel", "--status", "nope", "--yes", *db), "Unknown status")

    done = call_cli("delete", "--status", "succeeded", "--status", "queued", "--yes", *db)
    assert done.code == 0, done
    assert done.out.splitlines()[0].startswith("Deleted 3 runs (3 succeeded); 1 skipped (1 queued)")
    assert orch.store.count_runs() == 8

    failed = [run_id for run_id, status in made.items() if status == RunStatus.FAILED]
    several = call_cli("resume", *failed, *db)
    assert several.code == 0 and several.out.startswith("Resumed 2 runs (2 failed)."), several
    one = call_cli("cancel", failed[0], *db)
    assert (one.code, one.out.strip()) == (0, "cancel: cancelled")

    monkeypatch.setenv("ORCHESTRATOR_READ_ONLY", "true")
    before = statuses(orch)
    assert_one_error_line(call_cli("cancel", "--status", "running", "--yes", *db), "read-only")
    assert statuses(orch) == before
