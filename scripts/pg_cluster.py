"""A throwaway PostgreSQL cluster of its own (initdb as the `postgres` user, on a free port), to
stop and start under running workers: the outage tests (tests/reliability/test_outage.py) and the
outage figures (`python -m bench.outage`). Needs root and Debian's PostgreSQL server binaries."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path


def bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class Cluster:
    """A PostgreSQL cluster in a temporary folder, run as the `postgres` user."""

    def __init__(self, root: Path, bin_dir: Path):
        self.root, self.bin = root, bin_dir
        self.data, self.log = root / "data", root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres", "postgres")
        self._as_postgres(str(bin_dir / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres")

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def unavailable() -> str | None:
    """Why no cluster can be made here, or None."""
    if bin_dir() is None:
        return "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting a throwaway PostgreSQL cluster needs root (to run initdb as the postgres user)"
    return None
