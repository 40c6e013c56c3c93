"""Fixtures for the fault scenarios and the boundary tests: a config with the gated test
workflow registered and a checksum of the tables (the CLI in this process: tests/in_process_cli.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.helpers import with_workflows


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
