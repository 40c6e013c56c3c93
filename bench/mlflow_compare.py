"""MLflow's side of the comparison, run in its own venv (MLflow is a benchmark-only dependency):

    python -m venv bench/results/mlflow-venv
    bench/results/mlflow-venv/bin/pip install -r bench/requirements.txt
    bench/results/mlflow-venv/bin/python -m bench.mlflow_compare --runs 100000

Seeds MLflow's SQL store on SQLite with the same runs as bench/data.py (task counts as metrics,
status mapped to MLflow's), by copying the rows one real `create_run` wrote, then times
`search_runs` (first page of 50, newest first) per filter and writes the figures as JSON for
`python -m bench --mlflow` to set beside ours. Imports nothing of the orchestrator.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from pathlib import Path

from bench.data import generate

RESULTS = Path(__file__).resolve().parent / "results"
STATUS = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "awaiting_input": "RUNNING",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
    "interrupted": "KILLED",
}
# The same filters as bench/__main__.py's MLFLOW_CASES, in MLflow's search syntax.
FILTERS = {
    "tasks_total > 100 and status succeeded": "metrics.tasks_total > 100 and attributes.status = 'FINISHED'",
    "tasks_total 500..504": "metrics.tasks_total >= 500 and metrics.tasks_total <= 504",
    "no filter": "",
}


def seed(path: Path, n: int) -> str:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{path}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench")
    template = client.create_run(experiment).info.run_id
    for key in ("tasks_total", "tasks_completed", "tasks_failed"):
        client.log_metric(template, key, 1.0)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row

    def template_row(table: str, where: str = "run_uuid = ?") -> dict:
        return dict(conn.execute(f"SELECT * FROM {table} WHERE {where} LIMIT 1", (template,)).fetchone())

    run_row, metric_row, latest_row = (
        template_row("runs"),
        template_row("metrics"),
        template_row("latest_metrics"),
    )
    conn.execute("DELETE FROM metrics WHERE run_uuid = ?", (template,))
    conn.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (template,))
    conn.execute("DELETE FROM tags WHERE run_uuid = ?", (template,))
    conn.execute("DELETE FROM runs WHERE run_uuid = ?", (template,))

    def insert(table: str, row: dict) -> str:
        return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"

    runs, metrics, latest = [], [], []
    for r in generate(n):
        run_id, status, created, finished = r[0], r[2], r[3], r[5]
        start_ms = int(created.timestamp() * 1000)
        runs.append(
            tuple(
                {
                    **run_row,
                    "run_uuid": run_id,
                    "name": run_id[:12],
                    "status": STATUS[status],
                    "start_time": start_ms,
                    "end_time": int(finished.timestamp() * 1000) if finished else None,
                    "artifact_uri": f"{run_row['artifact_uri'].rsplit('/', 2)[0]}/{run_id}/artifacts",
                }.values()
            )
        )
        for key, value in (("tasks_total", r[8]), ("tasks_completed", r[9]), ("tasks_failed", r[10])):
            metrics.append(
                tuple(
                    {
                        **metric_row,
                        "run_uuid": run_id,
                        "key": key,
                        "value": float(value),
                        "timestamp": start_ms,
                    }.values()
                )
            )
            latest.append(
                tuple(
                    {
                        **latest_row,
                        "run_uuid": run_id,
                        "key": key,
                        "value": float(value),
                        "timestamp": start_ms,
                    }.values()
                )
            )
    conn.executemany(insert("runs", run_row), runs)
    conn.executemany(insert("metrics", metric_row), metrics)
    conn.executemany(insert("latest_metrics", latest_row), latest)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return experiment


def main() -> None:
    parser = argparse.ArgumentParser(description="MLflow search_runs on the benchmark's runs")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import mlflow
    from mlflow.tracking import MlflowClient

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"mlflow-{args.runs}.db"
    marker = RESULTS / f"mlflow-{args.runs}.experiment"
    if not marker.exists():
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        marker.write_text(seed(path, args.runs))
        print(f"mlflow: seeded {args.runs:,} runs in {time.perf_counter() - start:.0f} s")
    experiment = marker.read_text()
    client = MlflowClient(f"sqlite:///{path}")
    figures = {}
    for label, query in FILTERS.items():

        def call(q: str = query) -> int:
            return len(
                client.search_runs([experiment], q, max_results=50, order_by=["attributes.start_time DESC"])
            )

        found = call()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        ordered = sorted(times)
        figures[label] = {
            "median": statistics.median(times),
            "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "rows": found,
            "filter": query,
        }
        print(f"  mlflow {label}: median {figures[label]['median']:.1f} ms ({found} rows)")
    out = RESULTS / f"mlflow-{args.runs}.json"
    out.write_text(
        json.dumps({"mlflow": mlflow.__version__, "runs": args.runs, "figures": figures}, indent=1)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
