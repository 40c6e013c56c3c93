"""The test databases' drops, off the tests' path.

Each `DROP DATABASE` forces a checkpoint of the whole server (PostgreSQL 15): from a tenth of a
second to seconds of its disk while other tests write. A test process drops its databases one at
a time in a thread of its own while the tests after run; the drops still queued when its tests
end (CI saw 2.5 to 3 minutes of them per process) go to a process of their own
(`python -m tests.postgres_drops NAME...`), which outlives the session, so the suite does not
wait for its own cleaning. A drop that failed during the session fails the session's end; one
that fails afterwards is written to `LOG`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg

ADMIN_URI = os.environ.get("ORCHESTRATOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LOG = Path(tempfile.gettempdir()) / "orchestrator-test-drops.log"
REPO = Path(__file__).resolve().parent.parent


def admin_connect() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URI, autocommit=True, connect_timeout=5)


def drop_database(name: str) -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PostgresDrops:
    """DROP DATABASE in the background, while the tests after run; at the end, what is left is
    handed to a process of its own."""

    def __init__(self) -> None:
        self._dropping = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-drop")
        self._drops: list[tuple[str, Future[None]]] = []

    def drop(self, name: str) -> None:
        self._drops.append((name, self._dropping.submit(drop_database, name)))

    def close(self) -> None:
        """Hand the drops not started to a process of their own; raise one that failed."""
        self._dropping.shutdown(wait=False, cancel_futures=True)
        left = [name for name, dropped in self._drops if dropped.cancelled()]
        if left:
            with LOG.open("a") as log:
                subprocess.Popen(
                    [sys.executable, "-m", "tests.postgres_drops", *left],
                    cwd=REPO,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,  # not stopped with the session's process group
                )
        for _, dropped in self._drops:
            if dropped.done() and not dropped.cancelled():
                dropped.result()


def main(names: list[str]) -> int:
    failed = 0
    for name in names:
        try:
            drop_database(name)
        except psycopg.Error as exc:
            print(f"DROP DATABASE {name} failed: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
