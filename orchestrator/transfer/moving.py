"""Export, import and migrate, each from configs: what the CLI (and a script) calls."""

from __future__ import annotations

import copy
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from orchestrator.checkpointer import open_sync_saver, setup_saver_tables
from orchestrator.config import OrchestratorConfig
from orchestrator.db import (
    analyze_after_bulk_write,
    check_schema,
    make_engine,
    schema_version,
    upgrade_schema,
)
from orchestrator.db.schema import metadata, runs, workers
from orchestrator.errors import InputError, OrchestratorError, ReadOnlyError
from orchestrator.rollup import compact
from orchestrator.run_queries import RunFilter
from orchestrator.status import ACTIVE, RunStatus
from orchestrator.transfer.loader import Loader, LoadOutcome, OnConflict, compare
from orchestrator.transfer.records import TransferFileError, header, open_writer, read_records
from orchestrator.transfer.source import BATCH, all_presets, backend_records, matching_ids
from orchestrator.transfer.verify import Backend, Verification, verify

Progress = Callable[[int], None]


@contextmanager
def open_backend(config: OrchestratorConfig, *, writable: bool) -> Iterator[Backend]:
    """The backend of `config`: a writable one gets its tables (ours and the saver's) set up."""
    engine = make_engine(config, read_only=not writable)
    try:
        if writable:
            upgrade_schema(engine)
            setup_saver_tables(config, engine)
        else:
            check_schema(engine)
        with open_sync_saver(config if writable else config.with_read_only(), bulk=writable) as saver:
            yield Backend(engine, saver, config.display_name)
    finally:
        engine.dispose()


def _writable(config: OrchestratorConfig) -> None:
    if config.read_only:
        raise ReadOnlyError(
            "This orchestrator is read-only (ORCHESTRATOR_READ_ONLY is set) and imports or moves "
            "no run; use a writable configuration."
        )


def target_config(config: OrchestratorConfig, to: str) -> OrchestratorConfig:
    """The other backend of `config` (its sqlite_path or postgres_uri names where)."""
    if to not in ("sqlite", "postgres"):
        raise InputError(f'--to must be "sqlite" or "postgres", not {to[:20]!r}.')
    if to == config.checkpoint_mode:
        raise InputError(
            f"The configured backend is already {to}; configure the one to move from "
            "(--mode) and name the other with --to."
        )
    if to == "postgres" and not config.resolved_postgres_uri:
        raise InputError("migrate --to postgres needs --postgres-uri (or POSTGRES_URI) for the target.")
    target = copy.copy(config)
    target.checkpoint_mode = to
    target.read_only = False
    target.validate()
    return target


# -- export -------------------------------------------------------------------------------------


@dataclass
class ExportOutcome:
    runs: int = 0
    checkpoints: int = 0
    writes: int = 0
    path: str = ""


def export_runs(
    config: OrchestratorConfig,
    out: str | Path,
    filters: RunFilter | None = None,
    *,
    progress: Progress | None = None,
) -> ExportOutcome:
    """Write the runs matching `filters`, with everything that belongs to them, to `out`."""
    outcome = ExportOutcome(path=str(out))
    with open_backend(config, writable=False) as source, open_writer(out) as writer:
        writer.write(header(config.checkpoint_mode, schema_version(source.engine)))
        for record in backend_records(source.engine, source.saver, filters):
            writer.write(record)
            kind = record["kind"]
            if kind == "run_end":
                outcome.runs += 1
                if progress:
                    progress(1)
            elif kind == "checkpoint":
                outcome.checkpoints += 1
            elif kind == "writes":
                outcome.writes += len(record["writes"])
        writer.write({"kind": "end", "runs": outcome.runs})
    return outcome


# -- import -------------------------------------------------------------------------------------


def _body(path: str | Path) -> Iterator[dict[str, Any]]:
    for _number, record in read_records(path):
        yield record


def import_file(
    config: OrchestratorConfig,
    path: str | Path,
    *,
    on_conflict: OnConflict | None = None,
    progress: Progress | None = None,
) -> LoadOutcome:
    """Load a runs file into the configured backend.

    The whole file is read and checked first (a corrupt, cut-short or future-version file is
    refused with its line number before anything is written); a run that is there with other
    rows stops the import before anything is written unless `on_conflict` says skip or replace.
    """
    config.validate()
    _writable(config)
    with open_backend(config, writable=True) as target:
        conflicts = []
        for record in _body(path):
            if record["kind"] == "run" and compare(target.engine, record) == "other":
                conflicts.append(record["row"]["run_id"])
        if conflicts and on_conflict is None:
            shown = ", ".join(conflicts[:5]) + (
                f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
            )
            raise InputError(
                f"{len(conflicts)} run(s) of the file are already here with other content ({shown}); "
                "nothing was imported: choose --on-conflict skip or --on-conflict replace."
            )
        loader = Loader(target.engine, target.saver, on_conflict)
        try:
            for number, record in read_records(path):
                try:
                    loader.feed(record)
                except (OrchestratorError, DBAPIError, sqlite3.Error, psycopg.Error):
                    raise
                except Exception as exc:  # a payload this LangGraph's serde cannot read, say
                    raise TransferFileError(
                        f"{path} line {number}: cannot be loaded ({type(exc).__name__}); the runs "
                        "before it were imported whole, this one not at all."
                    ) from None
                if progress and record["kind"] == "run_end":
                    progress(1)
        except BaseException:
            loader.abandon()
            raise
        _settle(target)
    return loader.outcome


# What a load writes: every table of ours but the workers' (directly, or by the runs' triggers:
# rollups, search), and the saver's (orchestrator.db.dialect).
WRITTEN_TABLES = tuple(table for table in metadata.sorted_tables if table is not workers)


def _settle(target: Backend) -> None:
    """Fold the rollups' deltas, then vacuum and analyse what was written (the first pages after
    a bulk load as fast as on a settled database)."""
    compact(target.engine)
    analyze_after_bulk_write(target.engine, WRITTEN_TABLES)


# -- migrate ------------------------------------------------------------------------------------

# What a source copy of an active run says once migrate --include-active moved it.
MOVED = "Moved to {target} by migrate (it was {status} here); it goes on there."
_MOVED_RE = re.compile(r"^Moved to .* by migrate \(it was (\w+) here\); it goes on there\.$")
# The columns a moved run's source copy changed (verification leaves them out for it).
MARKED_COLUMNS = ("status", "error", "cancel_requested", "attempt")


@dataclass
class MigrationOutcome:
    source: str
    target: str
    runs: int = 0  # on the source
    checkpoints: int = 0
    active: int = 0
    load: LoadOutcome = field(default_factory=LoadOutcome)
    verification: Verification | None = None
    dry_run: bool = False


def count_runs(source: Backend) -> tuple[int, int]:
    """All runs, and those still active (queued, running, waiting)."""
    with source.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(runs)) or 0
        active = (
            conn.scalar(select(func.count()).select_from(runs).where(runs.c.status.in_(sorted(ACTIVE)))) or 0
        )
    return total, active


def migrate(
    config: OrchestratorConfig,
    target_cfg: OrchestratorConfig,
    *,
    dry_run: bool = False,
    include_active: bool = False,
    on_conflict: OnConflict | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> MigrationOutcome:
    """Copy every run from the `config`'s backend to `target_cfg`'s (the other backend, see
    `target_config`), then verify both sides.

    Idempotent by run id and checkpoint id: a migration stopped half-way, run again, ends in
    the same state. Active runs are refused unless `include_active`; then each source copy is
    fenced and marked cancelled ("Moved to ...") before its copy is written, so only the
    target's executors go on with it.
    """
    _writable(config)
    if target_cfg.checkpoint_mode == config.checkpoint_mode:
        raise InputError(
            "migrate copies between SQLite and PostgreSQL: the target must be the other backend."
        )
    with open_backend(config, writable=include_active and not dry_run) as source:
        total, active = count_runs(source)
        outcome = MigrationOutcome(source.name, target_cfg.display_name, runs=total, active=active)
        if active and not include_active:
            raise InputError(
                f"{active} run(s) are still queued, running or waiting for an answer; let them "
                "finish (or cancel them) first, or move them too with --include-active."
            )
        if dry_run:
            outcome.dry_run = True
            return outcome
        with open_backend(target_cfg, writable=True) as target:
            loader = Loader(target.engine, target.saver, on_conflict)
            loader.load(_migrated(source, target.name, include_active, batch, progress))
            outcome.load = loader.outcome
            _settle(target)
            outcome.verification = verify_moved(source, target, batch=batch)
            outcome.checkpoints = outcome.verification.checkpoints
    return outcome


def _migrated(
    source: Backend, target_name: str, include_active: bool, batch: int, progress: Progress | None
) -> Iterator[dict[str, Any]]:
    yield from all_presets(source.engine)
    for record in backend_records(source.engine, source.saver, batch=batch):
        if record["kind"] == "run":
            row = record["row"]
            status = row["status"]
            moved = _MOVED_RE.match(row["error"] or "") if status == RunStatus.CANCELLED else None
            if moved:
                # Moved by an earlier migrate: its copy is the row as it was before the mark.
                record = _unmarked(record, moved.group(1))
            elif include_active and status in ACTIVE:
                _mark_moved(source, row, target_name)
        yield record
        if progress and record["kind"] == "run_end":
            progress(1)


def _unmarked(record: dict[str, Any], status: str) -> dict[str, Any]:
    row = dict(record["row"])
    row["status"] = status
    row["error"] = None
    row["cancel_requested"] = False
    row["attempt"] = row["attempt"] - 1
    return {**record, "row": row}


def _mark_moved(source: Backend, row: dict[str, Any], target_name: str) -> None:
    """Fence the source copy (a new attempt: its executor's next write fails) and mark it moved;
    only if nobody changed it since it was read."""
    with source.engine.begin() as conn:
        changed = conn.execute(
            update(runs)
            .where(
                runs.c.run_id == row["run_id"],
                runs.c.status == row["status"],
                runs.c.attempt == row["attempt"],
            )
            .values(
                status=RunStatus.CANCELLED,
                cancel_requested=True,
                attempt=row["attempt"] + 1,
                error=MOVED.format(target=target_name, status=row["status"]),
            )
        ).rowcount
    if not changed:
        raise InputError(
            f"Run {row['run_id']} changed while it was being moved; run migrate again to move it as it is now."
        )


def verify_moved(source: Backend, target: Backend, *, batch: int = BATCH) -> Verification:
    """verify(), where a source copy marked moved is compared as it was before the mark."""
    result = verify(source, target, batch=batch)
    if not result.differences:
        return result
    moved = set()
    for ids in matching_ids(source.engine, RunFilter(statuses=[RunStatus.CANCELLED]), batch=batch):
        with source.engine.connect() as conn:
            for run_id, error in conn.execute(
                select(runs.c.run_id, runs.c.error).where(runs.c.run_id.in_(ids))
            ):
                if _MOVED_RE.match(error or ""):
                    moved.add(run_id)
    kept = []
    for problem in result.differences:
        run_id, _, what = problem.partition(": ")
        if (
            run_id in moved
            and what.startswith("its row differs (")
            and set(what[len("its row differs (") : -1].split(", ")) <= set(MARKED_COLUMNS)
        ):
            continue
        kept.append(problem)
    result.differences = kept
    return result
