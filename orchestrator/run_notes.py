"""A run's tags and note after launch, and who changed them (`run_edits`).

A change reads the run's current value, writes the new one and its `run_edits` row in one write
transaction (PostgreSQL: the row locked; SQLite: one writer at a time), so two people tagging at
once both count and each edit says what it changed from. An edit that changes nothing is not
recorded. Tags stay searchable: the search box reads `runs.tags` (SQLite's search index follows
it by trigger, migration 0008).

    >>> edit_tags(orch, run_id, add=["nightly"], remove=["draft"], by="cli:ann@box")
    ['baseline', 'nightly']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from orchestrator.db import run_edits, runs, utcnow
from orchestrator.errors import InputError, RunNotFound
from orchestrator.operations import Orchestrator
from orchestrator.validation import check_name, check_text, clean_tags, is_run_id, shown

# A note is markdown of at most this many characters.
MAX_NOTE_CHARS = 20_000
FIELDS = ("tags", "note")


def changed_tags(old: Sequence[str] | None, add: Sequence[str], remove: Sequence[str]) -> list[str]:
    """The tags after removing `remove` and adding `add` (at the end, once each)."""
    kept = [tag for tag in old or [] if tag not in remove]
    return kept + [tag for tag in add if tag not in kept]


def edit_tags(
    orch: Orchestrator,
    run_id: str,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    *,
    by: str | None = None,
) -> list[str]:
    """Add and remove tags of a run (a tag both added and removed is added); its tags afterwards."""
    added, removed = clean_tags(add), clean_tags(remove)
    if not added and not removed:
        raise InputError("Give at least one tag to add or remove.")
    return _change(orch, run_id, "tags", lambda old: changed_tags(old, added, removed), by)


def set_tags(orch: Orchestrator, run_id: str, tags: Sequence[str], *, by: str | None = None) -> list[str]:
    """Replace a run's tags (the run detail form); its tags afterwards."""
    new = clean_tags(tags)
    return _change(orch, run_id, "tags", lambda _old: new, by)


def set_note(orch: Orchestrator, run_id: str, text: str, *, by: str | None = None) -> str | None:
    """Write a run's markdown note (blank text removes it); the note afterwards."""
    check_text(text, "The note", MAX_NOTE_CHARS)
    new = text.rstrip() or None
    return _change(orch, run_id, "note", lambda _old: new, by)


def edits(orch: Orchestrator, run_id: str) -> list[dict[str, Any]]:
    """Who changed the run's tags or note, when, from what to what: newest first."""
    if not is_run_id(run_id):
        return []
    stmt = (
        select(run_edits.c.at, run_edits.c.by, run_edits.c.field, run_edits.c.old, run_edits.c.new)
        .where(run_edits.c.run_id == run_id)
        .order_by(run_edits.c.at.desc(), run_edits.c.id.desc())
    )
    with orch.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def _missing(run_id: str) -> RunNotFound:
    return RunNotFound(
        f"No run has the id {shown(run_id)}; check the id (python -m orchestrator runs lists them)."
    )


def _change(
    orch: Orchestrator, run_id: str, field: str, compute: Callable[[Any], Any], by: str | None
) -> Any:
    orch.check_writable()
    if by is not None:
        check_name(by, "by")
    if not is_run_id(run_id):
        raise _missing(run_id)
    column = runs.c[field]
    with orch.store.transaction() as conn:
        row = conn.execute(select(column).where(runs.c.run_id == run_id).with_for_update()).first()
        if row is None:
            raise _missing(run_id)
        old = row[0]
        new = compute(old)
        if new == old or (field == "tags" and not old and not new):
            return new
        conn.execute(update(runs).where(runs.c.run_id == run_id).values({field: new}))
        conn.execute(
            insert(run_edits).values(run_id=run_id, at=utcnow(), by=by, field=field, old=old, new=new)
        )
    return new
