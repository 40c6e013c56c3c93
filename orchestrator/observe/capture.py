"""What a run's tasks log, caught as they log it, and kept until the executor writes it.

One `logging.Handler` on the root logger (installed once per process by `install`) catches every
record emitted while a task of a run held by this process runs, whatever its logger. It knows the
task from LangGraph's own context variable: LangGraph sets the running task's config
(`langchain_core.runnables.config.var_child_runnable_config`) for each task, in the asyncio task
of an async node and in the thread of a sync one; the first segment of its `checkpoint_ns`
(`node:task_id`) names the run's task, also inside a subgraph. A record emitted outside a task
(the executor's own) is not a task's.

The handler only appends to the run's `RunObservations` (no I/O on the task's path); the
executor writes them in batches through the run's fence (orchestrator.task_recorder), with the
task events. Each task keeps at most `lines_per_task` lines: the ones after are counted, and when
the task ends one more line says how many were dropped. Records from `count_level` (default WARNING)
up are counted per run, dropped ones included: at ERROR and above as errors, the rest as warnings.

A thread a node starts itself (a ThreadPoolExecutor of its own) does not carry the context:
what it logs is not caught.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config

from orchestrator.validation import storable_text

# The logger of the line marking a task's cut.
CUT_LOGGER = "orchestrator.logs"
MAX_MESSAGE_CHARS = 10_000
_exception_text = logging.Formatter().formatException

# run_id -> the observations of the attempt this process executes.
_runs: dict[str, RunObservations] = {}
_handler: TaskLogHandler | None = None
_install_lock = threading.Lock()


LogLine = tuple[str, str, float, int, str, str]


# The columns of a `run_logs` row, in the order `log_rows` gives them (the table's: a positional
# INSERT takes the tuples as they are, fast_insert.stored_rows).
LOG_COLUMNS = ("run_id", "task_id", "node", "attempt", "at", "level", "logger", "message")


def log_rows(
    run_id: str, attempt: int, lines: list[LogLine], stored_time: Callable[[float], Any]
) -> list[tuple[Any, ...]]:
    """`run_logs` rows (LOG_COLUMNS) of caught lines, each value as the database stores it
    (`stored_time`: db.fast_insert.stored_utc), made in the writer's thread."""
    return [
        (run_id, task_id, node, attempt, stored_time(created), level, logger[:200], message)
        for task_id, node, created, level, logger, message in lines
    ]


@dataclass
class Pending:
    """What is waiting to be written for a run: log lines and model calls (rows without the run's
    id and attempt) and the counts to add to the run's row."""

    # (task id, node, time.time(), level, logger, message): rows made by `log_rows`.
    logs: list[LogLine] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    # (task id, its input, what it wrote) of ended tasks, as LangGraph gave them: made safe
    # (bounded, redacted) by the writer (io_rows), off the task's path.
    io: list[tuple[str, Any, Any]] = field(default_factory=list)
    warnings: int = 0
    errors: int = 0

    def __bool__(self) -> bool:
        return bool(self.logs or self.calls or self.io or self.warnings or self.errors)

    def merge(self, later: Pending) -> None:
        """Put `self` (a batch that could not be written) before `later`."""
        self.logs.extend(later.logs)
        self.calls.extend(later.calls)
        self.io.extend(later.io)
        self.warnings += later.warnings
        self.errors += later.errors


class RunObservations:
    """One run attempt's log lines and model calls, waiting to be written (thread-safe)."""

    def __init__(
        self,
        run_id: str,
        *,
        level: int = logging.INFO,
        lines_per_task: int = 1000,
        count_level: int = logging.WARNING,
    ):
        self.run_id = run_id
        self.level = level
        self.count_level = count_level
        self.lines_per_task = lines_per_task
        self.kept: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self._pending = Pending()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pending.logs) + len(self._pending.calls)

    def add_log(self, task_id: str, node: str, record: logging.LogRecord) -> None:
        if record.levelno < self.level:
            return
        with self._lock:
            if record.levelno >= logging.ERROR:
                self._pending.errors += 1
            elif record.levelno >= self.count_level:
                self._pending.warnings += 1
            kept = self.kept.get(task_id, 0)
            if kept >= self.lines_per_task:
                self.dropped[task_id] = self.dropped.get(task_id, 0) + 1
                return
            self.kept[task_id] = kept + 1
            # A tuple now (the message formatted, as its arguments may change); its row is made
            # by the writer, off the task's path (log_rows).
            self._pending.logs.append(
                (task_id, node, record.created, record.levelno, storable_text(record.name), _message(record))
            )

    def add_call(self, call: dict[str, Any]) -> None:
        with self._lock:
            self._pending.calls.append(call)

    def add_io(self, task_id: str, given: Any, wrote: Any) -> None:
        with self._lock:
            self._pending.io.append((task_id, given, wrote))

    def task_ended(self, task_id: str, node: str) -> None:
        """Mark the cut of a task that logged more than it may keep."""
        with self._lock:
            dropped = self.dropped.pop(task_id, 0)
            if not dropped:
                return
            self._pending.logs.append(
                (
                    task_id,
                    node,
                    time.time(),
                    logging.WARNING,
                    CUT_LOGGER,
                    f"{dropped} more log lines of this task were dropped: a task keeps "
                    f"{self.lines_per_task} (ORCHESTRATOR_LOG_LINES_PER_TASK).",
                )
            )

    def take(self) -> Pending:
        """What is waiting, handed over (and no longer waiting)."""
        with self._lock:
            pending, self._pending = self._pending, Pending()
        return pending

    def put_back(self, pending: Pending) -> None:
        """A batch that could not be written waits again, before what came since."""
        with self._lock:
            pending.merge(self._pending)
            self._pending = pending


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a bad format string in someone's call: keep what it was
        text = f"{record.msg!r} {record.args!r}"
    if record.exc_info:
        text = f"{text}\n{_exception_text(record.exc_info)}"
    return storable_text(text[:MAX_MESSAGE_CHARS])


def current_task() -> tuple[str, str, str] | None:
    """(run id, task id, node) of the run's task running here, or None (not inside a task)."""
    config = var_child_runnable_config.get()
    if not config:
        return None
    configurable = config.get("configurable") or {}
    namespace = configurable.get("checkpoint_ns")
    if not namespace:
        return None
    node, _, task_id = str(namespace).split("|", 1)[0].partition(":")
    return str(configurable.get("thread_id", "")), task_id, node


class TaskLogHandler(logging.Handler):
    """Hands each record emitted inside a task of a watched run to that run's observations."""

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock and no filters: the observations take their own lock.
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if not _runs:
            return
        try:
            task = current_task()
            if task is None:
                return
            observations = _runs.get(task[0])
            if observations is not None:
                observations.add_log(task[1], task[2], record)
        except Exception:  # never break a team's logging: this line is not kept
            self.handleError(record)


class ShownBefore(logging.Filter):
    """On a console handler of the root logger, once `install` lowered the root's level: pass a
    record only if the console showed it before, when the root's level was `old_root_level`.
    (A logger with a level of its own, as `orchestrator` at INFO under a WARNING root, keeps
    its own; a logger without one had the old root level.)"""

    def __init__(self, old_root_level: int) -> None:
        super().__init__()
        self.old_root_level = old_root_level

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger.parent is not None:  # up to, not including, the root
            if logger.level != logging.NOTSET:
                return record.levelno >= logger.level
            logger = logger.parent if logger.propagate else None
        return record.levelno >= self.old_root_level


def install(level: int) -> None:
    """Attach the handler to the root logger (once; again if a `basicConfig(force=True)` removed
    it) and let records from `level` up reach it.

    When the root logger's level is above `level`, it is lowered to `level`, and each other root
    handler gets a filter (ShownBefore) passing what it passed before: the console is unchanged."""
    global _handler
    root = logging.getLogger()
    with _install_lock:
        if _handler is None:
            _handler = TaskLogHandler()
        if _handler not in root.handlers:
            root.addHandler(_handler)
        if root.level > level:
            for handler in root.handlers:
                if handler is not _handler and not any(isinstance(f, ShownBefore) for f in handler.filters):
                    handler.addFilter(ShownBefore(root.level))
            root.setLevel(level)


def watch(observations: RunObservations) -> None:
    """Catch what the run's tasks log in this process, into `observations`."""
    _runs[observations.run_id] = observations


def unwatch(observations: RunObservations) -> None:
    if _runs.get(observations.run_id) is observations:
        del _runs[observations.run_id]
