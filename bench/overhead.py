"""python -m bench.overhead: the executor's run overhead against bare `ainvoke` (issue 11).

For each backend, the built-in `simulate` workflow with N tasks (no sleeps: `delay_ms=0`, so the
figure is the orchestration, not the work) runs

- through the executor: launched with `Orchestrator.launch`, claimed and run by a real
  `Executor` (its fenced saver, task events, heartbeats); timed from the claim to the run's
  end (`started_at` to `finished_at` on the run's row, both written by the executor's clock),
  and from the launch to the end (`created_at` to `finished_at`; includes waiting for the
  executor's next poll);
- bare: the same compiled graph (same builder, same run config) on the same LangGraph saver,
  opened the way the executor opens it (`open_checkpointer`), with `graph.ainvoke`; once with
  LangGraph's default durability and once with `durability="sync"`, which the executor uses
  (each step's checkpoint is saved before the next step starts).

The sides alternate (executor first on even repeats, bare first on odd ones); the figures
are medians of the repeats. Figures only: nothing here fails on a slow run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.measure import add_backends_argument
from orchestrator.checkpointer import open_checkpointer
from orchestrator.config import OrchestratorConfig
from orchestrator.executor import Executor
from orchestrator.graph_run import graph_config, limit_concurrency
from orchestrator.operations import Orchestrator
from orchestrator.runs import new_run_id

RESULTS = Path(__file__).resolve().parent / "results"
OVERHEAD_TARGET_RATIO = 1.1
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "orchestrator_bench_overhead"


def simulate_input(tasks: int) -> dict[str, Any]:
    """`tasks` work steps that sleep 0 ms and never fail (the default fan_out of 4)."""
    return {"tasks": tasks, "delay_ms": 0, "fail_rate": 0.0, "seed": 7}


def load() -> str:
    """The load averages now (`uptime`'s last field)."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return out.rsplit("load average:", 1)[-1].strip()


@dataclass
class Sample:
    executor_s: float  # claim to finished
    executor_wall_s: float  # launch to finished
    bare_s: float  # ainvoke, LangGraph's default durability
    bare_sync_s: float  # ainvoke, durability="sync" (as the executor)
    executor_cpu_s: float  # the process's CPU time (every thread), claim to end
    bare_cpu_s: float
    bare_sync_cpu_s: float
    load: str


@dataclass
class BackendResult:
    backend: str
    tasks: int  # node executions per run (the run's tasks_total)
    samples: list[Sample] = field(default_factory=list)

    def median(self, pick: Callable[[Sample], float]) -> float:
        return statistics.median(pick(s) for s in self.samples)


def fresh_config(backend: str) -> OrchestratorConfig:
    """A config on an empty database of its own (SQLite file under bench/results/, or a
    PostgreSQL database `orchestrator_bench_overhead`), dropped and made anew."""
    if backend == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "overhead.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None)
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    return OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri=f"{PG_SERVER}/{PG_DATABASE}", env_file=None
    )


async def through_executor(orch: Orchestrator, input: dict[str, Any]) -> tuple[float, float, float, int]:
    """Launch one run and let a real executor claim and run it.

    Returns (claim → end s, launch → end s, the process's CPU s from the claim to the end, tasks)."""
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    stop = asyncio.Event()
    serving = asyncio.create_task(executor.serve(stop, grace=60))
    while not executor._ready.is_set():  # serving: its saver is open, its worker registered
        await asyncio.sleep(0.01)
    run_id = await asyncio.to_thread(orch.launch, "simulate", input)
    # Wait on the executor's own task (an in-memory look, no database polling while it runs).
    while (handle := executor._runs.get(run_id)) is None or handle.task is None:
        await asyncio.sleep(0.002)
    cpu = time.process_time()
    await asyncio.wait([handle.task])
    cpu = time.process_time() - cpu
    stop.set()
    await serving
    run = await asyncio.to_thread(orch.get_run, run_id)
    if run["status"] != "succeeded":
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run['error']}")
    return (
        (run["finished_at"] - run["started_at"]).total_seconds(),
        (run["finished_at"] - run["created_at"]).total_seconds(),
        cpu,
        int(run["tasks_total"]),
    )


async def bare(
    orch: Orchestrator, input: dict[str, Any], durability: str | None
) -> tuple[float, dict[str, Any]]:
    """The same graph on the same saver, `ainvoke` alone; (seconds, final state)."""
    spec = orch.registry.get("simulate")
    input = spec.validate_input(input)  # defaults filled, as `launch` stores it
    run_id = new_run_id()
    cfg, max_concurrency = graph_config(run_id, spec, input)
    # The executor opens its saver with concurrency + 2 connections (1 + 2 here).
    async with open_checkpointer(orch.config, max_connections=3, engine=orch.engine) as saver:
        builder = spec.build()
        if max_concurrency is not None:
            builder = limit_concurrency(builder, max_concurrency)
        graph = builder.compile(checkpointer=saver)
        kwargs: dict[str, Any] = {} if durability is None else {"durability": durability}
        start, cpu = time.perf_counter(), time.process_time()
        state = await graph.ainvoke(spec.initial_state(input), cfg, **kwargs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, state


async def measure_backend(
    backend: str, tasks: int, repeats: int, log: Callable[[str], None]
) -> BackendResult:
    logging.getLogger("orchestrator").setLevel(logging.WARNING)
    config = fresh_config(backend)
    orch = await asyncio.to_thread(Orchestrator, config)
    input = simulate_input(tasks)
    result = BackendResult(backend, tasks=0)
    # One warm-up of each side (imports, first connections, statement caches).
    *_, result.tasks = await through_executor(orch, input)
    *_, state = await bare(orch, input, None)
    assert state["summary"]["count"] == tasks, state["summary"]
    for i in range(repeats):
        if i % 2 == 0:
            claim_s, wall_s, cpu_s, _ = await through_executor(orch, input)
        bare_s, bare_cpu_s, _ = await bare(orch, input, None)
        bare_sync_s, bare_sync_cpu_s, _ = await bare(orch, input, "sync")
        if i % 2 == 1:
            claim_s, wall_s, cpu_s, _ = await through_executor(orch, input)
        sample = Sample(claim_s, wall_s, bare_s, bare_sync_s, cpu_s, bare_cpu_s, bare_sync_cpu_s, load())
        result.samples.append(sample)
        log(
            f"  {backend} [{i + 1}/{repeats}] executor {claim_s:.3f} s (launch→end {wall_s:.3f} s), "
            f"bare {sample.bare_s:.3f} s, bare sync {sample.bare_sync_s:.3f} s, "
            f"ratio {claim_s / sample.bare_sync_s:.2f}x; CPU {cpu_s:.3f} / {bare_cpu_s:.3f} / "
            f"{bare_sync_cpu_s:.3f} s; load {sample.load}"
        )
    orch.engine.dispose()
    return result


def overhead_section(results: list[BackendResult], tasks: int, repeats: int) -> list[str]:
    """The report's section: medians, ratios and tasks per second per backend."""
    lines = [
        f"## Run overhead: the executor against bare `ainvoke`, `simulate` with {tasks:,} tasks",
        "",
        f"`python -m bench.overhead`. `simulate` with `tasks={tasks}`, `delay_ms=0` (no sleeps), `fail_rate=0`: "
        f"{tasks:,} work tasks plus `plan` and `summarize` per run. *executor*: launched with "
        "`Orchestrator.launch`, claimed and run by a real `Executor` (concurrency 1; fenced saver, task events, "
        "heartbeats), from the claim to the end (`started_at` → `finished_at`); *launch → end* adds the wait for "
        "the executor's next poll (every 0.5 s). *bare*: the same compiled graph on the same saver "
        "(`open_checkpointer`), `ainvoke` alone, with LangGraph's default durability and with "
        '`durability="sync"` (what the executor uses). Fresh database per backend; sides alternate; '
        f"medians of {repeats} repeats after a warm-up. Target: executor ≤ {OVERHEAD_TARGET_RATIO}x bare. "
        "*CPU s*: the process's CPU time (every thread: the event loop, the saver's, the executor's database "
        "writes), less sensitive than wall time to other processes on a busy machine.",
        "",
        "| backend | executor s | launch → end s | bare s | bare sync s | executor / bare | executor / bare sync "
        "| tasks/s executor | tasks/s bare | CPU s executor | CPU s bare sync | CPU executor / bare sync "
        "| target | load averages (per repeat) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        ex = r.median(lambda s: s.executor_s)
        wall = r.median(lambda s: s.executor_wall_s)
        b = r.median(lambda s: s.bare_s)
        bs = r.median(lambda s: s.bare_sync_s)
        ratio = ex / min(b, bs)
        cpu = r.median(lambda s: s.executor_cpu_s)
        cpu_bare = r.median(lambda s: s.bare_sync_cpu_s)
        verdict = "; ".join(
            f"{what} {'met' if x <= OVERHEAD_TARGET_RATIO else 'missed'} ({x:.2f}x)"
            for what, x in (("wall", ratio), ("CPU", cpu / cpu_bare))
        )
        loads = "; ".join(s.load for s in r.samples)
        lines.append(
            f"| {r.backend} | {ex:.3f} | {wall:.3f} | {b:.3f} | {bs:.3f} | {ex / b:.2f}x | {ex / bs:.2f}x | "
            f"{r.tasks / ex:,.0f} | {r.tasks / min(b, bs):,.0f} | {cpu:.3f} | {cpu_bare:.3f} | {cpu / cpu_bare:.2f}x | "
            f"{verdict} | {loads} |"
        )
    lines += [
        "",
        "*tasks/s*: node executions (the run's `tasks_total`) per second. *target*: wall time against the faster "
        "of the two bare figures, and CPU time against bare sync. With a load average above the 2 cores, wall "
        "time mostly measures the other processes: read the CPU ratio.",
        "",
    ]
    return lines


def measure(
    backends: list[str], tasks: int, repeats: int, log: Callable[[str], None] = print
) -> list[BackendResult]:
    return [asyncio.run(measure_backend(b, tasks, repeats, log)) for b in backends]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="simulate's task count (default 1,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per side (after a warm-up)")
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    print(f"load before: {load()}", flush=True)
    results = measure(args.backends, args.tasks, args.repeats, lambda line: print(line, flush=True))
    print("\n".join(overhead_section(results, args.tasks, args.repeats)))
    print(f"started {started:%H:%M:%S} UTC, load after: {load()}")


if __name__ == "__main__":
    sys.exit(main())
