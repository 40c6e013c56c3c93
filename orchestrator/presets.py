"""Presets: a named input and config for a workflow (a team's "assistants"), launched from the
page or with `run --preset NAME`. Stored in the `presets` table.

    >>> presets = PresetStore(engine)
    >>> presets.save("report", "emea-weekly", {"region": "EMEA"}, {"ledger_url": "https://…"})
    >>> presets.get("report", "emea-weekly")["input"]
    {'region': 'EMEA'}
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import Engine, delete, select

from orchestrator.db import presets, upsert, utcnow
from orchestrator.errors import InputError, ReadOnlyError
from orchestrator.validation import check_name


class Preset(TypedDict):
    workflow: str
    name: str
    description: str | None
    input: dict[str, Any] | None
    config: dict[str, Any] | None
    created_at: Any
    created_by: str | None


class PresetStore:
    """Create, list and delete presets (SQLAlchemy Core over the `presets` table)."""

    def __init__(self, engine: Engine, *, read_only: bool = False):
        self.engine, self.read_only = engine, read_only

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                "This orchestrator is read-only (ORCHESTRATOR_READ_ONLY is set); presets cannot change."
            )

    def save(
        self,
        workflow: str,
        name: str,
        input: dict[str, Any] | None,
        config: dict[str, Any] | None,
        *,
        description: str | None = None,
        created_by: str | None = None,
    ) -> None:
        """Create the preset, or replace the one of that name (input and config already checked)."""
        self._writable()
        row = {
            "workflow": workflow,
            "name": name,
            "description": description,
            "input": input or {},
            "config": config or {},
            "created_at": utcnow(),
            "created_by": created_by,
        }
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                upsert(conn, presets, [row], ("workflow", "name"))

    def get(self, workflow: str, name: str) -> Preset:
        """The preset, or InputError naming the presets there are."""
        check_name(name, "A preset name")
        stmt = select(presets).where(presets.c.workflow == workflow, presets.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            names = [p["name"] for p in self.list(workflow)]
            choose = f"choose one of {', '.join(names)}" if names else "save one first"
            raise InputError(f"Workflow '{workflow}' has no preset {name!r}; {choose}.")
        return dict(row._mapping)  # type: ignore[return-value]

    def list(self, workflow: str | None = None) -> list[Preset]:
        """Presets, by workflow and name."""
        stmt = select(presets).order_by(presets.c.workflow, presets.c.name)
        if workflow is not None:
            stmt = stmt.where(presets.c.workflow == workflow)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]  # type: ignore[misc]

    def delete(self, workflow: str, name: str) -> bool:
        """Delete a preset; False when there was none."""
        self._writable()
        check_name(name, "A preset name")
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                deleted = conn.execute(
                    delete(presets).where(presets.c.workflow == workflow, presets.c.name == name)
                ).rowcount
        return deleted > 0
