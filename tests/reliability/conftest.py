"""Fixtures for the fault scenarios: a config with the gated test workflow registered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator

WORKFLOWS = {"gated": "tests.engine_workflows:build_gated"}


@pytest.fixture
def gated_config(config: OrchestratorConfig) -> OrchestratorConfig:
    """The test's database (both backends) with the `gated` workflow registered."""
    return OrchestratorConfig(
        checkpoint_mode=config.checkpoint_mode,
        sqlite_path=config.sqlite_path,
        postgres_uri=config.postgres_uri,
        workflows=WORKFLOWS,
        env_file=None,
    )


@pytest.fixture
def gated_orch(gated_config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(gated_config)
    yield orch
    orch.engine.dispose()
