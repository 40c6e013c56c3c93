"""Whether two backends hold the same runs: the same run ids, equal `runs` rows and rows of
every per-run table (records.ROW_TABLES; autoincrement ids aside), the same checkpoints (id, parent, metadata) per thread and namespace, and
each thread's latest state read back through LangGraph's saver equal on both sides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import Engine, func, select

from orchestrator.db.schema import runs
from orchestrator.run_queries import RunFilter
from orchestrator.transfer.loader import stored_run, stored_runs
from orchestrator.transfer.records import ROW_TABLES
from orchestrator.transfer.source import BATCH, matching_ids


@dataclass
class Backend:
    """One side: its engine, a sync saver on it, and its name for people (no password)."""

    engine: Engine
    saver: BaseCheckpointSaver
    name: str


@dataclass
class Verification:
    runs: int = 0
    checkpoints: int = 0
    differences: list[str] = field(default_factory=list)  # "<run_id>: what differs"
    only_on_target: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences


def _checkpoints(saver: BaseCheckpointSaver, run_id: str) -> dict[tuple[str, str], tuple[Any, Any]]:
    found = {}
    for item in saver.list({"configurable": {"thread_id": run_id}}):
        parent = (item.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        found[(item.config["configurable"].get("checkpoint_ns", ""), item.checkpoint["id"])] = (
            parent,
            dict(item.metadata),
        )
    return found


def _latest(saver: BaseCheckpointSaver, run_id: str, ns: str) -> Any:
    item = saver.get_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ns}})
    if item is None:
        return None
    checkpoint = item.checkpoint
    return (
        checkpoint["id"],
        checkpoint["channel_values"],
        checkpoint["channel_versions"],
        sorted((w[0], w[1], repr(w[2])) for w in item.pending_writes or []),
    )


def compare_run(
    source: Backend,
    target: Backend,
    run_id: str,
    rows: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None,
) -> tuple[int, list[str]]:
    """How many checkpoints the run has, and what differs about it (empty: nothing). `rows`:
    its rows on both sides when the caller read them already (`stored_runs`)."""
    left, right = rows or (stored_run(source.engine, run_id), stored_run(target.engine, run_id))
    if right is None:
        return 0, [f"{run_id}: missing on {target.name}"]
    problems = [
        f"{run_id}: its {part} differ"
        for part in ("row", *(key for _, key, _ in ROW_TABLES))
        if left and left[part] != right[part]
    ]
    if left and left["row"] != right["row"]:
        columns = [k for k in left["row"] if left["row"][k] != right["row"].get(k)]
        problems[0] = f"{run_id}: its row differs ({', '.join(columns)})"
    mine, theirs = _checkpoints(source.saver, run_id), _checkpoints(target.saver, run_id)
    if set(mine) != set(theirs):
        problems.append(
            f"{run_id}: checkpoints differ ({len(mine)} on {source.name}, {len(theirs)} on {target.name})"
        )
    elif mine != theirs:
        problems.append(f"{run_id}: checkpoints' parents or metadata differ")
    for ns in sorted({ns for ns, _ in mine}):
        if _latest(source.saver, run_id, ns) != _latest(target.saver, run_id, ns):
            problems.append(f"{run_id}: the latest state in namespace {ns or '(root)'!r} differs")
    return len(mine), problems


def verify(
    source: Backend,
    target: Backend,
    filters: RunFilter | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> Verification:
    """Compare every run matching `filters` on the source with its copy on the target."""
    result = Verification()
    for ids in matching_ids(source.engine, filters, batch=batch):
        lefts, rights = stored_runs(source.engine, ids), stored_runs(target.engine, ids)
        for run_id in ids:
            count, problems = compare_run(source, target, run_id, (lefts.get(run_id), rights.get(run_id)))
            result.runs += 1
            result.checkpoints += count
            result.differences.extend(problems)
        if progress:
            progress(len(ids))
    if filters is None:
        with source.engine.connect() as conn:
            left = conn.scalar(select(func.count()).select_from(runs)) or 0
        with target.engine.connect() as conn:
            right = conn.scalar(select(func.count()).select_from(runs)) or 0
        result.only_on_target = max(0, right - left)
    return result
