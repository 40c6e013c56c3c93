"""python -m bench.transfer: export, import and migrate of N runs with their checkpoints, both
ways between SQLite and PostgreSQL: runs per second and peak memory. Figures only: nothing here
fails on a slow move.

The runs are real: a few are executed by the executor on a scratch SQLite file (simulate runs
of 2 to 5 steps and an answered plan_execute run), exported, and their records repeated under
new run ids up to N (the checkpoints' serde payloads as the saver wrote them). Then, each in a
process of its own so each peak is its own (VmHWM, the peak resident memory):

    import   the file into an empty SQLite file
    export   that SQLite file back to a file
    migrate  SQLite -> an empty PostgreSQL database (copy, ANALYZE, verify)
    migrate  PostgreSQL -> an empty SQLite file (copy, ANALYZE, verify)

    python -m bench.transfer                 # 200 runs
    python -m bench.transfer --runs 10000    # the README's figure
    python -m bench.transfer --runs 10000 --only import,export
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _config(mode: str, where: str) -> Any:
    from orchestrator.config import OrchestratorConfig

    if mode == "sqlite":
        return OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=where, env_file=None)
    return OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=where, env_file=None)


def make_templates(directory: Path) -> Path:
    """A few runs executed for real on a scratch SQLite file, exported to templates.jsonl."""
    from orchestrator.executor import Executor
    from orchestrator.operations import Orchestrator
    from orchestrator.transfer import export_runs

    config = _config("sqlite", str(directory / "templates.db"))
    orch = Orchestrator(config)
    ids = [orch.launch("simulate", {"tasks": n, "delay_ms": 0}, ["bench"]) for n in (2, 3, 4, 5)]
    ids.append(orch.launch("plan_execute", {"goal": "one; two", "require_approval": True}))
    executor = Executor(config, engine=orch.engine, concurrency=4, poll_seconds=0.05)
    executor.start()
    try:
        _wait(orch, ids)
        orch.approve(ids[-1], ["alpha", "beta"])
        _wait(orch, ids)
    finally:
        executor.stop(grace=1)
        orch.engine.dispose()
    path = directory / "templates.jsonl"
    export_runs(config, path)
    return path


def _wait(orch: Any, ids: list[str]) -> None:
    from orchestrator.status import ACTIVE, RunStatus

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = [orch.get_run(r)["status"] for r in ids]
        if all(s not in ACTIVE or s == RunStatus.AWAITING_INPUT for s in statuses):
            return
        time.sleep(0.1)
    raise TimeoutError("the template runs did not finish")


def repeat(templates: Path, n: int, out: Path) -> None:
    """The templates' records repeated under new run ids until the file holds n runs."""
    lines = [json.loads(line) for line in templates.read_text().splitlines()]
    head, body = lines[0], [r for r in lines[1:] if r["kind"] not in ("end", "preset")]
    runs: list[list[dict[str, Any]]] = []
    for record in body:
        if record["kind"] == "run":
            runs.append([])
        runs[-1].append(record)
    with out.open("w") as f:
        f.write(json.dumps(head) + "\n")
        for i in range(n):
            new_id = uuid.uuid4().hex
            for record in runs[i % len(runs)]:
                record = json.loads(json.dumps(record))
                if record["kind"] == "run":
                    record["row"]["run_id"] = new_id
                    for row in record["tasks"] + record["answers"]:
                        row["run_id"] = new_id
                else:
                    record["run_id"] = new_id
                    if record["kind"] == "checkpoint" and "run_id" in record["metadata"]:
                        record["metadata"]["run_id"] = new_id
                f.write(json.dumps(record) + "\n")
        f.write(json.dumps({"kind": "end", "runs": n}) + "\n")


def measure(step: str, source: str, target: str) -> dict[str, Any]:
    """One step, in this process: its seconds and this process's peak memory."""
    from orchestrator.transfer import export_runs, import_file, migrate

    before = _rss_mb()
    start = time.perf_counter()
    if step == "import":
        outcome: Any = import_file(_config("sqlite", target), source)
        runs = outcome.runs
    elif step == "export":
        outcome = export_runs(_config("sqlite", source), target)
        runs = outcome.runs
    else:
        mode, to = step.split("-")[1:]
        outcome = migrate(_config(mode, source), _config(to, target))
        assert outcome.verification is not None
        if not outcome.verification.ok:
            raise SystemExit(f"verification failed: {outcome.verification.differences[:3]}")
        runs = outcome.load.runs
    seconds = time.perf_counter() - start
    return {"step": step, "runs": runs, "seconds": seconds, "runs_per_s": runs / seconds,
            "rss_before_mb": before, "rss_peak_mb": _rss_mb()}  # fmt: skip


def _in_process(step: str, source: str, target: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.transfer", "--measure", step, source, target],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def run(n: int, only: tuple[str, ...] = ("import", "export", "migrate")) -> list[dict[str, Any]]:
    name = f"bench_transfer_{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin,
    ):
        directory = Path(tmp)
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            print(f"making {n} runs from runs the executor made ...", flush=True)
            repeat(make_templates(directory), n, directory / "runs.jsonl")
            steps = [
                ("import", str(directory / "runs.jsonl"), str(directory / "source.db")),
                ("export", str(directory / "source.db"), str(directory / "again.jsonl.gz")),
                ("migrate-sqlite-postgres", str(directory / "source.db"), f"{PG_SERVER}/{name}"),
                ("migrate-postgres-sqlite", f"{PG_SERVER}/{name}", str(directory / "back.db")),
            ]
            figures = []
            for step in [s for s in steps if s[0].split("-")[0] in only]:
                got = _in_process(*step)
                figures.append(got)
                print(
                    f"{got['step']:24} {got['runs']:7,} runs {got['seconds']:8.1f} s {got['runs_per_s']:8.1f} runs/s"
                    f"  peak memory {got['rss_peak_mb']:6.1f} MB (after imports {got['rss_before_mb']:.1f} MB)",
                    flush=True,
                )
            return figures
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="how many runs to move (default 200)")
    parser.add_argument(
        "--only", default="import,export,migrate", help="the steps to measure (default: all three)"
    )
    parser.add_argument("--measure", nargs=3, metavar=("STEP", "SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    run(args.runs, tuple(args.only.split(",")))


if __name__ == "__main__":
    main()
