"""What people do to runs: launch, cancel, resume, approve, reject, re-run, delete.

The pages and the CLI call these; the executor carries them out. Each is safe to call twice,
and says in one sentence why it does not apply to a run in its current status.

    >>> orch = Orchestrator(OrchestratorConfig())
    >>> run_id = orch.launch("simulate", {"tasks": 5})
    >>> orch.cancel(run_id)
    'cancelled'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine

from orchestrator.checkpointer import open_sync_saver, setup_saver_tables
from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_schema, describe_connection_error, make_engine, upgrade_schema, utcnow
from orchestrator.errors import InputError, InvalidOperation, ReadOnlyError, RunNotFound
from orchestrator.rows import RunRow
from orchestrator.runs import RunStore, new_run_id
from orchestrator.status import RunStatus
from orchestrator.validation import check_json_value, check_name, is_run_id, shown
from orchestrator.workflows import WorkflowRegistry, load_registry

MAX_COPIES = 100


class Orchestrator:
    """The package's front door: config, engine, run store, workflow registry and operations."""

    def __init__(
        self, config: OrchestratorConfig | None = None, *, engine: Engine | None = None, migrate: bool = True
    ):
        """Open the configured database; with `migrate`, create or upgrade `runs` first.

        A read-only config opens the database read-only (SQLite: no file or table is created)
        and, instead of migrating, checks that the schema is there and current.
        """
        self.config = config or OrchestratorConfig()
        self.config.validate()
        read_only = self.config.read_only
        self.engine = engine or make_engine(self.config, read_only=read_only)
        if migrate and read_only:
            check_schema(self.engine)
        elif migrate:
            upgrade_schema(self.engine)
            try:
                setup_saver_tables(self.config, self.engine)
            except (psycopg.Error, sqlite3.Error) as exc:
                raise describe_connection_error(exc, self.engine.url) from None
        self.store = RunStore(self.engine, read_only=read_only)
        self._registry: WorkflowRegistry | None = None

    @property
    def registry(self) -> WorkflowRegistry:
        if self._registry is None:
            self._registry = load_registry(self.config.workflows, self.config.model)
        return self._registry

    def _writable(self) -> None:
        if self.config.read_only:
            raise ReadOnlyError(
                "This orchestrator is read-only (ORCHESTRATOR_READ_ONLY is set); "
                "ask someone with a writable deployment to make this change."
            )

    def get_run(self, run_id: str) -> RunRow:
        """The run's row, or RunNotFound."""
        run = self.store.get_run(run_id)
        if run is None:
            raise RunNotFound(
                f"No run has the id {shown(run_id)}; check the id (python -m orchestrator runs lists them)."
            )
        return run

    # -- launching ----------------------------------------------------------------------

    def launch(
        self,
        workflow: str,
        input: dict[str, Any] | None,
        tags: Sequence[str] | None = None,
        *,
        launched_by: str | None = None,
    ) -> str:
        """Validate the input, queue the run, and return its id at once.

        `launched_by` records who asked (a user's email, a browser's launcher id, user@host).
        """
        return self.launch_copies(workflow, input, tags, 1, launched_by=launched_by)[0]

    def launch_copies(
        self,
        workflow: str,
        input: dict[str, Any] | None,
        tags: Sequence[str] | None = None,
        copies: int = 1,
        *,
        launched_by: str | None = None,
    ) -> list[str]:
        """Queue `copies` identical runs (load and flakiness checks) in one transaction: all or none."""
        self._writable()
        check_json_value(input, "The input")
        if launched_by is not None:
            check_name(launched_by, "launched_by")
        if not 1 <= copies <= MAX_COPIES:
            raise InputError(
                f"The number of copies must be between 1 and {MAX_COPIES}.", {"copies": "out of range"}
            )
        checked = self.registry.get(workflow).validate_input(input or {})
        rows: list[dict[str, Any]] = [
            {
                "run_id": new_run_id(),
                "workflow": workflow,
                "status": "queued",
                "created_at": utcnow(),
                "input": checked,
                "tags": _clean_tags(tags),
                "launched_by": launched_by,
            }
            for _ in range(copies)
        ]
        self.store.insert_many(rows)
        return [str(row["run_id"]) for row in rows]

    def rerun(self, run_id: str, *, launched_by: str | None = None) -> str:
        """A new queued run with the same workflow, input and tags (by `launched_by`, else the original's)."""
        self._writable()
        run = self.get_run(run_id)
        spec = self.registry.get(run["workflow"])
        checked = spec.validate_input(run["input"] or {})
        return self.store.create_run(
            run["workflow"],
            checked,
            run["tags"],
            rerun_of=run_id,
            launched_by=launched_by or run["launched_by"],
        )

    # -- controlling --------------------------------------------------------------------

    def cancel(self, run_id: str) -> str:
        """Cancel a run; returns its status afterwards ('cancelled', or 'running' while it stops).

        A queued, waiting or interrupted run is cancelled at once; a running one is asked to
        stop and its executor cancels it within a heartbeat.
        """
        self._writable()
        run = self.get_run(run_id)
        store = self.store
        if store.set_status(
            run_id,
            "cancelled",
            expected=["queued", "awaiting_input", "interrupted"],
            error="Cancelled on request.",
        ):
            return "cancelled"
        if store.update_run(run_id, expected=["running"], cancel_requested=True):
            return "running"
        run = self.get_run(run_id)
        if run["status"] == "cancelled":
            return "cancelled"
        raise InvalidOperation(
            f"Run {run_id} has already {run['status']}; only queued, running, waiting or interrupted runs can be cancelled."
        )

    def resume(self, run_id: str) -> str:
        """Queue an interrupted or failed run again; it continues from its last checkpoint."""
        self._writable()
        run = self.get_run(run_id)
        if self.store.update_run(
            run_id,
            expected=["interrupted", "failed"],
            status="queued",
            worker=None,
            cancel_requested=False,
            finished_at=None,
            duration_seconds=None,
        ):
            return "queued"
        run = self.get_run(run_id)
        if run["status"] in ("queued", "running"):
            return run["status"]
        raise InvalidOperation(
            f"Run {run_id} is {run['status']}; only interrupted or failed runs can be resumed."
        )

    def pending_interrupts(self, run_id: str) -> list[dict[str, Any]]:
        """The questions a waiting run asks: [{"id": ..., "value": ...}], from its snapshot."""
        run = self.get_run(run_id)
        if run["status"] != "awaiting_input":
            return []
        return list((run["state_snapshot"] or {}).get("__interrupt__", []))

    def approve(self, run_id: str, value: Any = None, *, interrupt_id: str | None = None) -> str:
        """Answer the run's pending interrupt() with `value` and queue it to continue.

        With several pending interrupts (after a fan-out), give `interrupt_id`, or a `value`
        that maps interrupt ids to answers.
        """
        self._writable()
        check_json_value(value, "The answer")
        run = self.get_run(run_id)
        # Approved already: the answer is waiting to be picked up, or an executor has taken it
        # (the snapshot still holds the question until the run writes its next one).
        if run["status"] in ("queued", "running") and (
            run.get("resume_value") is not None or "__interrupt__" in (run["state_snapshot"] or {})
        ):
            return run["status"]
        pending = self.pending_interrupts(run_id)
        if run["status"] != "awaiting_input" or not pending:
            raise InvalidOperation(f"Run {run_id} is {run['status']} and waits for no approval.")
        ids = [p["id"] for p in pending]
        if interrupt_id is not None:
            if interrupt_id not in ids:
                raise InputError(
                    f"Run {run_id} has no pending interrupt {interrupt_id!r}; choose one of {', '.join(sorted(ids))}."
                )
            answer: dict[str, Any] = {interrupt_id: value}
        elif isinstance(value, dict) and value and set(value) <= set(ids):
            answer = dict(value)
        elif len(pending) > 1:
            raise InputError(
                f"Run {run_id} waits on {len(pending)} interrupts; answer each by id ({', '.join(sorted(ids))})."
            )
        else:
            answer = {ids[0]: value}
        # Answers are kept by interrupt id, so the executor can tell whether one still applies.
        if self.store.update_run(
            run_id,
            expected=[RunStatus.AWAITING_INPUT],
            status=RunStatus.QUEUED,
            resume_value={"resume": answer},
            worker=None,
        ):
            return RunStatus.QUEUED
        return self.get_run(run_id)["status"]

    def reject(self, run_id: str, reason: str = "") -> str:
        """Refuse a waiting run's request: it ends `cancelled` with the reason stored."""
        self._writable()
        run = self.get_run(run_id)
        if not isinstance(reason, str) or "\x00" in reason:
            raise InputError("The reason must be text without NUL bytes.")
        message = f"Rejected: {reason.strip()}" if reason.strip() else "Rejected."
        if self.store.set_status(run_id, "cancelled", expected=["awaiting_input"], error=message):
            return "cancelled"
        if run["status"] == "cancelled":
            return "cancelled"
        raise InvalidOperation(f"Run {run_id} is {run['status']} and waits for no approval.")

    def delete(self, run_id: str) -> bool:
        """Delete a run: its row and task rows first, then its checkpoints (through the saver).

        Returns False when there was nothing to delete. A run that is going must be cancelled first.
        """
        self._writable()
        if not is_run_id(run_id):
            return False  # no run can have this id
        run = self.store.get_run(run_id)
        if run is not None and run["status"] in ("running", "queued"):
            raise InvalidOperation(f"Run {run_id} is {run['status']}; cancel it before deleting it.")
        deleted = self.store.delete_run(run_id)
        with open_sync_saver(self.config) as saver:
            saver.delete_thread(run_id)
        return deleted


def _clean_tags(tags: Sequence[str] | None) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    cleaned = []
    for tag in tags or []:
        if not isinstance(tag, str):
            raise InputError("Tags must be text.")
        tag = tag.strip()
        if tag and check_name(tag, "A tag") not in cleaned:
            cleaned.append(tag)
    return cleaned
