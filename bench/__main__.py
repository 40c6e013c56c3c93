"""python -m bench: seed (or reuse) N runs per backend, measure the generated case matrix and the
overview, and write bench/results.md. Figures only: nothing here fails on a slow query."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import cases, measure, report, seed
from orchestrator.runs import COUNT_CAP, RunStore

HERE = Path(__file__).resolve().parent

NOT_MEASURED = [
    "MLflow at 100 k runs (issue 11's ≥ 50x target): not built yet.",
    "AppTest rendering time and peak memory of the pages: not built yet.",
    "Run overhead of the executor against bare ainvoke: not built yet.",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=100_000, help="runs to seed per backend (default 100,000)"
    )
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per query (after one warm-up)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="2,000 runs, 3 repeats, a smaller matrix; writes bench/results/smoke.md",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default bench/results.md)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.repeats = min(args.runs, 2_000), 3
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
    header = [
        f"{args.runs:,} runs per backend, {len(matrix)} generated cases, {args.repeats} timed repeats each "
        f'(after a warm-up); the count the page shows is capped at {COUNT_CAP:,} ("{COUNT_CAP:,}+", exact on demand).',
    ]
    report.write(out, command, header, sections, NOT_MEASURED)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"figures-{args.runs}.json").write_text(json.dumps(dump, default=str, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
