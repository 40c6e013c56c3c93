"""python -m bench.outage: what a PostgreSQL outage costs runs in flight (issue 21).

A throwaway cluster (scripts/pg_cluster.py; needs root and Debian's PostgreSQL server binaries)
serves one worker, started as people start it (`python -m orchestrator worker`, the default
heartbeat of 1 s and stale window of 30 s), running RUNS fan-outs of TASKS steps (FAN_OUT at a
time, 150 ms each). When every run is a few steps in, the server is stopped (`pg_ctl stop -m
fast`), left away for each outage length, and started again. Per outage, once every run ended:

- the steps that can be in flight when it began: each run works `FAN_OUT` steps at a time;
- the steps executed twice (each execution leaves a file: counted, not taken from our rows);
- whether the task rows equal what LangGraph saved (succeeded rows against saved writes);
- the runs cut off and queued again (attempt > 1), and how long the runs took to end.

Figures only; nothing here fails on a bad figure. bench/results/outage.md gets the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import report
from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from scripts.pg_cluster import Cluster, bin_dir, unavailable

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = {"counted": "bench.outage_workflow:build_counted"}


def _executions(folder: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in folder.iterdir() if folder.exists() else []:
        index = int(path.name.split("-")[0])
        counts[index] = counts.get(index, 0) + 1
    return counts


def _saved_work(config: OrchestratorConfig, run_id: str) -> set[str]:
    """The `work` executions whose writes LangGraph saved (read with its own saver)."""
    from langgraph.checkpoint.postgres import PostgresSaver

    uri = config.postgres_url().set(drivername="postgresql").render_as_string(hide_password=False)
    with PostgresSaver.from_conn_string(uri) as saver:
        tuples = list(saver.list({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}))
    return {task for t in tuples for task, channel, _ in t.pending_writes or [] if channel == "done"}


def one_outage(
    cluster: Cluster, seconds: float, runs: int, tasks: int, fan_out: int, folder: Path
) -> dict[str, Any]:
    database = f"outage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cluster.uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    config = OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri=cluster.uri(database), workflows=WORKFLOWS, env_file=None
    )
    orch = Orchestrator(config)
    dirs = [folder / f"{database}-{n}" for n in range(runs)]
    ids = [orch.launch("counted", {"dir": str(d), "tasks": tasks, "fan_out": fan_out}) for d in dirs]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "CHECKPOINT_", "POSTGRES_"))
    }
    env |= {
        "PYTHONPATH": str(ROOT),
        "CHECKPOINT_MODE": "postgres",
        "POSTGRES_URI": cluster.uri(database),
        "ORCHESTRATOR_WORKFLOWS": json.dumps(WORKFLOWS),
    }
    log = (folder / f"{database}.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "worker", "--concurrency", str(runs)],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not all(
            r["status"] == "running" and r["tasks_completed"] >= 3 for r in orch.store.get_runs(ids)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the runs did not start")
            time.sleep(0.05)
        in_flight = runs * fan_out  # what can be working at once: the most that may run again
        orch.engine.dispose()
        cluster.stop("fast")
        stopped = time.monotonic()
        time.sleep(seconds)
        cluster.start()
        while any(
            r["status"] not in ("succeeded", "failed", "cancelled", "interrupted")
            for r in orch.store.get_runs(ids)
        ):
            if time.monotonic() - stopped > seconds + 600:
                raise RuntimeError("the runs did not end")
            time.sleep(0.2)
        ended = time.monotonic() - stopped
        final = orch.store.get_runs(ids)
        twice = sum(count - 1 for d in dirs for count in _executions(d).values())
        equal = all(
            {
                t["task_id"]
                for t in orch.store.get_tasks(run_id)
                if t["node"] == "work" and t["status"] == "succeeded"
            }
            == _saved_work(config, run_id)
            for run_id in ids
        )
        return {
            "outage": seconds,
            "runs": runs,
            "statuses": sorted({r["status"] for r in final}),
            "in_flight": in_flight,
            "twice": twice,
            "rows_equal_saved": equal,
            "requeued": sum(r["attempt"] > 1 for r in final),
            "ended_after": ended,
        }
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(60)
        log.close()
        orch.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=float, nargs="+", default=[3, 30, 120], help="outage lengths (s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--fan-out", type=int, default=2)
    args = parser.parse_args(argv)
    if reason := unavailable():
        raise SystemExit(f"error: {reason}")
    binaries = bin_dir()
    assert binaries is not None
    folder = RESULTS / f"outage-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    shutil.chown(folder, "postgres", "postgres")
    cluster = Cluster(Path("/tmp") / f"orchestrator-bench-cluster-{uuid.uuid4().hex[:8]}", binaries)
    cluster.start()
    rows = []
    try:
        for seconds in args.outages:
            row = one_outage(cluster, seconds, args.runs, args.tasks, args.fan_out, folder)
            print(
                f"outage {seconds:g} s: in flight at most {row['in_flight']}, executed twice {row['twice']}, "
                f"rows = saved: {row['rows_equal_saved']}, queued again {row['requeued']} of {row['runs']}, "
                f"ended {row['ended_after']:.1f} s after the stop, {'/'.join(row['statuses'])}",
                flush=True,
            )
            rows.append(row)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)
    lines = [
        "# Outages",
        "",
        *report.machine(),
        "",
        f"{args.runs} runs of {args.tasks} steps of 150 ms, {args.fan_out} at a time; one worker, "
        "heartbeat 1 s, stale window 30 s.",
        "",
        "| outage | steps in flight (at most) | executed twice | task rows = saved | queued again | runs ended after | statuses |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['outage']:g} s | {r['in_flight']} | {r['twice']} | {'yes' if r['rows_equal_saved'] else 'NO'} | "
            f"{r['requeued']} of {r['runs']} | {r['ended_after']:.1f} s | {', '.join(r['statuses'])} |"
            for r in rows
        ),
    ]
    out = RESULTS / "outage.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
