"""Reading runs out of a backend as records (orchestrator.transfer.records): the rows through
SQLAlchemy Core, the checkpoints and writes through LangGraph's saver (`list`) and its serde.

Runs are read in batches by run id (keyset), so memory holds one batch's rows and one
checkpoint at a time, whatever the number of runs.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from sqlalchemy import Engine, select

from orchestrator.db.schema import presets, runs
from orchestrator.run_queries import RunFilter, checked_filter
from orchestrator.run_queries.statements import conditions
from orchestrator.transfer.records import ROW_TABLES, encode_row, typed

BATCH = 200


def matching_ids(engine: Engine, filters: RunFilter | None, *, batch: int = BATCH) -> Iterator[list[str]]:
    """The ids of the runs matching `filters`, in batches, ordered by run id."""
    conds = conditions(checked_filter(filters))
    last: str | None = None
    while True:
        stmt = select(runs.c.run_id).where(*conds)
        if last is not None:
            stmt = stmt.where(runs.c.run_id > last)
        with engine.connect() as conn:
            ids = list(conn.scalars(stmt.order_by(runs.c.run_id).limit(batch)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def run_rows(engine: Engine, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each run's record (`run` kind) for these ids: its row and its rows of every per-run
    table (records.ROW_TABLES), encoded, in each table's order."""
    ids = list(run_ids)
    parts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with engine.connect() as conn:
        rows = {r.run_id: dict(r._mapping) for r in conn.execute(select(runs).where(runs.c.run_id.in_(ids)))}
        for table, key, order in ROW_TABLES:
            found: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in ids}
            stmt = (
                select(table)
                .where(table.c.run_id.in_(ids))
                .order_by(table.c.run_id, *(table.c[name] for name in order))
            )
            for r in conn.execute(stmt):
                found[r.run_id].append(encode_row(table, r._mapping))
            parts[key] = found
    return [
        {"kind": "run", "row": encode_row(runs, rows[run_id])}
        | {key: parts[key][run_id] for _, key, _ in ROW_TABLES}
        for run_id in ids
        if run_id in rows
    ]


def preset_record(engine: Engine, workflow: str, name: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(presets).where(presets.c.workflow == workflow, presets.c.name == name)
        ).first()
    return None if row is None else {"kind": "preset", "row": encode_row(presets, row._mapping)}


def all_presets(engine: Engine) -> list[dict[str, Any]]:
    """Every preset's record (a migration moves those no run names too)."""
    with engine.connect() as conn:
        rows = conn.execute(select(presets).order_by(presets.c.workflow, presets.c.name)).all()
    return [{"kind": "preset", "row": encode_row(presets, row._mapping)} for row in rows]


def thread_records(saver: BaseCheckpointSaver, run_id: str) -> Iterator[dict[str, Any]]:
    """Every checkpoint of the run's thread, in every namespace, and each one's pending writes."""
    for item in saver.list({"configurable": {"thread_id": run_id}}):
        yield from checkpoint_records(saver, run_id, item)


def checkpoint_records(
    saver: BaseCheckpointSaver, run_id: str, item: CheckpointTuple
) -> Iterator[dict[str, Any]]:
    configurable = item.config["configurable"]
    ns = configurable.get("checkpoint_ns", "")
    checkpoint_id = item.checkpoint["id"]
    parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    yield {
        "kind": "checkpoint",
        "run_id": run_id,
        "ns": ns,
        "id": checkpoint_id,
        "parent_id": parent,
        "checkpoint": typed(saver.serde.dumps_typed(item.checkpoint)),
        "metadata": dict(item.metadata),
    }
    # The writes come ordered by task; each task's go together, in their order.
    by_task: dict[str, list[list[str]]] = {}
    for task_id, channel, value in item.pending_writes or []:
        by_task.setdefault(task_id, []).append([channel, *typed(saver.serde.dumps_typed(value))])
    for task_id, writes in by_task.items():
        yield {
            "kind": "writes",
            "run_id": run_id,
            "ns": ns,
            "checkpoint_id": checkpoint_id,
            "task_id": task_id,
            "writes": writes,
        }


def backend_records(
    engine: Engine, saver: BaseCheckpointSaver, filters: RunFilter | None = None, *, batch: int = BATCH
) -> Generator[dict[str, Any], None, None]:
    """Every matching run's records (presets first where a run names one), run by run."""
    sent_presets: set[tuple[str, str]] = set()
    for ids in matching_ids(engine, filters, batch=batch):
        for record in run_rows(engine, ids):
            row = record["row"]
            key = (row["workflow"], row["preset"])
            if row["preset"] and key not in sent_presets:
                sent_presets.add(key)
                if (preset := preset_record(engine, *key)) is not None:
                    yield preset
            yield record
            count = 0
            for item in thread_records(saver, row["run_id"]):
                count += 1
                yield item
            yield {"kind": "run_end", "run_id": row["run_id"], "records": count}
