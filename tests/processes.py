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


# -- CLI commands released together ---------------------------------------------------------------

# One racer: imports the package once, says it is ready, waits for the common `go` file and runs
# the real CLI's `main` with its argv; its output and exit code in files (the code file appears
# whole, a rename). Anything escaping `main` is a traceback on its stderr and exit code 99.
_RACER = """
import contextlib, os, sys, time, traceback
from orchestrator.cli import main
folder, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
parent = os.getppid()
open(os.path.join(folder, f"ready-{name}"), "w").close()
while not os.path.exists(os.path.join(folder, "go")):
    if os.getppid() != parent:
        sys.exit("the test is gone")  # never spin on for a test that was killed
    time.sleep(0.0005)
out, err = (open(os.path.join(folder, f"{kind}-{name}"), "w") for kind in ("out", "err"))
with out, err, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 99
done = os.path.join(folder, f"code-{name}")
with open(done + ".part", "w") as f:
    f.write(str(code))
os.replace(done + ".part", done)
"""


class CliRace:
    """CLI commands in processes of their own (`name -> argv`), started at once and released
    together by `go()` within a millisecond of each other."""

    def __init__(self, folder: Path, commands: dict[str, list[str]], **env: str):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs = {
            name: subprocess.Popen(
                [sys.executable, "-c", _RACER, str(folder), name, *argv],
                cwd=folder,
                env=cli_env(**env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, argv in commands.items()
        }

    def _all(self, kind: str) -> bool:
        for name, proc in self.procs.items():
            assert proc.poll() is None or kind == "code", f"racer {name} died: {proc.communicate()[1]}"
        return all((self.folder / f"{kind}-{name}").exists() for name in self.procs)

    def ready(self) -> None:
        wait_for(lambda: self._all("ready"), timeout=60, what="the racers to be ready")

    def go(self, timeout: float = 60.0) -> dict[str, tuple[int, str, str]]:
        """Release them; each one's (exit code, stdout, stderr)."""
        self.ready()
        (self.folder / "go").touch()
        try:
            wait_for(lambda: self._all("code"), timeout=timeout, what="the racers to finish")
        finally:
            self.close()
        return {
            name: (
                int((self.folder / f"code-{name}").read_text()),
                (self.folder / f"out-{name}").read_text(),
                (self.folder / f"err-{name}").read_text(),
            )
            for name in self.procs
        }

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.wait(30) if (self.folder / "go").exists() else proc.kill()
            proc.communicate()
