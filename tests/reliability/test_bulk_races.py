"""Bulk commands and prunes racing each other and a worker, each a process of its own, released
together, on both backends.

Twenty failed runs of a workflow no worker serves (so what the race leaves is what the commands
did) and 400 succeeded ones, all finished 40 days ago with their logs, and six `chatty` runs a worker is running (they
log). At once: `delete --status failed`, `resume --status failed`, `rerun --status failed`,
`cancel --workflow chatty --status queued --status running` and two `prune --logs-older-than 30d`
(a dry run writes nothing: tests/test_bulk.py). Each exits 0 with its one summary sentence.
Every failed run ends deleted or queued again, never both: the deletes and the resumes add up to
twenty (each command's plan is the runs failed when it read them; what one skipped or did not
find, the other took). Each old run left is cut whole with one line, or untouched (each succeeded
one cut); the prunes' counts add up to the runs cut (a run cut, then deleted, counted too). The re-runs said are the
new rows; the cancels said are the runs cancelled (or asked to stop as they ended); the chatty
runs all come to rest with no line cut.
"""

from __future__ import annotations

import json
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
from tests.processes import CliRace, wait_status
from tests.reliability.conftest import WORKFLOWS as GATED
from tests.reliability.test_prune_faults import assert_whole_or_untouched, lines_and_marks, seed
from tests.test_run_logs import WORKFLOWS as CHATTY

N = 20
DONE = 400
SENTENCE = re.compile(
    r"^(Deleted|Resumed|Re-ran|Cancelled|cut [\d,]+ log lines[^\n]* of) (\d+) runs?\b[^\n]*$"
)


def counted(sentence: str, what: str = "") -> int:
    """The number a summary gives for `what` ('skipped', 'not found'; '' for the runs acted on)."""
    found = SENTENCE.match(sentence) if not what else re.search(rf"(\d+) {what}", sentence)
    assert found or what, sentence
    return int(found.group(found.lastindex or 1)) if found else 0


def test_bulk_commands_and_prunes_racing_a_worker_never_both_delete_and_requeue_a_run(
    store: RunStore, config: OrchestratorConfig, tmp_path: Path, workers
) -> None:
    failed = seed(
        store, N, days_ago=40, prefix="failed", status="failed", workflow="gated", input={"tasks": 1}
    )
    done = seed(store, DONE, days_ago=40, prefix="done")  # only the prunes act on these
    chatty = with_workflows(config, CHATTY)
    orch = Orchestrator(chatty)
    going = orch.launch_copies("chatty", {"tasks": 3, "lines": 50, "calls": 0}, copies=6)
    worker = workers("w", chatty, "--concurrency", "2")  # serves chatty, not `gated`
    db = database_args(config)
    each = ["--status", "failed", "--yes", *db]
    prune = ["prune", "--logs-older-than", "30d", *db]
    race = CliRace(
        tmp_path / "race",
        {
            "delete": ["delete", *each],
            "resume": ["resume", *each],
            "rerun": ["rerun", *each],
            "cancel": [
                "cancel",
                "--workflow",
                "chatty",
                "--status",
                "queued",
                "--status",
                "running",
                "--yes",
                *db,
            ],
            "prune1": prune,
            "prune2": prune,
        },
        ORCHESTRATOR_WORKFLOWS=json.dumps(GATED | CHATTY),
    )
    worker.wait_serving()
    wait_for(lambda: worker.claimed(), 60, what="the worker to take a run")
    said = {}
    for name, (code, out, err) in race.go().items():
        lines = out.splitlines()
        assert code == 0 and err == "" and lines and SENTENCE.match(lines[0]), (name, out, err)
        assert all(line.startswith("rerun: ") for line in lines[1:]) and (
            name == "rerun" or len(lines) == 1
        ), out
        said[name] = lines[0]
    deleted, resumed = counted(said["delete"]), counted(said["resume"])
    with store.engine.connect() as conn:
        statuses = dict(
            conn.execute(select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(failed))).all()
        )
        reran = conn.scalar(select(func.count()).where(runs.c.rerun_of.in_(failed)))
    assert set(statuses.values()) <= {"queued"}, statuses  # queued again, or gone: never left failed
    assert (deleted, resumed) == (N - len(statuses), len(statuses)), said
    # each plan is the runs failed when it was read: what one did not find, or skipped, the other took
    assert counted(said["resume"], "not found") <= deleted and counted(said["delete"], "skipped") <= resumed
    assert counted(said["rerun"]) == reran and reran + counted(said["rerun"], "not found") <= N
    assert assert_whole_or_untouched(store.engine, done) == DONE  # every one cut, once
    cut_left = assert_whole_or_untouched(store.engine, list(statuses)) + DONE
    assert cut_left <= counted(said["prune1"]) + counted(said["prune2"]) <= cut_left + deleted, said
    for run_id in going:
        wait_status(orch, run_id, AT_REST, 60)
    with store.engine.connect() as conn:
        ended = conn.execute(
            select(runs.c.status, runs.c.error, runs.c.cancel_requested).where(runs.c.run_id.in_(going))
        ).all()
    cancelled = sum(status == "cancelled" and error == CANCELLED_ON_REQUEST for status, error, _ in ended)
    asked_too_late = sum(status == "succeeded" and asked for status, _, asked in ended)  # it ended first
    assert counted(said["cancel"]) == cancelled + asked_too_late, (said["cancel"], ended)
    found = lines_and_marks(store.engine)
    assert all(found.get(run_id, (0, 0))[1] == 0 for run_id in going), found  # nothing of theirs cut
    orch.engine.dispose()
