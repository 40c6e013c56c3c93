"""Small helpers shared by the test modules."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import ENVIRONMENT_VARIABLES, OrchestratorConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

# Everything OrchestratorConfig (or the dashboard) reads from the environment.
CONFIG_ENV = ENVIRONMENT_VARIABLES

# Written out by hand (not imported from the package) so a change to the package's sets shows up
# here as a failing test rather than passing silently.
FINISHED = ("succeeded", "failed", "cancelled", "interrupted")  # `finished_at` is set
AT_REST = (*FINISHED, "awaiting_input")  # nothing more happens until someone acts


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for an `orchestrator` subprocess (CLI, worker, dashboard): this process's,
    without any setting of ours (CONFIG_ENV and every other ORCHESTRATOR_* variable, so the
    caller's shell never leaks in), with the repository importable; then `extra` on top."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV and not k.startswith("ORCHESTRATOR_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy (returned); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value {last!r}")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the OS's choice of a free one)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_workflows(
    config: OrchestratorConfig, workflows: dict[str, str], **settings: Any
) -> OrchestratorConfig:
    """The test's database (conftest's `config`, either backend) with test workflows registered
    and any other settings given; nothing read from the environment or a `.env`."""
    return OrchestratorConfig(
        checkpoint_mode=config.checkpoint_mode,
        sqlite_path=config.sqlite_path,
        postgres_uri=config.postgres_uri,
        workflows=workflows,
        env_file=None,
        **settings,
    )


def queue_unchecked_answer(orch: Any, run_id: str, answer: Any) -> None:
    """Queue a waiting run with an answer its question does not take, written as answers were
    before they were checked (an older version's database): the run fails on it."""
    (pending,) = orch.pending_interrupts(run_id)
    assert orch.store.update_run(
        run_id,
        expected=["awaiting_input"],
        status="queued",
        resume_value={"resume": {pending["id"]: answer}},
        worker=None,
    )
