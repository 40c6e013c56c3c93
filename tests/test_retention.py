"""Retention by age (orchestrator.observe.retention), on both backends: a finished run's logs,
task inputs/outputs and model calls are cut once it finished long enough ago, by the CLI's
`prune` and by a serving worker with ORCHESTRATOR_LOG_RETENTION_DAYS; its counts stay on the row
and one line says what was cut; newer runs keep everything."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import update

from orchestrator import executor as executor_module
from orchestrator.config import OrchestratorConfig
from orchestrator.db import run_logs, run_model_calls, run_task_io, runs
from orchestrator.errors import ConfigError, InputError
from orchestrator.executor import Executor
from orchestrator.observe.retention import RETENTION_LOGGER, parse_age, prune_observations
from orchestrator.operations import Orchestrator
from tests.helpers import with_workflows
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.test_run_logs import PRICES, WORKFLOWS, run_here, stored

FIGURES = ("warnings", "errors", "model_calls", "input_tokens", "output_tokens", "tokens", "cost_usd")


@pytest.fixture
def aged(config: OrchestratorConfig):
    """Two finished runs with logs, inputs/outputs and model calls: one finished (and last heard
    of, the database's stamp) 40 days ago."""
    orch = Orchestrator(with_workflows(config, WORKFLOWS, model_prices=PRICES))
    old, new = (run_here(orch, tasks=2, lines=2, calls=1, fail=True) for _ in range(2))
    with orch.engine.begin() as conn:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        conn.execute(update(runs).where(runs.c.run_id == old).values(finished_at=long_ago, heartbeat_at=long_ago))
    yield orch, old, new
    orch.engine.dispose()


def kept(orch: Orchestrator, run_id: str) -> tuple[int, int, int]:
    return (stored(orch, run_logs, run_id), stored(orch, run_model_calls, run_id), stored(orch, run_task_io, run_id))


def test_prune_cuts_old_runs_and_keeps_their_counts(aged) -> None:
    orch, old, new = aged
    before = {run_id: {k: orch.get_run(run_id)[k] for k in FIGURES} for run_id in (old, new)}
    new_rows = kept(orch, new)
    assert kept(orch, old)[0] > 0 and kept(orch, old)[1] == 1 and kept(orch, old)[2] > 0
    assert prune_observations(orch.engine, 50).runs == 0  # not old enough
    db = database_args(orch.config)
    outcome = call_cli("prune", "--logs-older-than", "30d", *db)
    assert outcome.code == 0, outcome
    assert "of 1 runs finished over 30 days ago" in outcome.out and "1 model calls" in outcome.out
    assert kept(orch, old) == (1, 0, 0) and kept(orch, new) == new_rows
    (mark,) = orch.observations.logs(old)
    assert mark["logger"] == RETENTION_LOGGER and "were cut on" in mark["message"]
    for run_id in (old, new):  # the counts say what happened, as before
        assert {k: orch.get_run(run_id)[k] for k in FIGURES} == before[run_id]
    assert prune_observations(orch.engine, 30).runs == 0  # cut once
    shown = call_cli("logs", old, *db)
    assert shown.code == 0 and "were cut on" in shown.out
    assert_one_error_line(call_cli("prune", "--logs-older-than", "soon", *db), "--logs-older-than must be")


def test_a_worker_with_a_retention_setting_cuts_them(aged, monkeypatch) -> None:
    orch, old, new = aged
    monkeypatch.setattr(executor_module, "PRUNE_FIRST_SECONDS", 0.0)
    cut = threading.Event()
    real = executor_module.prune_observations

    def watched(*args, **kwargs):
        pruned = real(*args, **kwargs)
        cut.set()
        return pruned

    monkeypatch.setattr(executor_module, "prune_observations", watched)
    orch.config.log_retention_days = 30
    worker = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    worker.start()
    try:
        assert cut.wait(30), "the worker did not prune"
    finally:
        worker.stop()
    assert kept(orch, old) == (1, 0, 0) and kept(orch, new)[1] == 1


def test_ages_and_settings_are_checked() -> None:
    assert parse_age("30d", "x") == parse_age(" 30 days ", "x") == parse_age("30", "x") == 30
    for bad in ("0d", "-1d", "30h", "", "1e3"):
        with pytest.raises(InputError, match="must be a number of days"):
            parse_age(bad, "--logs-older-than")
    assert OrchestratorConfig(env_file=None).log_retention_days is None
    assert OrchestratorConfig(env_file=None, log_retention_days=7).log_retention_days == 7
    with pytest.raises(ConfigError, match="log_retention_days must be a whole number"):
        OrchestratorConfig(env_file=None, log_retention_days=-1)
