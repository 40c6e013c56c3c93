"""python -m bench.cli_startup: how long the CLI takes to start and answer a read (`runs`, `show`,
`show --checkpoints`) and `--help`, on both backends. Figures only: nothing here fails on a slow start.

Each command is run N times as a fresh `python -m orchestrator …` process; the median wall time
and the median CPU time (user + system, from resource.getrusage of the finished child) are
printed. On a shared, loaded machine the CPU time is the steadier figure: the wall time also
counts the time the process waited for a core. `python -c pass` is the floor: an interpreter
that imports nothing.

    python -m bench.cli_startup                      # 9 runs each, both backends
    python -m bench.cli_startup --repeats 5 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.measure import add_backends_argument

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "bench_cli_startup"
ROOT = Path(__file__).resolve().parents[1]


def _timed_child(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (it must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=_environment())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _environment() -> dict[str, str]:
    # The checkout's package, whatever is installed; no .env or settings of the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKPOINT_", "POSTGRES_", "SQLITE_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _report(label: str, argv: list[str], repeats: int) -> None:
    _timed_child(argv)  # warm the file cache (and .pyc files) first
    walls, cpus = zip(*(_timed_child(argv) for _ in range(repeats)), strict=True)
    print(
        f"  {label:12} median wall {statistics.median(walls):6.3f} s   median CPU {statistics.median(cpus):6.3f} s"
        f"   (CPU min {min(cpus):.3f}, max {max(cpus):.3f})"
    )


def _cli(database: list[str], *args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *database, *args]


def _seeded_run(database: list[str]) -> str:
    """Set the database up and execute one small run (so that `show` has tasks and checkpoints)."""
    subprocess.run(_cli(database, "init"), cwd=ROOT, env=_environment(), check=True, capture_output=True)
    done = subprocess.run(
        _cli(database, "run", "simulate", "--input", '{"tasks": 3, "delay_ms": 1}', "--wait"),
        cwd=ROOT,
        env=_environment(),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.split("run_id: ", 1)[1].split()[0]


def measure(backend: str, database: list[str], repeats: int) -> None:
    run_id = _seeded_run(database)
    print(f"{backend}:")
    _report("runs", _cli(database, "runs", "--limit", "20"), repeats)
    _report("show RUN", _cli(database, "show", run_id), repeats)
    _report("show --ckpts", _cli(database, "show", run_id, "--checkpoints"), repeats)
    _report("--help", _cli([], "--help"), repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_startup", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per command (after one warm-up)")
    add_backends_argument(parser)
    args = parser.parse_args(argv)
    print(f"{args.repeats} runs each, medians; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("floor:")
    _report("python", [sys.executable, "-c", "pass"], args.repeats)
    for backend in args.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                measure(
                    backend, ["--mode", "sqlite", "--sqlite-path", str(Path(tmp) / "bench.db")], args.repeats
                )
            continue
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {DATABASE}")
        try:
            uri = ADMIN.rsplit("/", 1)[0] + f"/{DATABASE}"
            measure(backend, ["--mode", "postgres", "--postgres-uri", uri], args.repeats)
        finally:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
