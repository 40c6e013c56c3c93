"""python -m bench.backlog: how fast one executor works through a backlog of short runs, on both
backends. Figures only: nothing here fails on a slow figure.

N `simulate` runs of two 10 ms steps are queued at once; one executor (the default poll of 0.5 s)
with one slot runs them. A run's own work is a few tens of milliseconds, so the time between runs
is what the executor adds: before a run that ends freed its slot at once, each next run waited for
the claim loop's poll (about 0.5 s a run).

    python -m bench.backlog                       # 30 runs, both backends
    python -m bench.backlog --runs 100 --backends sqlite
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.measure import add_backends_argument, scratch_postgres_uri
from orchestrator.config import OrchestratorConfig
from orchestrator.executor import Executor
from orchestrator.operations import Orchestrator
from orchestrator.status import FINAL


def measure(config: OrchestratorConfig, runs: int) -> str:
    orch = Orchestrator(config)
    try:
        run_ids = orch.launch_copies("simulate", {"tasks": 2, "delay_ms": 10}, ["backlog"], copies=runs)
        executor = Executor(orch.config, engine=orch.engine, concurrency=1)
        start = time.perf_counter()
        executor.start()
        try:
            while any(orch.store.get_run(run_id)["status"] not in FINAL for run_id in run_ids):
                time.sleep(0.02)
            took = time.perf_counter() - start
        finally:
            executor.stop(grace=1)
        work = sum(orch.store.get_run(run_id)["work_seconds"] or 0.0 for run_id in run_ids)
    finally:
        orch.engine.dispose()
    return (
        f"  {config.checkpoint_mode:8} {runs} runs on one slot (poll {executor.poll_seconds} s): {took:.2f} s, "
        f"{took / runs * 1000:.0f} ms a run, of which the runs' own work {work / runs * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backlog", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    print("A backlog of short runs, one executor with one slot:")
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "backlog.db")
            print(
                measure(
                    OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=path, env_file=None), args.runs
                )
            )
    if "postgres" in args.backends:
        with scratch_postgres_uri("bench_backlog") as uri:
            print(
                measure(
                    OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None), args.runs
                )
            )


if __name__ == "__main__":
    main()
