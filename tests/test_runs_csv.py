"""The runs page's CSV (orchestrator/runs_csv.py), on both backends: exactly the runs the filter
matches, in the table's order, cut at the limit asked for, with times, tags and blanks written as
the README says; and how many the download would hold uncut. Expected rows are worked out here
from the seeded runs, not by the code under test. Speed and memory: bench/csv_export.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from orchestrator import runs_csv
from orchestrator.runs import RunFilter, RunStore
from orchestrator.runs_csv import COLUMNS, csv_bytes, download_count, write_csv

BASE = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def seed(store: RunStore, count: int = 40) -> list[dict]:
    rows = []
    for n in range(count):
        started = BASE + dt.timedelta(minutes=n, seconds=1) if n % 4 else None
        rows.append(
            {
                "run_id": f"run{n:03d}",
                "workflow": "simulate" if n % 3 else "plan_execute",
                "status": "failed" if n % 5 == 0 else "succeeded",
                "created_at": BASE + dt.timedelta(minutes=n),
                "started_at": started,
                "finished_at": started + dt.timedelta(seconds=n) if started else None,
                "tasks_total": n % 7,
                "tasks_completed": n % 7,
                "tasks_failed": 0,
                "tags": None if n % 6 == 0 else [f"t{n % 2}", 'café, "quoted"'],
                "input": {"tasks": n},
            }
        )
    store.insert_many(rows)
    return rows


def read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_the_csv_holds_the_filtered_runs_in_the_tables_order(store: RunStore) -> None:
    rows = seed(store)
    filters = RunFilter(statuses=["succeeded"], tasks_total_min=2)
    expected = sorted(
        (r for r in rows if r["status"] == "succeeded" and r["tasks_total"] >= 2),
        key=lambda r: (r["tasks_total"], r["run_id"]),
    )
    data = csv_bytes(store, filters, sort="tasks_total", descending=False, limit=None)
    assert data.splitlines()[0].decode() == ",".join(COLUMNS)
    written = read(data)
    assert [r["run_id"] for r in written] == [r["run_id"] for r in expected]
    by_id = {r["run_id"]: r for r in rows}
    for line in written:
        seeded = by_id[line["run_id"]]
        assert line["created_at"] == seeded["created_at"].isoformat()  # ISO 8601, UTC
        assert line["started_at"] == (seeded["started_at"].isoformat() if seeded["started_at"] else "")
        assert json.loads(line["tags"]) == (seeded["tags"] or [])
        assert int(line["tasks_total"]) == seeded["tasks_total"]
        assert line["worker"] == ""  # nothing: an empty field
    # Cut at a limit: the first runs of the same order.
    first = read(csv_bytes(store, filters, sort="tasks_total", descending=False, limit=5))
    assert [r["run_id"] for r in first] == [r["run_id"] for r in expected[:5]]


def test_every_run_newest_first_by_default_and_written_as_it_streams(store: RunStore) -> None:
    rows = seed(store, 45)
    out = io.StringIO()
    assert write_csv(store, out) == 45
    newest_first = sorted(rows, key=lambda r: (r["created_at"], r["run_id"]), reverse=True)
    assert [r["run_id"] for r in read(out.getvalue().encode())] == [r["run_id"] for r in newest_first]
    assert read(csv_bytes(store, RunFilter(statuses=["cancelled"]))) == []  # a header and no row


def test_the_download_count_says_when_the_csv_is_cut(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(store, 40)
    monkeypatch.setattr(runs_csv, "DOWNLOAD_LIMIT", 30)  # the limit of 100,000, scaled to 40 runs
    whole = download_count(store)
    assert (whole.value, whole.exact) == (30, False)  # more than 30: the CSV of 30 is cut
    narrow = download_count(store, RunFilter(statuses=["failed"]))
    assert (narrow.value, narrow.exact) == (8, True)


def test_the_csv_carries_field_columns_and_field_filters(store: RunStore) -> None:
    rows = seed(store)
    data = csv_bytes(
        store,
        RunFilter(where=["input.tasks >= 30"]),
        sort="input.tasks",
        descending=False,
        columns=["input.tasks", "input.missing"],
    )
    got = read(data)
    assert list(got[0]) == [*COLUMNS, "input.tasks", "input.missing"]
    want = sorted((r for r in rows if r["input"]["tasks"] >= 30), key=lambda r: r["input"]["tasks"])
    assert [g["run_id"] for g in got] == [r["run_id"] for r in want]
    assert [g["input.tasks"] for g in got] == [str(r["input"]["tasks"]) for r in want]
    assert {g["input.missing"] for g in got} == {""}
