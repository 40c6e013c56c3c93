"""Run detail's "Note and tags" tab (both backends): tags and a markdown note changed after
launch, saved with who changed them (the browser's launcher id here, no login), kept searchable;
read-only mode shows them without the form."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator import run_notes
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from tests.apptest_helpers import open_page, reset_streamlit


def save(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Save"]
    return button.click().run()


def test_tags_and_note_are_edited_on_run_detail(page_orch: Orchestrator) -> None:
    (run_id,) = page_orch.launch_copies("simulate", {"tasks": 1}, ["draft", "keep"])
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="detail_tags").value == ["draft", "keep"]
    at.multiselect(key="detail_tags").set_value(["keep", "found-cold-cache"])
    at.text_area(key="detail_note").set_value("## Why slow\nThe cache was **cold**.")
    save(at)
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.main.success] == ["Saved the tags and the note."]

    run = page_orch.get_run(run_id)
    assert (run["tags"], run["note"]) == (
        ["keep", "found-cold-cache"],
        "## Why slow\nThe cache was **cold**.",
    )
    assert [r["run_id"] for r in page_orch.store.page_runs(RunFilter(text="cold-cache"))] == [run_id]
    assert "## Why slow\nThe cache was **cold**." in [m.value for m in at.main.markdown]
    edits = run_notes.edits(page_orch, run_id)
    assert sorted(e["field"] for e in edits) == ["note", "tags"]
    by = {e["by"] for e in edits}
    assert len(by) == 1 and by.pop().startswith("browser:")  # the launcher id the launch page uses
    (table,) = [df.value for df in at.main.dataframe if "by" in df.value.columns]
    assert sorted(table["field"]) == ["note", "tags"]

    # A bad tag: one sentence, and nothing stored.
    at.multiselect(key="detail_tags").set_value(["keep", "two\nlines"])
    save(at)
    assert [e.value for e in at.main.error] == [
        "A tag must be one line of 1 to 200 characters, without control characters such as a newline, "
        "a tab or NUL."
    ]
    assert page_orch.get_run(run_id)["tags"] == ["keep", "found-cold-cache"]


def test_read_only_shows_the_note_without_the_form(
    page_orch: Orchestrator, clean_env: pytest.MonkeyPatch
) -> None:
    (run_id,) = page_orch.launch_copies("simulate", {"tasks": 1}, ["x"])
    run_notes.set_note(page_orch, run_id, "Read **me**.", by="ann")
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    reset_streamlit()
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    assert "Read **me**." in [m.value for m in at.main.markdown]
    assert not [b for b in at.button if b.label == "Save"]
    assert not at.text_area
    reset_streamlit()
