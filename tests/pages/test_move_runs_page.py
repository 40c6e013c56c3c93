"""The runs page's "Move runs": the filtered runs exported to a runs file, and an uploaded runs file
previewed (new / unchanged / with other content) before it is imported (both backends)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

from sqlalchemy import delete, update

from orchestrator.db.schema import runs
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.transfer.files import export_bytes
from tests.apptest_helpers import open_page

PREVIEW = (
    "The file holds 3 runs (0 checkpoints, 0 pending writes, 0 presets): 1 new, 1 already here unchanged, "
    "1 already here with other content."
)


def seed(orch: Orchestrator) -> None:
    base = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {
                "run_id": f"x{n}",
                "workflow": "simulate",
                "status": status,
                "created_at": base + dt.timedelta(minutes=n),
                "input": {"tasks": n + 1},
                "tags": ["moved"],
            }
            for n, status in enumerate(["succeeded", "failed", "cancelled", "queued"])
        ]
    )


def test_an_upload_is_previewed_then_imported_as_chosen(page_orch: Orchestrator) -> None:
    seed(page_orch)
    data = export_bytes(page_orch.config, RunFilter(statuses=["succeeded", "failed", "cancelled"]))
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert sorted(r["row"]["run_id"] for r in lines if r["kind"] == "run") == [
        "x0",
        "x1",
        "x2",
    ]  # the filter's
    with page_orch.engine.begin() as conn:  # here now: x0 as exported, x1 changed, x2 gone
        conn.execute(update(runs).where(runs.c.run_id == "x1").values(tags=["changed here"]))
        conn.execute(delete(runs).where(runs.c.run_id == "x2"))

    at = open_page("runs")
    (uploader,) = at.get("file_uploader")
    uploader.set_value(("runs.jsonl.gz", data, "application/gzip"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert PREVIEW in [str(m.value) for m in at.markdown]
    assert any("`x1`" in str(c.value) for c in at.caption)
    assert at.button(key="runs_import_confirm").label == "Import 1 run"  # skip is the default
    assert page_orch.store.get_run("x2") is None  # a preview writes nothing

    at.button(key="runs_import_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Imported 1 runs, replaced 0, left 2 as they were." in [str(s.value) for s in at.success]
    assert page_orch.get_run("x2")["status"] == "cancelled"
    assert page_orch.get_run("x1")["tags"] == ["changed here"]  # kept: skip
    assert not at.get("file_uploader")[0].value  # a fresh uploader for the next file


def test_a_file_cut_short_is_refused_with_its_line(page_orch: Orchestrator) -> None:
    seed(page_orch)
    text = gzip.decompress(export_bytes(page_orch.config)).decode().splitlines()
    cut = "\n".join(text[:-1]).encode()  # no end record
    at = open_page("runs")
    at.get("file_uploader")[0].set_value(("runs.jsonl", cut, "application/octet-stream"))
    at.run()
    (error,) = [str(e.value) for e in at.error]
    assert error.startswith("runs.jsonl line ") and "cut short" in error, error
    assert "upload" not in error and "/tmp" not in error
    assert not [b for b in at.button if b.key == "runs_import_confirm"]
