"""Loading records into a backend: checkpoints and writes through the saver's `put` /
`put_writes` (ids, parents and channel versions kept), rows through SQLAlchemy Core.

A run lands whole or not at all: its checkpoints go first, its rows last in one transaction,
and a run that fails half-way has the checkpoints it had put deleted again. A run that is
already there with the same rows (autoincrement ids aside) is left alone (so loading twice changes nothing); one there
with other rows is a conflict, skipped or replaced as asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph.checkpoint.base import WRITES_IDX_MAP, BaseCheckpointSaver
from sqlalchemy import Engine, Table, delete, insert, select

from orchestrator.db import commit_without_waiting, dialect_insert
from orchestrator.db.schema import presets, runs
from orchestrator.transfer.records import ROW_TABLES, decode_row, encode_row, numbered, run_part, untyped

OnConflict = Literal["skip", "replace"]


@dataclass
class LoadOutcome:
    """What a load did, run by run."""

    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # skipped: there with other rows
    checkpoints: int = 0
    writes: int = 0

    @property
    def runs(self) -> int:
        return len(self.imported) + len(self.replaced)


def _loadable(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row as loaded: without its autoincrement `id` (the target numbers its rows)."""
    return {k: v for k, v in row.items() if k != "id"} if numbered(table) else row


def _comparable(table: Table, order: tuple[str, ...], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as compared: without `id`; a numbered table's in the order given (its ids' order),
    the others' sorted by `order`."""
    if numbered(table):
        return [_loadable(table, row) for row in rows]
    return sorted(rows, key=lambda row: tuple(row[name] for name in order))


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """A run record's rows as the target would give them back (for comparing)."""
    found: dict[str, Any] = {"row": encode_row(runs, decode_row(runs, record["row"], "run"))}
    for table, key, order in ROW_TABLES:
        rows = [encode_row(table, decode_row(table, row, key)) for row in run_part(record, key)]
        found[key] = _comparable(table, order, rows)
    return found


def stored_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """The run's rows in the target, in `canonical` form; None when it has no row."""
    return stored_runs(engine, [run_id]).get(run_id)


def stored_runs(engine: Engine, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """`stored_run` of each of these runs that has a row, in a query per table."""
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(runs).where(runs.c.run_id.in_(run_ids))):
            found[row.run_id] = {"row": encode_row(runs, row._mapping)} | {key: [] for _, key, _ in ROW_TABLES}
        for table, key, order in ROW_TABLES:
            stmt = (
                select(table)
                .where(table.c.run_id.in_(run_ids))
                .order_by(table.c.run_id, *(table.c[name] for name in order))
            )
            for row in conn.execute(stmt):
                if row.run_id in found:
                    found[row.run_id][key].append(encode_row(table, row._mapping))
    for stored in found.values():
        for table, key, order in ROW_TABLES:
            stored[key] = _comparable(table, order, stored[key])
    return found


def compare(engine: Engine, record: dict[str, Any]) -> Literal["new", "same", "other"]:
    stored = stored_run(engine, record["row"]["run_id"])
    if stored is None:
        return "new"
    return "same" if stored == canonical(record) else "other"


class Loader:
    """Feeds records (in file order) into one backend."""

    def __init__(self, engine: Engine, saver: BaseCheckpointSaver, on_conflict: OnConflict | None = None):
        self.engine = engine
        self.saver = saver
        self.on_conflict = on_conflict
        self.outcome = LoadOutcome()
        self._run: dict[str, Any] | None = None  # the run being loaded (None: its records are skipped)
        self._replacing = False
        self._put_any = False

    def load(self, records: Iterable[dict[str, Any]]) -> LoadOutcome:
        try:
            for record in records:
                self.feed(record)
        except BaseException:
            self.abandon()
            raise
        return self.outcome

    def feed(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "preset":
            self._preset(record)
        elif kind == "run":
            self._start(record)
        elif self._run is None:
            return
        elif kind == "checkpoint":
            self._checkpoint(record)
        elif kind == "writes":
            self._writes(record)
        elif kind == "run_end":
            self._finish()

    def abandon(self) -> None:
        """Undo the run being loaded (its checkpoints put so far); the runs before it stay."""
        if self._run is not None and self._put_any and not self._replacing:
            self.saver.delete_thread(self._run["row"]["run_id"])
        self._run = None

    # -- one run -----------------------------------------------------------------------------

    def _preset(self, record: dict[str, Any]) -> None:
        row = decode_row(presets, record["row"], "preset")
        with self.engine.begin() as conn:
            conn.execute(dialect_insert(conn, presets).values(row).on_conflict_do_nothing())

    def _start(self, record: dict[str, Any]) -> None:
        run_id = record["row"]["run_id"]
        state = compare(self.engine, record)
        self._replacing = False
        if state == "same":
            self.outcome.unchanged.append(run_id)
            self._run = None
            return
        if state == "other":
            if self.on_conflict != "replace":
                self.outcome.conflicts.append(run_id)
                self._run = None
                return
            with self.engine.begin() as conn:
                # Not every per-run table cascades from runs: each one's rows go explicitly.
                for table, _, _ in ROW_TABLES:
                    conn.execute(delete(table).where(table.c.run_id == run_id))
                conn.execute(delete(runs).where(runs.c.run_id == run_id))
            self.saver.delete_thread(run_id)
            self._replacing = True
        else:
            # Checkpoints of a load that was stopped half-way (no row yet): put again below.
            pass
        self._run = canonical(record)
        self._run["row"] = decode_row(runs, record["row"], "run")
        for table, key, _ in ROW_TABLES:
            self._run[key] = [_loadable(table, decode_row(table, row, key)) for row in run_part(record, key)]
        self._put_any = False

    def _checkpoint(self, record: dict[str, Any]) -> None:
        assert self._run is not None
        checkpoint = self.saver.serde.loads_typed(untyped(record["checkpoint"], "checkpoint"))
        configurable: dict[str, Any] = {"thread_id": record["run_id"], "checkpoint_ns": record["ns"]}
        if record["parent_id"] is not None:
            configurable["checkpoint_id"] = record["parent_id"]
        self._put_any = True
        # Every channel's version is "new": the PostgreSQL saver stores the blobs of those only.
        self.saver.put(
            {"configurable": configurable},
            checkpoint,
            record["metadata"],
            dict(checkpoint["channel_versions"]),
        )
        self.outcome.checkpoints += 1

    def _writes(self, record: dict[str, Any]) -> None:
        assert self._run is not None
        config: Any = {
            "configurable": {
                "thread_id": record["run_id"],
                "checkpoint_ns": record["ns"],
                "checkpoint_id": record["checkpoint_id"],
            }
        }
        values = [
            (channel, self.saver.serde.loads_typed(untyped([kind, data], "write")))
            for channel, kind, data in record["writes"]
        ]
        # The savers number a call's writes 0, 1, ... except the special channels (errors,
        # interrupts, ...), which have fixed negative numbers: put each group in its own call
        # so every write gets the number it had.
        special = [w for w in values if w[0] in WRITES_IDX_MAP]
        regular = [w for w in values if w[0] not in WRITES_IDX_MAP]
        self._put_any = True
        for group in (special, regular):
            if group:
                self.saver.put_writes(config, group, record["task_id"])
        self.outcome.writes += len(values)

    def _finish(self) -> None:
        assert self._run is not None
        run = self._run
        with self.engine.begin() as conn:
            commit_without_waiting(conn)
            run_id = run["row"]["run_id"]
            # Rows left by a run no longer there (tables without a cascade) would collide.
            for table, _, _ in ROW_TABLES:
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(insert(runs).values(run["row"]))
            for table, key, _ in ROW_TABLES:
                # Inserted in the file's order: a numbered table's new ids keep the old ids' order.
                if run[key]:
                    conn.execute(insert(table), run[key])
        (self.outcome.replaced if self._replacing else self.outcome.imported).append(run_id)
        self._run = None
