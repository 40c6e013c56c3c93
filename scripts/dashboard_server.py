"""A dashboard started as people start it (`streamlit run streamlit_app.py`), on a free port.

Used by the browser journeys (tests/browser) and by `scripts/screenshots.py`. The server runs in a folder of
its own (no stray `.env`), with the repository's `.streamlit/config.toml` (theme, no usage
statistics), and its output in `streamlit.log` there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from orchestrator.config import ENVIRONMENT_VARIABLES

ROOT = Path(__file__).resolve().parents[1]
# Anything Python or Streamlit would print for an error of the app.
ERROR_MARKERS = ("Traceback", "Error:", "Exception:", "StreamlitAPIException")
CONFIG_ENV = ENVIRONMENT_VARIABLES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DashboardServer:
    """`with DashboardServer(folder, env) as server:` a dashboard at `server.url` until the block ends."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "streamlit.log"
        self._env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV} | env
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> DashboardServer:
        (self.folder / ".streamlit").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / ".streamlit" / "config.toml", self.folder / ".streamlit" / "config.toml")
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py")]
        command += ["--server.port", str(self.port), "--server.address", "127.0.0.1"]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                command, cwd=self.folder, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self._proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not listen on {self.port} within {timeout:.0f} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        """The server's process id (its CPU and memory are measured from /proc by bench.page_loads)."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def interrupt(self, timeout: float = 60.0) -> int:
        """Stop it as a person does, with Ctrl-C (SIGINT), and return its exit code."""
        assert self._proc is not None, "not started"
        self._proc.send_signal(signal.SIGINT)
        code = self._proc.wait(timeout=timeout)
        self._proc = None
        return code

    def log(self, since: int = 0) -> str:
        """The server's output from byte `since` on."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def errors_since(self, offset: int) -> list[str]:
        """Lines of the server's output since `offset` that show an error of the app."""
        return [line for line in self.log(offset).splitlines() if any(m in line for m in ERROR_MARKERS)]

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
