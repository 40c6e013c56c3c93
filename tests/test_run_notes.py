"""Tags and a note after launch (orchestrator/run_notes.py, `orchestrator tag` and `note`, bulk
tagging), on both backends: the tags stay searchable (the runs page's search box, SQLite's search
index kept by its trigger), and every change is a run_edits row saying who, when, from what to what."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator import bulk, run_notes
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError, ReadOnlyError, RunNotFound
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action
from tests.in_process_cli import assert_one_error_line, call_cli, database_args


@pytest.fixture
def orch(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    orch = Orchestrator(config)
    yield orch
    orch.engine.dispose()


def found(orch: Orchestrator, text: str) -> list[str]:
    return [r["run_id"] for r in orch.store.page_runs(RunFilter(text=text), limit=100)]


def test_tags_edited_after_launch_are_searched_and_kept_in_the_edits(orch: Orchestrator) -> None:
    (run_id,) = orch.launch_copies("simulate", {"tasks": 1}, ["draft", "baseline"])
    (other,) = orch.launch_copies("simulate", {"tasks": 1}, ["draft"])
    assert sorted(found(orch, "draft")) == sorted([run_id, other])

    tags = run_notes.edit_tags(orch, run_id, add=["nightly-ab", " baseline "], remove=["draft"], by="ann")
    assert tags == ["baseline", "nightly-ab"] == orch.get_run(run_id)["tags"]
    assert found(orch, "nightly-ab") == [run_id]
    assert found(orch, "draft") == [other]  # the old tag no longer finds it
    # Nothing changes: no edit row.
    assert run_notes.edit_tags(orch, run_id, add=["nightly-ab"], by="bob") == ["baseline", "nightly-ab"]
    assert run_notes.set_tags(orch, run_id, ["only"], by="bob") == ["only"]

    edits = run_notes.edits(orch, run_id)
    assert [(e["by"], e["field"], e["old"], e["new"]) for e in edits] == [
        ("bob", "tags", ["baseline", "nightly-ab"], ["only"]),
        ("ann", "tags", ["draft", "baseline"], ["baseline", "nightly-ab"]),
    ]
    assert edits[0]["at"] >= edits[1]["at"] and edits[0]["at"].tzinfo is not None
    assert run_notes.edits(orch, other) == []


def test_a_note_is_written_changed_and_removed(orch: Orchestrator) -> None:
    (run_id,) = orch.launch_copies("simulate", {"tasks": 1})
    assert run_notes.set_note(orch, run_id, "**Slow**: the cache was cold.\n\n", by="ann") == (
        "**Slow**: the cache was cold."
    )
    assert orch.get_run(run_id)["note"] == "**Slow**: the cache was cold."
    run_notes.set_note(orch, run_id, "Cold cache.", by="bob")
    assert run_notes.set_note(orch, run_id, "  ", by="ann") is None
    assert orch.get_run(run_id)["note"] is None
    assert [(e["by"], e["old"], e["new"]) for e in run_notes.edits(orch, run_id)] == [
        ("ann", "Cold cache.", None),
        ("bob", "**Slow**: the cache was cold.", "Cold cache."),
        ("ann", None, "**Slow**: the cache was cold."),
    ]
    orch.cancel(run_id)
    assert orch.delete(run_id)
    assert run_notes.edits(orch, run_id) == []  # deleted with its run


def test_refusals_change_nothing(orch: Orchestrator, config: OrchestratorConfig) -> None:
    (run_id,) = orch.launch_copies("simulate", {"tasks": 1}, ["a"])
    with pytest.raises(InputError, match="at least one tag"):
        run_notes.edit_tags(orch, run_id)
    with pytest.raises(InputError, match="A tag must be one line"):
        run_notes.edit_tags(orch, run_id, add=["two\nlines"])
    with pytest.raises(InputError, match="The note"):
        run_notes.set_note(orch, run_id, "x" * (run_notes.MAX_NOTE_CHARS + 1))
    with pytest.raises(RunNotFound):
        run_notes.set_note(orch, "0" * 32, "hello")
    reader = Orchestrator(config.with_read_only())
    try:
        with pytest.raises(ReadOnlyError):
            run_notes.edit_tags(reader, run_id, add=["b"])
    finally:
        reader.engine.dispose()
    assert orch.get_run(run_id)["tags"] == ["a"] and orch.get_run(run_id)["note"] is None
    assert run_notes.edits(orch, run_id) == []


def test_bulk_tagging_by_filter(orch: Orchestrator) -> None:
    ids = orch.launch_copies("simulate", {"tasks": 1}, ["x"], copies=3)
    orch.cancel(ids[0])
    outcome = bulk.apply(
        orch, Action.TAG, RunFilter(statuses=["queued", "cancelled"]), add_tags=["b"], by="ann"
    )
    assert (outcome.done, outcome.skipped) == ({"queued": 2, "cancelled": 1}, {})
    assert outcome.sentence() == "Tagged 3 runs (2 queued, 1 cancelled)."
    assert sorted(found(orch, "x")) == sorted(ids)
    assert all(orch.get_run(r)["tags"] == ["x", "b"] for r in ids)
    with pytest.raises(InputError, match="at least one tag"):
        bulk.apply(orch, Action.TAG, ids)


def test_the_cli_tags_and_notes(orch: Orchestrator, config: OrchestratorConfig) -> None:
    db = database_args(config)
    (run_id, other) = orch.launch_copies("simulate", {"tasks": 1}, ["keep-me"], copies=2)
    tagged = call_cli("tag", run_id, "--add", "b", "--remove", "keep-me", *db)
    assert (tagged.code, tagged.out.strip()) == (0, "tag: b"), tagged
    noted = call_cli("note", run_id, "--text", "# Findings\nIt worked.", *db)
    assert (noted.code, noted.out.strip()) == (0, "note: saved"), noted
    run = orch.get_run(run_id)
    assert (run["tags"], run["note"]) == (["b"], "# Findings\nIt worked.")
    (last, first) = run_notes.edits(orch, run_id)
    assert first["by"] == last["by"] and first["by"].startswith("cli:")
    assert_one_error_line(call_cli("tag", run_id, *db), "at least one tag")
    assert_one_error_line(call_cli("tag", "--search", "keep-me", "--add", "c", *db), "--yes")
    both = call_cli("tag", "--search", "keep-me", "--add", "c", "--yes", *db)
    assert both.out.strip() == "Tagged 1 run (1 queued).", both
    assert orch.get_run(other)["tags"] == ["keep-me", "c"]
