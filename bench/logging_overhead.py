"""python -m bench.logging_overhead: what keeping a run's logs costs (issue 26).

For each backend, a run of N tasks (default 1,000; no sleeps, so the figure is the orchestration
and the logging, not the work) is executed by a real `Executor` (claimed, fenced, its task events
and log lines written in batches) three times per repeat:

- kept: each task logs L lines (default 10, all kept: the cap is above L);
- off: the same run with ORCHESTRATOR_LOG_LEVEL=OFF: nothing catches the lines (in this process
  the kept side lowered the root logger to INFO, so they are still made into records: `off`
  isolates what catching and storing them costs);
- silent: each task logs nothing.

Timed from the claim to the run's end (`execute_claimed`): wall (perf_counter) and this process's
CPU; the order of the three rotates with each repeat; medians. On PostgreSQL also the CPU of the
server's backends serving the bench's database (the server shares the machine's cores). The ratios are kept / off (what
keeping the logs costs) and kept / silent. Figures only: nothing here fails on a slow run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, text

from bench.measure import add_backends_argument
from orchestrator.config import OrchestratorConfig
from orchestrator.db import run_logs
from orchestrator.executor import Executor
from orchestrator.fenced_run import FencedRun
from orchestrator.operations import Orchestrator

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.1
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "orchestrator_bench_logging"
WORKFLOWS = {"logging_bench": "bench.logging_workflow:build"}
# Each run's writer CPU seconds (see _timed_record), in the order run.
WRITER_CPU: list[float] = []
# Each run's CPU seconds of the PostgreSQL server's backends serving the bench's database (read
# from /proc: the server runs on this machine, on the same cores), in the order run.
SERVER_CPU: list[float] = []
_TICK = os.sysconf("SC_CLK_TCK")


def fresh_config(backend: str) -> OrchestratorConfig:
    """A config on an empty database of its own, dropped and made anew."""
    if backend == "sqlite":
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / "logging_overhead.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return OrchestratorConfig(sqlite_path=str(path), workflows=WORKFLOWS, env_file=None)
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    return OrchestratorConfig(
        checkpoint_mode="postgres",
        postgres_uri=f"{PG_SERVER}/{PG_DATABASE}",
        workflows=WORKFLOWS,
        env_file=None,
    )


# CPU seconds the writer's thread spent in FencedRun.record_task_events (its batches of task
# events, log lines, inputs and outputs), summed over a run.
_writer_cpu = [0.0]
_record = FencedRun.record_task_events


def _timed_record(self: FencedRun, *args: Any, **kwargs: Any) -> None:
    began = time.thread_time()
    try:
        _record(self, *args, **kwargs)
    finally:
        _writer_cpu[0] += time.thread_time() - began


FencedRun.record_task_events = _timed_record  # type: ignore[method-assign]


def _server_cpu(orch: Orchestrator) -> dict[int, float]:
    """CPU seconds so far of each server backend of the bench's database (none on SQLite)."""
    if orch.engine.dialect.name != "postgresql":
        return {}
    with orch.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        seconds = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            seconds[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    return seconds


def one_run(orch: Orchestrator, tasks: int, lines: int) -> tuple[float, float, int]:
    """(claim -> end wall seconds, CPU seconds, log lines stored) of one run executed here."""
    run_id = orch.launch("logging_bench", {"tasks": tasks, "lines": lines})
    executor = Executor(orch.config, engine=orch.engine, registry=orch.registry, concurrency=1)
    (row,) = executor.store.claim_queued(executor.worker, 1, run_id=run_id)
    _writer_cpu[0] = 0.0
    server = _server_cpu(orch)
    began, cpu = time.perf_counter(), time.process_time()
    asyncio.run(executor.execute_claimed(row))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    WRITER_CPU.append(_writer_cpu[0])
    SERVER_CPU.append(sum(now - server.get(pid, 0.0) for pid, now in _server_cpu(orch).items()))
    run = orch.get_run(run_id)
    if run["status"] != "succeeded" or run["tasks_total"] != tasks + 1:
        raise RuntimeError(
            f"run {run_id} ended {run['status']} with {run['tasks_total']} tasks: {run['error']}"
        )
    with orch.engine.connect() as conn:
        stored = conn.execute(select(func.count()).where(run_logs.c.run_id == run_id)).scalar_one()
    return seconds, cpu, stored


def measure_backend(
    backend: str, tasks: int, lines: int, repeats: int
) -> dict[str, tuple[float, float, int]]:
    """Per side (kept, off, silent): the medians of wall and CPU seconds, and the lines stored."""
    config = fresh_config(backend)
    orchs = {
        "kept": Orchestrator(config),
        "off": Orchestrator(copy.copy(config)),
    }
    orchs["off"].config.log_level = "OFF"
    sides = [("kept", lines), ("off", lines), ("silent", 0)]
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _ in sides}
    writer: dict[str, list[float]] = {name: [] for name, _ in sides}
    server: dict[str, list[float]] = {name: [] for name, _ in sides}
    try:
        one_run(orchs["kept"], 10, lines)  # warm-up: imports, the saver's tables, the first connections
        for repeat in range(repeats):
            turn = repeat % len(sides)
            for name, count in sides[turn:] + sides[:turn]:
                sample = one_run(orchs.get(name, orchs["kept"]), tasks, count)
                # Every line kept is stored (none dropped to go faster); OFF and silent store none.
                want = tasks * lines if name == "kept" else 0
                if sample[2] != want:
                    raise RuntimeError(f"{backend} {name}: {sample[2]:,} lines stored, not {want:,}")
                samples[name].append(sample)
                writer[name].append(WRITER_CPU[-1])
                server[name].append(SERVER_CPU[-1])
        # Each repeat's own kept / off (the two ran back to back): the spread beside the medians.
        walls = sorted(k[0] / o[0] for k, o in zip(samples["kept"], samples["off"], strict=True))
        cpus = sorted(k[1] / o[1] for k, o in zip(samples["kept"], samples["off"], strict=True))
        print(
            f"{backend}: each repeat's kept/off wall {' '.join(f'{r:.2f}' for r in walls)} "
            f"(median {statistics.median(walls):.2f}); CPU {' '.join(f'{r:.2f}' for r in cpus)} "
            f"(median {statistics.median(cpus):.2f}); load average now {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        extra = statistics.median(writer["kept"]) - statistics.median(writer["off"])
        print(
            f"{backend}: the writer's thread, CPU s (medians): kept {statistics.median(writer['kept']):.3f}, "
            f"off {statistics.median(writer['off']):.3f}: {extra / max(1, tasks * lines) * 1e6:.1f} us a line kept",
            flush=True,
        )
        if backend == "postgres":
            both = sorted(
                (k[1] + ks) / (o[1] + os_)
                for k, o, ks, os_ in zip(
                    samples["kept"], samples["off"], server["kept"], server["off"], strict=True
                )
            )
            extra = statistics.median(server["kept"]) - statistics.median(server["off"])
            print(
                f"{backend}: the server's backends, CPU s (medians): kept {statistics.median(server['kept']):.3f}, "
                f"off {statistics.median(server['off']):.3f}: {extra / max(1, tasks * lines) * 1e6:.1f} us a line "
                f"kept; each repeat's kept/off CPU of this process and the server together "
                f"{' '.join(f'{r:.2f}' for r in both)} (median {statistics.median(both):.2f})",
                flush=True,
            )
        return {
            name: (
                statistics.median(s[0] for s in got),
                statistics.median(s[1] for s in got),
                got[-1][2],
            )
            for name, got in samples.items()
        }
    finally:
        for orch in orchs.values():
            orch.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logging_overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10, help="log lines per task")
    parser.add_argument("--repeats", type=int, default=3)
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    print(
        f"A run of {args.tasks} tasks, each logging {args.lines} lines (kept, or OFF) or none (silent); "
        f"medians of {args.repeats}; load average {os.getloadavg()[0]:.1f}. Target: kept/off <= {TARGET_RATIO}x."
    )
    print(
        f"{'backend':9} {'side':7} {'wall s':>8} {'cpu s':>7} {'lines kept':>11} "
        f"{'wall/off':>9} {'cpu/off':>8} {'wall/silent':>12} {'cpu/silent':>11}"
    )
    for backend in args.backends:
        figures = measure_backend(backend, args.tasks, args.lines, args.repeats)
        off, silent = figures["off"], figures["silent"]
        for name, (wall, cpu, stored) in figures.items():
            print(
                f"{backend:9} {name:7} {wall:8.3f} {cpu:7.3f} {stored:11,} {wall / off[0]:9.3f} "
                f"{cpu / off[1]:8.3f} {wall / silent[0]:12.3f} {cpu / silent[1]:11.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
