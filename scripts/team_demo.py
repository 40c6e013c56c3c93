"""A team's own graph in the demo (tests/team_workflows.py's `invoices`), for the screenshots and
the browser journey of issue 12: a run waiting at its dict question, one waiting at its Agent
Inbox request, a fork of the first with an edited state (waiting at the question again), a
preset, and a worker that stopped.

    from scripts.team_demo import TEAM_WORKFLOWS, seed_team
    team = seed_team(config, folder)          # config with workflows=TEAM_WORKFLOWS
    print(team["inbox"])                      # the run waiting at the Agent Inbox request

The dashboard that shows them needs ORCHESTRATOR_WORKFLOWS=json.dumps(TEAM_WORKFLOWS).
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.config import OrchestratorConfig
from orchestrator.history import checkpoint_history
from orchestrator.operations import Orchestrator
from orchestrator.workers import WorkerStore
from scripts.demo_data import DEMO_LAUNCHER, _execute

TEAM_WORKFLOWS = {"invoices": "tests.team_workflows:build_invoices"}
TEAM_ENV = {"ORCHESTRATOR_WORKFLOWS": json.dumps(TEAM_WORKFLOWS)}
# For the screenshots of what a run shows from inside: a graph that logs and calls langchain-core's
# test chat model (tests/observe_workflows.py), one that records its own metrics, and the price of
# the test model (US dollars per million tokens).
OBSERVED_WORKFLOWS = {
    **TEAM_WORKFLOWS,
    "chatty": "tests.observe_workflows:build_chatty",
    "scored": "tests.metric_workflows:build_scored",
}
OBSERVED_PRICES = {"test-usage-model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}
OBSERVED_ENV = {
    "ORCHESTRATOR_WORKFLOWS": json.dumps(OBSERVED_WORKFLOWS),
    "ORCHESTRATOR_MODEL_PRICES": json.dumps(OBSERVED_PRICES),
}
LEDGER = {"ledger_url": "https://ledger.example/api"}


def _orchestrator(
    config: OrchestratorConfig, workflows: dict[str, str], prices: dict[str, dict[str, float]] | None = None
) -> Orchestrator:
    """An Orchestrator on `config`'s database with these workflows (and model prices)."""
    return Orchestrator(
        OrchestratorConfig(
            checkpoint_mode=config.checkpoint_mode,
            sqlite_path=config.sqlite_path,
            postgres_uri=config.postgres_uri,
            workflows=workflows,
            model_prices=prices or {},
            env_file=None,
        )
    )


def seed_team(config: OrchestratorConfig, folder: Path) -> dict[str, str]:
    """Runs of `invoices` at each kind of question, and a fork; returns their ids by name."""
    orch = _orchestrator(config, TEAM_WORKFLOWS)
    try:
        input = {"count": 4, "dir": str(folder)}
        runs = {
            name: orch.launch("invoices", input, ["team"], config=LEDGER, launched_by=DEMO_LAUNCHER)
            for name in ("question", "inbox")
        }
        _execute(orch, list(runs.values()))
        orch.approve(runs["inbox"])  # the dict question approved as proposed: on to the Agent Inbox request
        _execute(orch, [runs["inbox"]])
        # A fork of the first run from the checkpoint after the checks, with a label added.
        after_checks = [h for h in checkpoint_history(orch.config, runs["question"]) if h["step"] == 2]
        runs["fork"] = orch.fork(
            runs["question"], after_checks[0]["checkpoint_id"], {"labels": {"forked": 1}}
        )
        _execute(orch, [runs["fork"]])
        orch.save_preset(
            "invoices", "emea", {"count": 8, "dir": str(folder)}, LEDGER, created_by=DEMO_LAUNCHER
        )
        WorkerStore(orch.engine).register(
            "gpu-box:4242", host="gpu-box", pid=4242, concurrency=2, workflows=["simulate"], broken={}
        )
        WorkerStore(orch.engine).stopped("gpu-box:4242")
        return runs
    finally:
        orch.engine.dispose()


def seed_observed(config: OrchestratorConfig) -> dict[str, str]:
    """Runs that log, call the test chat model and record metrics: `chatty` (one failing task's
    error among its logs) and three `scored` runs; returns their ids by name."""
    orch = _orchestrator(config, OBSERVED_WORKFLOWS, OBSERVED_PRICES)
    try:
        runs = {
            "chatty": orch.launch(
                "chatty", {"tasks": 4, "lines": 6, "calls": 3}, ["demo"], launched_by=DEMO_LAUNCHER
            ),
            "chatty_failing": orch.launch(
                "chatty",
                {"tasks": 2, "lines": 2, "fail": True, "calls": 1},
                ["demo"],
                launched_by=DEMO_LAUNCHER,
            ),
        }
        for points in (3, 6, 9):
            runs[f"scored_{points}"] = orch.launch(
                "scored", {"points": points}, ["demo"], launched_by=DEMO_LAUNCHER
            )
        _execute(orch, list(runs.values()))
        return runs
    finally:
        orch.engine.dispose()
