"""Fixtures for the fault scenarios and the boundary tests: a config with the gated test
workflow registered, the CLI in this process, and a checksum of the tables."""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text

from orchestrator import cli
from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.helpers import with_workflows


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def database_args(config: OrchestratorConfig) -> list[str]:
    if config.checkpoint_mode == "sqlite":
        return ["--mode", "sqlite", "--sqlite-path", str(config.sqlite_path)]
    return ["--mode", "postgres", "--postgres-uri", str(config.resolved_postgres_uri)]


def call_cli(*args: str) -> Outcome:
    """`python -m orchestrator ARGS` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse: --help, or a usage error
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_one_error_line(outcome: Outcome, *fragments: str) -> str:
    """A user's mistake: exit 1 (2 for a usage error), one `error: ` line on stderr, no traceback."""
    assert outcome.code in (1, 2), outcome
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: "), outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def checksum(engine: Engine) -> str:
    """Every row of `runs` and `run_tasks` (whatever their schema version), hashed: equal means
    nothing changed."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in ("runs", "run_tasks"):
            rows = sorted(repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}")))
            digest.update(f"{table}:{len(rows)}:".encode())
            for row in rows:
                digest.update(row.encode())
    return digest.hexdigest()


@pytest.fixture
def unchanged(engine: Engine) -> Iterator[Callable[[], None]]:
    """Assert at the end of the test (and whenever called) that the tables are as they were."""
    before = checksum(engine)

    def check() -> None:
        assert checksum(engine) == before, "the runs tables changed"

    yield check
    check()


# -- the gated test workflow (fault scenarios) ---------------------------------------------------

WORKFLOWS = {"gated": "tests.engine_workflows:build_gated"}


@pytest.fixture
def gated_config(config: OrchestratorConfig) -> OrchestratorConfig:
    """The test's database (both backends) with the `gated` workflow registered."""
    return with_workflows(config, WORKFLOWS)


@pytest.fixture
def gated_orch(gated_config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(gated_config)
    yield orch
    orch.engine.dispose()
