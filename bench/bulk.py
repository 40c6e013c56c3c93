"""python -m bench.bulk: bulk actions (orchestrator.bulk) on N runs, both backends: the dry run's
plan, cancel, tag and delete of every matching run, in seconds and runs per second. Figures only:
nothing here fails on a slow action.

Each run goes through its own operation (one or two transactions each; delete also asks the
saver to delete its thread), so the figures say what one operation per run costs.

    python -m bench.bulk                       # 1,000 runs, both backends
    python -m bench.bulk --runs 200 --backends sqlite
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import add_backends_argument, scratch_postgres_uri
from orchestrator import bulk
from orchestrator.config import OrchestratorConfig
from orchestrator.db import utcnow
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.runs import new_run_id
from orchestrator.status import Action, RunStatus


def _timed(what: str, n: int, call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    print(f"  {what:34} {seconds:8.3f} s  {n / seconds:9,.0f} runs/s")
    return result


def measure(config: OrchestratorConfig, runs: int) -> None:
    orch = Orchestrator(config)
    try:
        now = utcnow()
        orch.store.insert_many(
            [
                {
                    "run_id": new_run_id(),
                    "workflow": "simulate",
                    "status": RunStatus.QUEUED,
                    "created_at": now,
                }
                for _ in range(runs)
            ]
        )
        every = RunFilter(workflows=["simulate"])
        plan = _timed(
            "dry run (plan) of cancel", runs, lambda: bulk.apply(orch, Action.CANCEL, every, dry_run=True)
        )
        assert plan.done_total == runs
        _timed("cancel by filter", runs, lambda: bulk.apply(orch, Action.CANCEL, every))
        _timed("tag by filter", runs, lambda: bulk.apply(orch, Action.TAG, every, add_tags=["bench"]))
        done = _timed("delete by filter", runs, lambda: bulk.apply(orch, Action.DELETE, every))
        print(f"  ({done.sentence()})")
    finally:
        orch.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000)
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    for backend in args.backends:
        print(f"{backend}, {args.runs:,} runs:")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                path = str(Path(folder) / "bench.db")
                measure(
                    OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=path, env_file=None), args.runs
                )
            continue
        with scratch_postgres_uri("bench_bulk") as uri:
            measure(
                OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None), args.runs
            )


if __name__ == "__main__":
    main()
