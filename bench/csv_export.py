"""python -m bench.csv_export: the runs page's CSV of every run, at 10,000 and 100,000 runs, on
both backends: rows per second, seconds and peak memory, streamed (orchestrator.runs_csv) against
the DataFrame it replaced (every row read into dicts, then pandas' to_csv). Figures only: nothing
here fails on a slow export.

Each figure comes from its own process (`--measure BACKEND N WAY`), so each peak is its own:
the peak resident memory of the process (VmHWM) and its growth during the timed export over
the process after its imports and a warm-up export of 100 rows, and the peak of Python's own
allocations during a second export (tracemalloc, which slows it down several times over). The
seeded databases are bench.seed's, cached.

    python -m bench.csv_export                 # 10,000 and 100,000 runs, both backends
    python -m bench.csv_export --runs 10000 --backends sqlite
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench import seed
from bench.measure import add_backends_argument
from orchestrator.runs import RunStore

WAYS = ("streamed", "dataframe")


def _rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM starts anew at exec; ru_maxrss (the
    fallback) keeps the peak of the process that forked it, here the one that seeded."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dataframe_csv(store: RunStore, limit: int) -> bytes:
    """The export before orchestrator.runs_csv: the page of `limit` runs as dicts, then pandas."""
    import pandas as pd

    rows = store.query_runs(None, limit=limit).rows
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["tags"] = [json.dumps(tags or []) for tags in frame["tags"]]
    return frame.to_csv(index=False).encode()


def measure(backend: str, n: int, way: str) -> dict[str, Any]:
    """One export of every run of the seeded database, in this process."""
    from orchestrator.runs_csv import csv_bytes

    engine, _ = seed.sqlite_engine(n) if backend == "sqlite" else seed.postgres_engine(n)
    store = RunStore(engine)

    def export(limit: int) -> bytes:
        return csv_bytes(store, limit=limit) if way == "streamed" else _dataframe_csv(store, limit)

    export(100)  # imports, connections, statement caches
    before = _rss_mb()
    start = time.perf_counter()
    data = export(n)
    seconds = time.perf_counter() - start
    rss_peak = _rss_mb()
    rows, size = data.count(b"\n") - 1, len(data)
    del data
    # Python's own allocations, in a second export (tracing slows it down several times over).
    tracemalloc.start()
    traced_error = None
    try:
        export(n)
    except Exception as exc:  # e.g. PostgreSQL ending a session idle in a transaction for 10 s
        traced_error = type(exc.__cause__ or exc).__name__
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    return {
        "backend": backend,
        "runs": n,
        "way": way,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "file_mb": size / 2**20,
        "rss_before_mb": before,
        "rss_peak_mb": rss_peak,
        "traced_peak_mb": traced_peak / 2**20,
        "traced_error": traced_error,
    }


def run(sizes: list[int], backends: list[str], repeats: int) -> list[dict[str, Any]]:
    figures = []
    for n in sizes:
        for backend in backends:
            # Seeded (or found cached) here, once, before any process measures.
            engine, _ = seed.sqlite_engine(n) if backend == "sqlite" else seed.postgres_engine(n)
            engine.dispose()
            for way in WAYS:
                got = [
                    json.loads(
                        subprocess.run(
                            [sys.executable, "-m", "bench.csv_export", "--measure", backend, str(n), way],
                            check=True,
                            capture_output=True,
                            text=True,
                        ).stdout.splitlines()[-1]
                    )
                    for _ in range(repeats)
                ]
                best = min(got, key=lambda g: g["seconds"])
                best["median_seconds"] = statistics.median(g["seconds"] for g in got)
                figures.append(best)
                print(line(best), flush=True)
    return figures


def line(g: dict[str, Any]) -> str:
    return (
        f"{g['backend']:8} {g['runs']:>7,} runs {g['way']:9}: {g['rows']:>7,} rows in {g['seconds']:6.2f} s "
        f"(median {g.get('median_seconds', g['seconds']):6.2f} s), {g['rows_per_s']:>9,.0f} rows/s, "
        f"file {g['file_mb']:5.1f} MB, peak RSS {g['rss_peak_mb']:6.1f} MB "
        f"(+{g['rss_peak_mb'] - g['rss_before_mb']:5.1f} MB during the export), "
        f"Python's peak {g['traced_peak_mb']:6.1f} MB"
        + (f" (the traced export failed: {g['traced_error']})" if g.get("traced_error") else "")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.csv_export", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 100_000])
    add_backends_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="processes per figure (the fastest is shown)")
    parser.add_argument("--measure", nargs=3, metavar=("BACKEND", "N", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        backend, n, way = args.measure
        print(json.dumps(measure(backend, int(n), way)))
        return
    print(
        f"load average: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.split('average:')[-1].strip()}"
    )
    run(args.runs, args.backends, args.repeats)


if __name__ == "__main__":
    main()
