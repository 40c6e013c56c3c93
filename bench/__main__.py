"""python -m bench: seed (or reuse) N runs per backend, measure the generated case matrix and the
overview, and write bench/results.md. Figures only: nothing here fails on a slow query."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import cases, measure, overhead, report, seed
from bench.measure import add_backends_argument
from orchestrator.run_queries import COUNT_CAP, RunFilter
from orchestrator.runs import RunStore

HERE = Path(__file__).resolve().parent

MLFLOW_VENV = HERE / "results" / "mlflow-venv"
# Our side of the MLflow comparison, the same filters as bench/mlflow_compare.py's FILTERS.
MLFLOW_CASES = {
    "tasks_total > 100 and status succeeded": RunFilter(statuses=["succeeded"], tasks_total_min=101),
    "tasks_total 500..504": RunFilter(tasks_total_min=500, tasks_total_max=504),
    "no filter": RunFilter(),
}

NOT_MEASURED: list[str] = []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=100_000, help="runs to seed per backend (default 100,000)"
    )
    add_backends_argument(parser)
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per query (after one warm-up)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2,000 runs, 3 repeats, a smaller matrix; writes bench/results/smoke.md",
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="also render the runs page and the overview by AppTest at --runs and at 10,000 (bench.pages)",
    )
    parser.add_argument(
        "--mlflow",
        type=int,
        metavar="N",
        default=None,
        help="also compare with MLflow's search_runs at N runs (its venv: see bench/mlflow_compare.py)",
    )
    parser.add_argument(
        "--overhead-tasks",
        type=int,
        default=1000,
        metavar="N",
        help="simulate's task count for the executor's run overhead (bench.overhead; default 1,000, 0 skips it)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default bench/results.md)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.repeats = min(args.runs, 2_000), 3
        args.overhead_tasks = min(args.overhead_tasks, 50)
    out = args.out or (HERE / "results" / "smoke.md" if args.smoke else HERE / "results.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    matrix = cases.generate(args.runs, smoke=args.smoke)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    sections, dump = [], {}
    for backend in args.backends:
        print(f"{backend}: {args.runs:,} runs, {len(matrix)} cases, {args.repeats} repeats", flush=True)
        if backend == "sqlite":
            engine, path = seed.sqlite_engine(args.runs)
            raw_target, server = (
                str(path),
                "SQLite file (WAL), one connection per query from SQLAlchemy's pool.",
            )
        else:
            engine, uri = seed.postgres_engine(args.runs)
            raw_target = uri
            with engine.connect() as conn:
                version = conn.exec_driver_sql("SHOW server_version").scalar()
            server = f"PostgreSQL {version} on the same machine (default settings), psycopg 3."
        store = RunStore(engine)
        raw = measure.RawDriver(engine, raw_target)
        started = time.perf_counter()
        results = []
        for i, case in enumerate(matrix):
            result = measure.measure_case(store, raw, case, args.repeats)
            results.append(result)
            if result.waited.p95 >= report.PAGE_TARGET_MS or i % 20 == 0:
                print(
                    f"  [{i + 1}/{len(matrix)}] {case.name}: page+count p95 {result.waited.p95:.1f} ms",
                    flush=True,
                )
        overview = measure.measure_overview(engine, max(3, args.repeats // 3))
        for label, fig in overview.items():
            print(f"  overview {label}: median {fig.median:.1f} ms, p95 {fig.p95:.1f} ms", flush=True)
        print(f"  {backend} measured in {time.perf_counter() - started:.0f} s", flush=True)
        raw.close()
        engine.dispose()
        sections.append(report.backend_section(backend, args.runs, server, results, overview))
        dump[backend] = {
            "cases": [asdict(r) for r in results],
            "overview": {k: asdict(v) for k, v in overview.items()},
        }
    not_measured = list(NOT_MEASURED)
    if args.overhead_tasks:
        overhead_repeats = 1 if args.smoke else 5
        print(
            f"run overhead: simulate with {args.overhead_tasks:,} tasks, {overhead_repeats} repeats",
            flush=True,
        )
        got = overhead.measure(args.backends, args.overhead_tasks, overhead_repeats)
        sections.append(overhead.overhead_section(got, args.overhead_tasks, overhead_repeats))
    else:
        not_measured.append(
            "Run overhead of the executor against bare ainvoke: run without --overhead-tasks 0."
        )
    if args.pages:
        sections.append(pages_section(args.runs, args.backends))
    else:
        not_measured.insert(
            0, "Whole pages by AppTest and peak memory: run with --pages (or python -m bench.pages)."
        )
    if args.mlflow:
        section = mlflow_section(args.mlflow, args.repeats)
        if section:
            sections.append(section)
        else:
            not_measured.insert(0, f"MLflow: no venv at {MLFLOW_VENV} (see bench/mlflow_compare.py).")
    else:
        not_measured.insert(0, "MLflow (issue 11's ≥ 50x target at 100 k runs): run with --mlflow 100000.")
    header = [
        f"{args.runs:,} runs per backend, {len(matrix)} generated cases, {args.repeats} timed repeats each "
        f'(after a warm-up); the count the page shows is capped at {COUNT_CAP:,} ("{COUNT_CAP:,}+", exact on demand).',
    ]
    report.write(out, command, header, sections, not_measured)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"figures-{args.runs}.json").write_text(json.dumps(dump, default=str, indent=1))
    print(f"wrote {out}")


def pages_section(n: int, backends: list[str]) -> list[str]:
    """The runs page and the overview by AppTest, and peak memory, at n runs and at 10,000."""
    lines = [
        f"## Whole pages by AppTest, {n:,} runs (memory against 10,000)",
        "",
        "Each line is its own process (`python -m bench.pages --runs N --backend B`). *first*: the first render "
        "of the process (imports, connects, queries; the overview's data is then cached); *new session*: a second "
        "session's first render in that process, its data not cached (what another user waits for on a running "
        "dashboard); *later*: the median of the first session's later renders. Targets: each page < 1 s; peak "
        "memory at N within 10 % of that at 10,000.",
        "",
        "| backend | runs | runs page first | new session | later | overview first | new session | later | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in backends:
        peaks = {}
        for runs in dict.fromkeys([10_000, n]):
            done = subprocess.run(
                [sys.executable, "-m", "bench.pages", "--runs", str(runs), "--backend", backend],
                cwd=HERE.parent,
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(done.stdout.strip().splitlines()[-1])
            pages, peaks[runs] = got["pages"], got["peak_mb"]
            lines.append(
                f"| {backend} | {runs:,} | {pages['runs']['first_s']:.2f} s | {pages['runs']['new_session_s']:.2f} s | "
                f"{pages['runs']['median_s']:.3f} s | {pages['overview']['first_s']:.2f} s | "
                f"{pages['overview']['new_session_s']:.2f} s | {pages['overview']['median_s']:.3f} s | "
                f"{got['peak_mb']:.0f} |"
            )
            print(f"  pages {backend} {runs:,}: {pages} peak {got['peak_mb']:.0f} MB", flush=True)
        if n in peaks and 10_000 in peaks and n != 10_000:
            lines.append(f"| {backend} | ratio | | | | | | | {peaks[n] / peaks[10_000]:.2f}x |")
    return [*lines, ""]


def mlflow_section(n: int, repeats: int) -> list[str] | None:
    """MLflow's search_runs (its own venv, a subprocess) beside our page + count, at n runs, SQLite."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        return None
    root = HERE.parent
    subprocess.run(
        [str(python), "-m", "bench.mlflow_compare", "--runs", str(n), "--repeats", str(repeats)],
        cwd=root,
        check=True,
    )
    theirs = json.loads((HERE / "results" / f"mlflow-{n}.json").read_text())
    engine, _ = seed.sqlite_engine(n)
    store = RunStore(engine)
    lines = [
        f"## Against MLflow {theirs['mlflow']}, {n:,} runs, both on SQLite",
        "",
        "MLflow's SQL store seeded with the same runs (task counts as metrics); `search_runs`, first page of 50 "
        "newest first, against our page of 50 plus the count the page shows. Target: ours ≥ 50x faster.",
        "",
        "| filter | MLflow median ms | MLflow p95 | ours median ms | ours p95 | MLflow / ours (median) | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, filters in MLFLOW_CASES.items():

        def ours(f: RunFilter = filters) -> None:
            store.page_runs(f, limit=50)
            store.count_matching(f)

        fig = measure.Figure.of(measure.repeat(ours, repeats))
        them = theirs["figures"][label]
        ratio = them["median"] / fig.median
        verdict = "met" if ratio >= 50 else f"missed ({ratio:.0f}x)"
        lines.append(
            f"| {label} (`{them['filter'] or 'none'}`) | {them['median']:.1f} | {them['p95']:.1f} | {fig.median:.2f} | "
            f"{fig.p95:.2f} | {ratio:,.0f}x | {verdict} |"
        )
        print(
            f"  mlflow {label}: theirs {them['median']:.1f} ms, ours {fig.median:.2f} ms, {ratio:.0f}x",
            flush=True,
        )
    engine.dispose()
    return [*lines, ""]


if __name__ == "__main__":
    main()
