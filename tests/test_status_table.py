"""One table of what each status allows (orchestrator/status.py), and three that obey it: the
package's operations, the CLI, and run detail's buttons. For every status × action, on both
backends: the operation goes through exactly where the table allows it (and changes nothing,
saying why in one sentence, where it does not), the CLI exits 0 exactly there, and the page
shows the action's button exactly there.

The table itself is written out here by hand, so a change to it is a change to this test too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InvalidOperation
from orchestrator.operations import Orchestrator
from orchestrator.status import Action, RunStatus, allowed_actions
from tests.apptest_helpers import open_page
from tests.in_process_cli import assert_one_error_line, call_cli, database_args

# What each status allows, by hand (Rerun, Launch again and Tag always apply).
TABLE = {
    RunStatus.QUEUED: {Action.CANCEL},
    RunStatus.RUNNING: {Action.CANCEL},
    RunStatus.AWAITING_INPUT: {Action.CANCEL, Action.APPROVE, Action.REJECT, Action.DELETE},
    RunStatus.SUCCEEDED: {Action.DELETE},
    RunStatus.FAILED: {Action.RESUME, Action.DELETE},
    RunStatus.CANCELLED: {Action.DELETE},
    RunStatus.INTERRUPTED: {Action.CANCEL, Action.RESUME, Action.DELETE},
}
ACTIONS = (Action.CANCEL, Action.RESUME, Action.APPROVE, Action.REJECT, Action.RERUN, Action.DELETE)
QUESTION = {"id": "a" * 32, "value": {"question": "Go on?"}}
BUTTONS = {
    Action.CANCEL: "detail_cancel",
    Action.RESUME: "detail_resume",
    Action.APPROVE: "detail_approve",
    Action.REJECT: "detail_reject",
    Action.RERUN: "detail_rerun",
    Action.DELETE: "detail_delete",
}


def allowed(status: RunStatus, action: Action) -> bool:
    return action in TABLE[status] or action == Action.RERUN


def a_run(orch: Orchestrator, status: RunStatus) -> str:
    """A run in `status`, as the executor would have left it (a waiting one asks a question)."""
    now = dt.datetime.now(dt.UTC)
    started = now if status != RunStatus.QUEUED else None
    finished = (
        now
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED)
        else None
    )
    (run_id,) = orch.launch_copies("simulate", {"tasks": 1}, copies=1)
    orch.store.update_run(
        run_id,
        status=status,
        started_at=started,
        finished_at=finished,
        attempt=1 if started else 0,
        state_snapshot={"__interrupt__": [QUESTION]} if status == RunStatus.AWAITING_INPUT else None,
    )
    return run_id


def stored(orch: Orchestrator, run_id: str) -> dict[str, Any]:
    """The run's row but its times so far (a going run's work and wall time grow as it is read)."""
    return {k: v for k, v in orch.get_run(run_id).items() if k not in ("wall_seconds", "work_seconds")}


def test_the_table_is_the_one_written_here() -> None:
    for status in RunStatus:
        assert allowed_actions(status) == TABLE[status] | {Action.RERUN, Action.LAUNCH_AGAIN, Action.TAG}, status


def _package(orch: Orchestrator, action: Action, run_id: str) -> Any:
    calls = {
        Action.CANCEL: lambda: orch.cancel(run_id),
        Action.RESUME: lambda: orch.resume(run_id),
        Action.APPROVE: lambda: orch.approve(run_id),
        Action.REJECT: lambda: orch.reject(run_id, "no"),
        Action.RERUN: lambda: orch.rerun(run_id),
        Action.DELETE: lambda: orch.delete(run_id),
    }
    return calls[action]()


@pytest.mark.parametrize("status", list(RunStatus))
def test_the_package_the_cli_and_the_buttons_obey_the_table(
    config: OrchestratorConfig, app_config: OrchestratorConfig, status: RunStatus
) -> None:
    orch = Orchestrator(config)
    try:
        for action in ACTIONS:
            run_id = a_run(orch, status)
            before = stored(orch, run_id)
            if allowed(status, action):
                _package(orch, action, run_id)
            else:
                with pytest.raises(InvalidOperation) as refused:
                    _package(orch, action, run_id)
                assert "\n" not in str(refused.value) and run_id in str(refused.value)
                assert stored(orch, run_id) == before, (status, action)  # nothing changed

            run_id = a_run(orch, status)
            words = {Action.REJECT: ["reject", run_id, "--reason", "no"]}.get(action, [str(action), run_id])
            outcome = call_cli(*words, *database_args(config))
            if allowed(status, action):
                assert outcome.code == 0, (status, action, outcome)
            else:
                assert_one_error_line(outcome, run_id)

        run_id = a_run(orch, status)
        at = open_page("run_detail", run_id=run_id)
        assert not at.exception, [e.value for e in at.exception]
        shown = {b.key for b in at.button}
        for action in ACTIONS:
            assert (BUTTONS[action] in shown) == allowed(status, action), (status, action, sorted(shown))
    finally:
        orch.engine.dispose()
