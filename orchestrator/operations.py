"""What people do to runs: launch, cancel, resume, approve, reject, re-run, delete
(answering an interrupt: orchestrator.answers).

The pages and the CLI call these; the executor carries them out. Each says in one sentence why
it does not apply to a run in its current status; cancel and resume are safe to call twice, and
an answer (approve, respond, reject) is accepted once: the first one wins.

    >>> orch = Orchestrator(OrchestratorConfig())
    >>> run_id = orch.launch("simulate", {"tasks": 5})
    >>> orch.cancel(run_id)
    'cancelled'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_schema, describe_connection_error, make_engine, upgrade_schema, utcnow
from orchestrator.errors import InputError, InvalidOperation, ReadOnlyError, RunNotFound
from orchestrator.observe.reads import ObservationReader
from orchestrator.presets import PresetStore
from orchestrator.rows import RunRow
from orchestrator.runs import RunStore, new_run_id
from orchestrator.status import CANCELLED_ON_REQUEST, Action, RunStatus, refusal, statuses_allowing
from orchestrator.validation import check_json_value, check_name, check_text, clean_tags, is_run_id, shown
from orchestrator.workers import WorkerRow, WorkerStore

if TYPE_CHECKING:
    from orchestrator.workflows import WorkflowRegistry

# LangGraph, the workflows, the savers and the answers' checks are imported where an operation
# needs them: a read (the CLI's `runs`, `show`, a page) opens an Orchestrator without them.

MAX_COPIES = 100
MAX_DESCRIPTION_CHARS = 2_000


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
            import psycopg

            from orchestrator.checkpointer import setup_saver_tables

            upgrade_schema(self.engine)
            try:
                setup_saver_tables(self.config, self.engine)
            except (psycopg.Error, sqlite3.Error) as exc:
                raise describe_connection_error(exc, self.engine.url) from None
        self.store = RunStore(self.engine, read_only=read_only)
        self.observations = ObservationReader(self.engine)  # what its tasks logged, its model calls
        self.presets = PresetStore(self.engine, read_only=read_only)
        self._registry: WorkflowRegistry | None = None

    @property
    def registry(self) -> WorkflowRegistry:
        if self._registry is None:
            from orchestrator.workflows import load_registry

            self._registry = load_registry(self.config.workflows, self.config.model)
        return self._registry

    def check_writable(self) -> None:
        """ReadOnlyError (one sentence) when this orchestrator is read-only."""
        self._writable()

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
        config: dict[str, Any] | None = None,
        preset: str | None = None,
        launched_by: str | None = None,
    ) -> str:
        """Validate the input and config, queue the run, and return its id at once.

        `config` holds the run's `configurable` keys (checked against the graph's context
        schema when it declares one); `preset` starts from a saved preset's input and config,
        which `input` and `config` override key by key. `launched_by` records who asked (a
        user's email, a browser's launcher id, user@host).
        """
        return self.launch_copies(
            workflow, input, tags, 1, config=config, preset=preset, launched_by=launched_by
        )[0]

    def launch_copies(
        self,
        workflow: str,
        input: dict[str, Any] | None,
        tags: Sequence[str] | None = None,
        copies: int = 1,
        *,
        config: dict[str, Any] | None = None,
        preset: str | None = None,
        launched_by: str | None = None,
    ) -> list[str]:
        """Queue `copies` identical runs (load and flakiness checks) in one transaction: all or none."""
        self._writable()
        check_json_value(input, "The input")
        check_json_value(config, "The config")
        if launched_by is not None:
            check_name(launched_by, "launched_by")
        if not 1 <= copies <= MAX_COPIES:
            raise InputError(
                f"The number of copies must be between 1 and {MAX_COPIES}.", {"copies": "out of range"}
            )
        if preset is not None:
            saved = self.presets.get(workflow, preset)
            input = {**(saved["input"] or {}), **(input or {})}
            config = {**(saved["config"] or {}), **(config or {})}
        checked, checked_config = self.check_launch(workflow, input, config)
        planned = self.registry.get(workflow).tasks_planned(checked)
        rows: list[dict[str, Any]] = [
            {
                "run_id": new_run_id(),
                "workflow": workflow,
                "status": RunStatus.QUEUED,
                "created_at": utcnow(),
                "input": checked,
                "config": checked_config or None,
                "preset": preset,
                "tags": clean_tags(tags),
                "launched_by": launched_by,
                "tasks_planned": planned,
            }
            for _ in range(copies)
        ]
        self.store.insert_many(rows)
        return [str(row["run_id"]) for row in rows]

    def check_launch(
        self, workflow: str, input: dict[str, Any] | None, config: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The validated input and config; one InputError with every field's problem at once
        (config fields as `config.<name>`)."""
        spec = self.registry.get(workflow)
        errors: list[InputError] = []
        checked: dict[str, Any] = {}
        checked_config: dict[str, Any] = {}
        try:
            checked = spec.validate_input(input or {})
        except InputError as exc:
            errors.append(exc)
        try:
            checked_config = spec.validate_config(config)
        except InputError as exc:
            errors.append(InputError(str(exc), {f"config.{k}": v for k, v in exc.field_errors.items()}))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise InputError(
                " ".join(str(e) for e in errors), {k: v for e in errors for k, v in e.field_errors.items()}
            )
        return checked, checked_config

    def rerun(self, run_id: str, *, launched_by: str | None = None) -> str:
        """A new queued run with the same workflow, input, config and tags (by `launched_by`,
        else the original's)."""
        self._writable()
        run = self.get_run(run_id)
        checked, checked_config = self.check_launch(run["workflow"], run["input"], run["config"])
        row = {
            "run_id": new_run_id(),
            "workflow": run["workflow"],
            "status": RunStatus.QUEUED,
            "created_at": utcnow(),
            "input": checked,
            "config": checked_config or None,
            "preset": run["preset"],
            "tags": list(run["tags"] or []),
            "rerun_of": run_id,
            "launched_by": launched_by or run["launched_by"],
            "tasks_planned": self.registry.get(run["workflow"]).tasks_planned(checked),
        }
        self.store.insert_many([row])
        return str(row["run_id"])

    def fork(
        self,
        run_id: str,
        checkpoint_id: str,
        values: dict[str, Any] | None = None,
        *,
        launched_by: str | None = None,
    ) -> str:
        """A new queued run that continues `run_id` from one of its checkpoints, with the state
        there changed by `values` (LangGraph's update_state) or as it was.

        The fork records its parent and the step; it runs the step after the checkpoint again,
        which is how a wrong answer to an interrupt is corrected.
        """
        self._writable()
        parent = self.get_run(run_id)
        check_name(checkpoint_id, "The checkpoint id")
        check_json_value(values, "The state")
        spec = self.registry.get(parent["workflow"])
        new_id = new_run_id()
        from orchestrator.checkpointer import open_sync_saver
        from orchestrator.forks import copy_until, state_update, writer_of

        with open_sync_saver(self.config) as saver:
            try:
                point = copy_until(saver, run_id, new_id, checkpoint_id, {"run_id": new_id})
                # The parent's step at the fork point (an edited state adds a checkpoint after it).
                step = (saver.get_tuple(point) or _missing(checkpoint_id)).metadata.get("step")
                if values:
                    builder = spec.build()
                    update = state_update(builder, values)
                    nodes = {task["task_id"]: task["node"] for task in self.store.get_tasks(run_id)}
                    as_node = writer_of(saver, run_id, checkpoint_id, nodes)
                    graph = builder.compile(checkpointer=saver)
                    point = graph.update_state(point, update, as_node=as_node)
            except InputError:
                saver.delete_thread(new_id)
                raise
            except Exception as exc:
                saver.delete_thread(new_id)
                raise InputError(
                    f"The state cannot be set at that checkpoint ({type(exc).__name__}: {exc}); "
                    "give only keys of the workflow's state."
                ) from None
        self.store.insert_many(
            [
                {
                    "run_id": new_id,
                    "workflow": parent["workflow"],
                    "status": RunStatus.QUEUED,
                    "created_at": utcnow(),
                    "input": parent["input"],
                    "config": parent["config"],
                    "preset": parent["preset"],
                    "tags": list(parent["tags"] or []),
                    "parent_run_id": run_id,
                    "parent_checkpoint_id": checkpoint_id,
                    "parent_step": step,
                    "launched_by": launched_by or parent["launched_by"],
                }
            ]
        )
        return new_id

    # -- presets --------------------------------------------------------------------------

    def save_preset(
        self,
        workflow: str,
        name: str,
        input: dict[str, Any] | None,
        config: dict[str, Any] | None = None,
        *,
        description: str | None = None,
        created_by: str | None = None,
    ) -> None:
        """Save a named input and config for `workflow` (replacing one of the same name)."""
        self._writable()
        name = check_name(name.strip() if isinstance(name, str) else name, "A preset name")
        if not name:
            raise InputError("A preset needs a name.", {"name": "is required"})
        check_json_value(input, "The input")
        check_json_value(config, "The config")
        if description is not None:
            check_text(description, "The preset's description", MAX_DESCRIPTION_CHARS)
        checked, checked_config = self.check_launch(workflow, input, config)
        self.presets.save(
            workflow, name, checked, checked_config, description=description, created_by=created_by
        )

    # -- workers --------------------------------------------------------------------------

    def workers(self, *, include_offline: bool = True, hide_gone: bool = False) -> list[WorkerRow]:
        """The executors that recorded themselves, online first (heartbeat within stale_after);
        with `hide_gone`, not those offline for longer than the config's `workers_hidden_after_seconds`."""
        return WorkerStore(self.engine).list(
            self.config.stale_after_seconds,
            include_offline=include_offline,
            hide_gone_after=self.config.workers_hidden_after_seconds if hide_gone else None,
        )

    def waiting_reason(self, run: RunRow) -> str | None:
        """Why a queued run does not start, in one sentence, when no online worker can run it."""
        if run["status"] != RunStatus.QUEUED:
            return None
        online = WorkerStore(self.engine).list(self.config.stale_after_seconds, include_offline=False)
        if not online:
            return (
                "No worker is online; start one (python -m orchestrator worker) or the dashboard's executor."
            )
        if not any(run["workflow"] in w["workflows"] for w in online):
            return (
                f"No online worker can run workflow '{run['workflow']}'; start a worker that can import it "
                "(python -m orchestrator workers lists what each worker runs)."
            )
        return None

    # -- controlling --------------------------------------------------------------------

    def cancel(self, run_id: str) -> str:
        """Cancel a run; returns its status afterwards ('cancelled', or 'running' while it stops).

        A queued, waiting or interrupted run is cancelled at once; a running one is asked to
        stop and its executor cancels it within a heartbeat. What allows it: status.py's table.
        """
        self._writable()
        self.get_run(run_id)
        at_once = [s for s in statuses_allowing(Action.CANCEL) if s != RunStatus.RUNNING]
        if self.store.set_status(run_id, RunStatus.CANCELLED, expected=at_once, error=CANCELLED_ON_REQUEST):
            return RunStatus.CANCELLED
        if self.store.update_run(run_id, expected=[RunStatus.RUNNING], cancel_requested=True):
            return RunStatus.RUNNING
        raise InvalidOperation(refusal(run_id, self.get_run(run_id)["status"], Action.CANCEL))

    def resume(self, run_id: str) -> str:
        """Queue an interrupted or failed run again; it continues from its last checkpoint."""
        self._writable()
        self.get_run(run_id)
        if self.store.update_run(
            run_id,
            expected=statuses_allowing(Action.RESUME),
            status=RunStatus.QUEUED,
            worker=None,
            cancel_requested=False,
            finished_at=None,
            wall_seconds=None,
        ):
            return RunStatus.QUEUED
        raise InvalidOperation(refusal(run_id, self.get_run(run_id)["status"], Action.RESUME))

    def pending_interrupts(self, run_id: str) -> list[dict[str, Any]]:
        """The questions a waiting run asks: [{"id": ..., "value": ...}], from its snapshot."""
        run = self.get_run(run_id)
        if run["status"] != RunStatus.AWAITING_INPUT:
            return []
        return list((run["state_snapshot"] or {}).get("__interrupt__", []))

    def approve(
        self,
        run_id: str,
        value: Any = None,
        *,
        interrupt_id: str | None = None,
        answered_by: str | None = None,
    ) -> str:
        """Answer the run's pending interrupt() with `value` and queue it to continue.

        Without a value the question is approved as proposed: an Agent Inbox request gets an
        `accept` response, any other question the answer `True` (never None). With several
        pending interrupts (after a fan-out), give `interrupt_id`, or a `value` mapping ids to
        answers. The answer is checked first (InputError; the run keeps waiting): by the
        workflow (its `answer_model`, a built-in's own check) and by the interrupt's
        `response_schema`. The first answer to an interrupt wins: a later or concurrent one is
        refused with AlreadyAnswered, saying who answered (`answered_by`), when and what.
        """
        self._writable()
        from orchestrator import answers

        return answers.approve(self, run_id, value, interrupt_id=interrupt_id, answered_by=answered_by)

    def respond(
        self,
        run_id: str,
        kind: str,
        args: Any = None,
        *,
        interrupt_id: str | None = None,
        answered_by: str | None = None,
    ) -> str:
        """Answer an Agent Inbox request (a HumanInterrupt) with a HumanResponse of `kind`:
        accept, edit (args: the action's new arguments), response (args: text) or ignore.
        The first answer wins, as for `approve`."""
        self._writable()
        from orchestrator import answers

        return answers.respond(self, run_id, kind, args, interrupt_id=interrupt_id, answered_by=answered_by)

    def reject(
        self,
        run_id: str,
        reason: str = "",
        *,
        interrupt_id: str | None = None,
        answered_by: str | None = None,
    ) -> str:
        """Refuse a waiting run's request. When the question takes a rejection as an answer (an
        Agent Inbox request allowing `ignore`, or `response` with the reason), the graph gets it
        and goes on; otherwise the run ends `cancelled` with the reason stored. The first answer
        wins, as for `approve`."""
        self._writable()
        from orchestrator import answers

        return answers.reject(self, run_id, reason, interrupt_id=interrupt_id, answered_by=answered_by)

    def delete(self, run_id: str) -> bool:
        """Delete a run: its row and task rows first, then its checkpoints (through the saver).

        Returns False when there was nothing to delete. A run that is going must be cancelled
        first (status.py's table says which statuses allow it; the check is in the DELETE).
        """
        self._writable()
        if not is_run_id(run_id):
            return False  # no run can have this id
        deleted = self.store.delete_run(run_id, expected=statuses_allowing(Action.DELETE))
        if not deleted and (run := self.store.get_run(run_id)) is not None:
            raise InvalidOperation(refusal(run_id, run["status"], Action.DELETE) + " Cancel it first.")
        from orchestrator.checkpointer import open_sync_saver

        with open_sync_saver(self.config) as saver:
            saver.delete_thread(run_id)
        return deleted


def _missing(checkpoint_id: str) -> Any:
    raise InputError(f"No checkpoint {checkpoint_id!r} was found; choose one from the run's checkpoint list.")
