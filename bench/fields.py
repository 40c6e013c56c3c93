"""Field filters and sorts on SQLite at N runs (figures only): page of 50 and capped count, each
read with its lead chosen anew (the planner's probes included), median of `repeats`.

    python -m bench.fields --runs 200000

Seeds the runs only (bench.data.generate: input.tasks = tasks_total, 1 … 999) into
bench/results/fields-sqlite-N.db, through the migrations (input.tasks's expression index).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.seed import RESULTS, _seed_sqlite, _sqlite_seeded
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, upgrade_schema
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore

CASES: list[tuple[str, RunFilter, str]] = [
    ("input.tasks >= 990", RunFilter(where=["input.tasks >= 990"]), "created_at"),
    ("input.tasks > 100", RunFilter(where=["input.tasks > 100"]), "created_at"),
    ("input.tasks = 500", RunFilter(where=["input.tasks = 500"]), "created_at"),
    ("sort -input.tasks", RunFilter(), "input.tasks"),
    ("input.tasks >= 990, sort -input.tasks", RunFilter(where=["input.tasks >= 990"]), "input.tasks"),
    (
        "status=failed & input.tasks >= 990",
        RunFilter(statuses=["failed"], where=["input.tasks >= 990"]),
        "created_at",
    ),
    (
        "input.note contains 'batch 12' (unindexed)",
        RunFilter(where=["input.note contains 'batch 12'"]),
        "created_at",
    ),
    ("input.seed < 100 (unindexed, narrow)", RunFilter(where=["input.seed < 100"]), "created_at"),
]


def store_at(n: int) -> RunStore:
    RESULTS.mkdir(exist_ok=True)
    path: Path = RESULTS / f"fields-sqlite-{n}.db"
    engine = make_engine(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None))
    if not path.exists() or not _sqlite_seeded(path):
        path.unlink(missing_ok=True)
        upgrade_schema(engine)
        start = time.perf_counter()
        _seed_sqlite(path, n)
        print(f"seeded {n:,} runs in {time.perf_counter() - start:.1f} s")
    return RunStore(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store = store_at(args.runs)
    print(f"| case at {args.runs:,} runs (SQLite) | page ms | count ms | count |")
    print("|---|---:|---:|---:|")
    for name, f, sort in CASES:
        pages, counts = [], []
        shown = None
        for _ in range(args.repeats):
            store.forget_plans()
            began = time.perf_counter()
            store.page_runs(f, sort=sort, limit=50)
            pages.append(time.perf_counter() - began)
            began = time.perf_counter()
            shown = store.count_matching(f)
            counts.append(time.perf_counter() - began)
        print(
            f"| {name} | {1000 * statistics.median(pages):.1f} | {1000 * statistics.median(counts):.1f} | {shown} |"
        )


if __name__ == "__main__":
    main()
