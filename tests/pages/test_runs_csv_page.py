"""The runs page's CSV buttons (both backends): when the filter matches more runs than the CSV
holds, the page says so in one sentence and offers the whole file; otherwise one button."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator import run_queries, runs_csv
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import main_texts, open_page


def seed(orch: Orchestrator, count: int) -> None:
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {"run_id": f"r{n:03d}", "workflow": "simulate", "status": "failed" if n < 5 else "succeeded",
             "created_at": base + dt.timedelta(minutes=n), "input": {"tasks": 1}, "tags": []}
            for n in range(count)
        ]
    )  # fmt: skip


def download_labels(at) -> list[str]:
    """The CSV buttons (Move runs' export is a download button too)."""
    return [element.proto.label for element in at.get("download_button") if "(CSV)" in element.proto.label]


def test_a_cut_csv_says_so_and_offers_the_whole_file(
    page_orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(page_orch, 40)
    # The page counts exactly up to 10,000 and the CSV holds 100,000: scaled to 40 runs.
    monkeypatch.setattr(run_queries, "COUNT_CAP", 10)
    monkeypatch.setattr(runs_csv, "DOWNLOAD_LIMIT", 30)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    assert download_labels(at) == ["Download filtered runs (CSV)", "Download all matching runs (CSV)"]
    assert (
        "The CSV holds the first 30 runs of this filter's more than 30, in the table's order; "
        "**Download all** holds every one (about 200 bytes a run)."
    ) in main_texts(at, "caption")

    at = open_page("runs", status="failed")  # 5 runs: counted exactly, nothing cut
    assert not at.exception
    assert download_labels(at) == ["Download filtered runs (CSV)"]
    assert not [c for c in main_texts(at, "caption") if "Download all" in c]
