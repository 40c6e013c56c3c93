"""A run's logs and model calls, read for the pages and the CLI (each read one indexed query)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, TypedDict

from sqlalchemy import Engine, Integer, Select, func, literal_column, select

from orchestrator.db import run_logs, run_model_calls, run_task_io
from orchestrator.errors import InputError
from orchestrator.validation import check_search, is_run_id

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LOG_PAGE = 5_000
# The lines from WARNING up, and from ERROR up, spelled as the partial indexes on them say it
# (migration 0021, `ix_run_logs_warnings`, `ix_run_logs_errors`): SQLite reads a partial index
# only for a query that holds its very term, so a level filter adds the one for its level (a
# constant of ours, not a bound value).
LEVEL_INDEXES = (
    (logging.ERROR, run_logs.c.level >= literal_column(str(logging.ERROR), Integer())),
    (logging.WARNING, run_logs.c.level >= literal_column(str(logging.WARNING), Integer())),
)


class LogRow(TypedDict):
    id: int
    task_id: str
    node: str
    attempt: int
    at: dt.datetime
    level: int
    logger: str
    message: str


def level_number(name: str | int, flag: str = "level") -> int:
    """A level's number from its name (DEBUG, INFO, WARNING, ERROR, CRITICAL, any case)."""
    if isinstance(name, int) and not isinstance(name, bool):
        return name
    word = str(name).strip().upper()
    if word not in LEVELS:
        raise InputError(f"{flag} must be one of {', '.join(LEVELS)}, not {str(name).strip()[:40]!r}.")
    return logging.getLevelNamesMapping()[word]


def level_name(number: int) -> str:
    return logging.getLevelName(number)


def log_select(
    run_id: str, task_id: str | None, min_level: int, text: str, after_id: int, limit: int, newest: bool
) -> Select[Any]:
    """The statement of `ObservationReader.logs` (its arguments checked)."""
    stmt = select(
        run_logs.c.id,
        run_logs.c.task_id,
        run_logs.c.node,
        run_logs.c.attempt,
        run_logs.c.at,
        run_logs.c.level,
        run_logs.c.logger,
        run_logs.c.message,
    ).where(run_logs.c.run_id == run_id)
    if task_id:
        stmt = stmt.where(run_logs.c.task_id == task_id)
    if after_id:
        stmt = stmt.where(run_logs.c.id > after_id)
    if min_level:
        stmt = stmt.where(run_logs.c.level >= min_level)
        # The run's lines at that level and up alone, on their index.
        indexed = next((term for level, term in LEVEL_INDEXES if min_level >= level), None)
        if indexed is not None:
            stmt = stmt.where(indexed)
    if text:
        stmt = stmt.where(run_logs.c.message.icontains(text, autoescape=True))
    order = run_logs.c.id.desc() if newest else run_logs.c.id
    stmt = stmt.order_by(order).limit(max(1, min(limit, MAX_LOG_PAGE)))
    return stmt


class ObservationReader:
    """Reads a run's logs and model calls."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def logs(
        self,
        run_id: str,
        *,
        task_id: str | None = None,
        min_level: int = 0,
        text: str = "",
        after_id: int = 0,
        limit: int = 1_000,
        newest: bool = False,
    ) -> list[LogRow]:
        """The run's log lines in the order written (after `after_id`: the ones since), of one task
        or all, from `min_level` up, holding `text` (any case); the first `limit`, or with `newest`
        the last (a tail)."""
        text = check_search(text)  # checked first: a mistake is said even for an unknown run
        if not is_run_id(run_id):
            return []
        stmt = log_select(run_id, task_id, min_level, text, after_id, limit, newest)
        with self.engine.connect() as conn:
            rows: list[LogRow] = [dict(row._mapping) for row in conn.execute(stmt)]  # type: ignore[misc]
        return rows[::-1] if newest else rows

    def log_counts(self, run_id: str) -> dict[str, int]:
        """How many lines each of the run's tasks kept (task id -> lines)."""
        if not is_run_id(run_id):
            return {}
        stmt = (
            select(run_logs.c.task_id, func.count())
            .where(run_logs.c.run_id == run_id)
            .group_by(run_logs.c.task_id)
        )
        with self.engine.connect() as conn:
            return {task: count for task, count in conn.execute(stmt)}

    def task_io(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """What the task was given and what it wrote, per attempt (bounded, secrets redacted)."""
        if not is_run_id(run_id):
            return []
        stmt = (
            select(run_task_io.c.attempt, run_task_io.c.input, run_task_io.c.output)
            .where(run_task_io.c.run_id == run_id, run_task_io.c.task_id == task_id)
            .order_by(run_task_io.c.attempt)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def model_calls(self, run_id: str) -> list[dict[str, Any]]:
        """The run's model calls in the order they ended."""
        if not is_run_id(run_id):
            return []
        stmt = (
            select(run_model_calls).where(run_model_calls.c.run_id == run_id).order_by(run_model_calls.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def model_calls_by_node(self, run_id: str) -> list[dict[str, Any]]:
        """Per node and model: calls, tokens, cost (None when no call of it had a price)."""
        if not is_run_id(run_id):
            return []
        c = run_model_calls.c
        stmt = (
            select(
                c.node,
                c.model,
                func.count().label("calls"),
                func.sum(c.input_tokens).label("input_tokens"),
                func.sum(c.output_tokens).label("output_tokens"),
                func.sum(c.cached_tokens).label("cached_tokens"),
                func.sum(c.cost_usd).label("cost_usd"),
                func.sum(c.latency_seconds).label("latency_seconds"),
            )
            .where(c.run_id == run_id)
            .group_by(c.node, c.model)
            .order_by(c.node, c.model)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]
