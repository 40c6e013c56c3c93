"""Worker processes for tests: `python -m orchestrator worker` with its output in files."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.helpers import AT_REST, cli_env, wait_for

CLAIMED = re.compile(r"Claimed run (\w+) ")


def worker_env(config: OrchestratorConfig, **extra: str) -> dict[str, str]:
    env = cli_env()  # no setting of ours from the caller's shell
    env["CHECKPOINT_MODE"] = str(config.checkpoint_mode)
    if config.checkpoint_mode == "sqlite":
        env["SQLITE_PATH"] = str(Path(str(config.sqlite_path)).resolve())
    else:
        env["POSTGRES_URI"] = str(config.postgres_uri)
    env["ORCHESTRATOR_HEARTBEAT_SECONDS"] = "0.5"
    if config.workflows:
        env["ORCHESTRATOR_WORKFLOWS"] = json.dumps(config.workflows)
    env.update(extra)
    return env


class Worker:
    """One `python -m orchestrator worker` process with its output in files."""

    def __init__(self, directory: Path, name: str, config: OrchestratorConfig, *args: str, **env: str):
        self.name = name
        self.out_path = directory / f"{name}.stdout"
        self.err_path = directory / f"{name}.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "worker", *args],
                cwd=directory,
                env=worker_env(config, **env),
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        return f"worker {self.name} (exit {self.proc.poll()})\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def wait_serving(self, timeout: float = 30.0) -> None:
        def serving() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited before serving: {self.describe()}")
            return " serving (concurrency " in self.stdout

        wait_for(serving, timeout, interval=0.05, what=f"worker {self.name} to serve")

    def claimed(self) -> list[str]:
        return CLAIMED.findall(self.stdout)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_status(
    orch: Orchestrator, run_id: str, statuses: tuple[str, ...] = AT_REST, timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until the run's status is one of `statuses`; fail saying the status it was left in."""
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        run = orch.get_run(run_id)
        last["status"] = run["status"]
        return dict(run) if run["status"] in statuses else None

    try:
        return wait_for(reached, timeout, what=f"run {run_id} to reach {statuses}")
    except AssertionError:
        raise AssertionError(
            f"run {run_id} did not reach {statuses} within {timeout} s; it is {last.get('status')}"
        ) from None
