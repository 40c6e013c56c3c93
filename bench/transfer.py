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

    pages    the runs page right after an import (its first page and the count it shows, no
             filter), on each backend: as the load leaves it unsettled (PostgreSQL: autovacuum
             off for the target's tables, as before it gets to them), then after the VACUUM
             (ANALYZE) / ANALYZE that import and migrate now end with. The file holds the runs'
             rows only (the page reads no checkpoint), so N can be large.

    python -m bench.transfer                 # 200 runs
    python -m bench.transfer --runs 10000    # the README's figure
    python -m bench.transfer --runs 10000 --only import,export
    python -m bench.transfer --runs 10000 --only pages
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


def repeat(templates: Path, n: int, out: Path, *, rows_only: bool = False) -> None:
    """The templates' records repeated under new run ids until the file holds n runs (with
    `rows_only`, each run's rows without its checkpoints and writes)."""
    lines = [json.loads(line) for line in templates.read_text().splitlines()]
    head, body = lines[0], [r for r in lines[1:] if r["kind"] not in ("end", "preset")]
    if rows_only:
        body = [r for r in body if r["kind"] not in ("checkpoint", "writes")]
        for record in body:
            if record["kind"] == "run_end":
                record["records"] = 0
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
                    # Every per-run table's rows (tasks, answers, logs, task I/O, ...) follow.
                    for rows in record.values():
                        for row in rows if isinstance(rows, list) else []:
                            if isinstance(row, dict) and "run_id" in row:
                                row["run_id"] = new_id
                else:
                    record["run_id"] = new_id
                    if record["kind"] == "checkpoint" and "run_id" in record["metadata"]:
                        record["metadata"]["run_id"] = new_id
                f.write(json.dumps(record) + "\n")
        f.write(json.dumps({"kind": "end", "runs": n}) + "\n")


def page_ms(store: Any, repeats: int = 5) -> tuple[float, float]:
    """The runs page with no filter (first page of 50 by creation, and its capped count): the
    first time, and the median of `repeats` more, in ms."""
    from sqlalchemy import text

    from orchestrator.run_queries import COUNT_CAP, RunFilter

    # A new connection, opened before the clock starts: the first figure is the queries' alone.
    store.engine.dispose()
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        store.page_runs(RunFilter(), sort="created_at", descending=True, limit=50, offset=0)
        store.count_matching(RunFilter(), cap=COUNT_CAP)
        times.append((time.perf_counter() - start) * 1000)
    return times[0], sorted(times[1:])[repeats // 2]


def _without_autovacuum(config: Any) -> None:
    """The target's tables made, with autovacuum off for them: the import's own VACUUM is what is
    measured, not one autovacuum happened to run during a long load (as after a bulk write on a
    busy server, before autovacuum gets to it)."""
    from sqlalchemy import text

    import orchestrator.transfer.moving as moving
    from orchestrator.db.dialect import POSTGRES_SAVER_TABLES
    from orchestrator.operations import Orchestrator

    orch = Orchestrator(config)
    try:
        with orch.engine.begin() as conn:
            for name in [t.name for t in moving.WRITTEN_TABLES] + list(POSTGRES_SAVER_TABLES):
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"ALTER TABLE {quoted} SET (autovacuum_enabled = false)"))
    finally:
        orch.engine.dispose()


def measure_pages(mode: str, source: str, target: str) -> dict[str, Any]:
    """Import `source` into `target` as the load alone leaves it (no VACUUM / ANALYZE), time the
    runs page, then settle it as import now does and time it again."""
    import orchestrator.transfer.moving as moving
    from orchestrator.db import make_engine
    from orchestrator.runs import RunStore

    settle = moving.analyze_after_bulk_write
    moving.analyze_after_bulk_write = lambda engine, tables: None  # type: ignore[assignment]
    if mode == "postgres":
        _without_autovacuum(_config(mode, target))
    start = time.perf_counter()
    outcome = moving.import_file(_config(mode, target), source)
    loaded = time.perf_counter() - start
    engine = make_engine(_config(mode, target))
    try:
        store = RunStore(engine)
        before_first, before = page_ms(store)
        start = time.perf_counter()
        settle(engine, moving.WRITTEN_TABLES)
        settling = time.perf_counter() - start
        after_first, after = page_ms(store)
    finally:
        engine.dispose()
    return {"step": f"pages-{mode}", "runs": outcome.runs, "load_s": loaded, "settle_s": settling,
            "before_first_ms": before_first, "before_ms": before,
            "after_first_ms": after_first, "after_ms": after}  # fmt: skip


def measure(step: str, source: str, target: str) -> dict[str, Any]:
    """One step, in this process: its seconds and this process's peak memory."""
    from orchestrator.transfer import export_runs, import_file, migrate

    if step.startswith("pages-"):
        return measure_pages(step.split("-")[1], source, target)
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
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
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
            templates = make_templates(directory)
            if "pages" in only:
                repeat(templates, n, directory / "rows.jsonl", rows_only=True)
                for mode, target in (
                    ("sqlite", str(directory / "pages.db")),
                    ("postgres", f"{PG_SERVER}/{name}"),
                ):
                    got = _in_process(f"pages-{mode}", str(directory / "rows.jsonl"), target)
                    print(
                        f"runs page after importing {got['runs']:,} runs into {mode}: first page + count "
                        f"{got['before_first_ms']:.1f} ms (then {got['before_ms']:.1f} ms) as loaded; "
                        f"{got['after_first_ms']:.1f} ms (then {got['after_ms']:.1f} ms) after "
                        f"{'VACUUM (ANALYZE)' if mode == 'postgres' else 'ANALYZE'} ({got['settle_s']:.1f} s; "
                        f"load {got['load_s']:.1f} s)",
                        flush=True,
                    )
                only = tuple(step for step in only if step != "pages")
                if not only:
                    return []
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{name}"')
            repeat(templates, n, directory / "runs.jsonl")
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
        "--only",
        default="import,export,migrate",
        help="the steps to measure: import, export, migrate, pages (default: the first three)",
    )
    parser.add_argument("--measure", nargs=3, metavar=("STEP", "SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    run(args.runs, tuple(args.only.split(",")))


if __name__ == "__main__":
    main()
