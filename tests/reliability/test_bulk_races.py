"""Bulk commands racing each other and a worker (`orchestrator cancel|resume|rerun|delete --status
... --yes`), each a process of its own, released together, on both backends.

Thirty failed runs of a workflow no worker serves (so what the race leaves is what the commands
did) and thirty queued `simulate` runs a worker is taking: at once, `delete --status failed`,
`resume --status failed`, `rerun --status failed`, `cancel --status queued --status running` and
`delete --status failed --dry-run`. Each exits 0 with its one summary sentence; every failed
run ends deleted or queued again, never both: the deletes and the resumes add up to thirty (each
command's plan is the runs failed when it read them; what one skipped or did not find, the other
took); the re-runs said are the new rows; the cancels said are the runs cancelled (or asked to
stop as they ended); the queued runs all come to rest.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from orchestrator.config import OrchestratorConfig
from orchestrator.db import runs
from orchestrator.operations import Orchestrator
from orchestrator.runs import RunStore
from orchestrator.status import CANCELLED_ON_REQUEST
from tests.helpers import AT_REST, wait_for, with_workflows
from tests.in_process_cli import database_args
from tests.processes import CliRace, wait_status, worker_env
from tests.reliability.conftest import WORKFLOWS
from tests.test_store import full_row

N = 30
SENTENCE = re.compile(r"^(Would delete|Deleted|Resumed|Re-ran|Cancelled) (\d+) runs?\b[^\n]*\.$")


def counted(sentence: str, what: str) -> int:
    """The number a summary gives for `what` ('skipped', 'not found'; '' for the runs acted on)."""
    if not what:
        found = SENTENCE.match(sentence)
        assert found, sentence
        return int(found.group(2))
    found = re.search(rf"(\d+) {what}", sentence)
    return int(found.group(1)) if found else 0


def test_bulk_commands_racing_a_worker_never_both_delete_and_requeue_a_run(
    store: RunStore, config: OrchestratorConfig, tmp_path: Path, workers
) -> None:
    failed = [f"failed{i:02d}" for i in range(N)]
    store.insert_many(
        [
            full_row(r, workflow="gated", status="failed", input={"dir": str(tmp_path), "tasks": 1})
            for r in failed
        ]
    )
    orch = Orchestrator(config)
    queued = orch.launch_copies("simulate", {"tasks": 2, "fail_rate": 0, "delay_ms": 50}, copies=N)
    worker = workers("w", config, "--concurrency", "4")  # serves the built-ins, not `gated`
    db = database_args(config)
    each = ["--status", "failed", "--yes", *db]
    race = CliRace(
        tmp_path / "race",
        {
            "delete": ["delete", *each],
            "resume": ["resume", *each],
            "rerun": ["rerun", *each],
            "cancel": [
                "cancel",
                "--workflow",
                "simulate",
                "--status",
                "queued",
                "--status",
                "running",
                "--yes",
                *db,
            ],
            "dry-run": ["delete", "--status", "failed", "--dry-run", *db],
        },
        ORCHESTRATOR_WORKFLOWS=worker_env(with_workflows(config, WORKFLOWS))["ORCHESTRATOR_WORKFLOWS"],
    )
    worker.wait_serving()
    wait_for(lambda: worker.claimed(), 60, what="the worker to take a run")
    said = {}
    for name, (code, out, err) in race.go().items():
        lines = out.splitlines()
        assert code == 0 and err == "" and lines and SENTENCE.match(lines[0]), (name, out, err)
        said[name] = lines[0]
    deleted, resumed = counted(said["delete"], ""), counted(said["resume"], "")
    with store.engine.connect() as conn:
        statuses = dict(
            conn.execute(select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(failed))).all()
        )
        reran = conn.scalar(select(func.count()).where(runs.c.rerun_of.in_(failed)))
    assert set(statuses.values()) <= {"queued"}, statuses  # queued again, or gone: never left failed
    assert (deleted, resumed) == (N - len(statuses), len(statuses)), said
    # each plan is the runs failed when it was read: what one did not find, or skipped, the other took
    assert counted(said["resume"], "not found") <= deleted and counted(said["delete"], "skipped") <= resumed
    assert counted(said["rerun"], "") == reran and reran + counted(said["rerun"], "not found") <= N
    assert counted(said["dry-run"], "") <= N
    for run_id in queued:
        wait_status(orch, run_id, AT_REST, 60)
    with store.engine.connect() as conn:
        ended = conn.execute(
            select(runs.c.status, runs.c.error, runs.c.cancel_requested).where(runs.c.run_id.in_(queued))
        ).all()
    cancelled = sum(status == "cancelled" and error == CANCELLED_ON_REQUEST for status, error, _ in ended)
    asked_too_late = sum(status == "succeeded" and asked for status, _, asked in ended)  # it ended first
    assert counted(said["cancel"], "") == cancelled + asked_too_late, (said["cancel"], ended)
    orch.engine.dispose()
