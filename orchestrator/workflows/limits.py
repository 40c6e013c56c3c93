"""Bound how many of one run's fan-out tasks do their work at once, inside the node.

LangGraph's own `max_concurrency` also gates the checkpointer's writes behind the same
semaphore as the tasks, so a finished task's result is saved only when the whole step ends:
a crash in the middle of a step would lose every finished result, and resuming would run them
all again. A semaphore per run, taken inside the node, bounds the work the same way while each
task's writes are saved the moment it finishes.

    from orchestrator.workflows.limits import slot

    async def work(payload, config: RunnableConfig):
        async with slot(config, "work", payload["fan_out"]):
            ...

When a task must wait for a slot, when it gets one and when it gives it back, `slot` tells the
executor (through LangGraph's custom stream, with the moment it happened in the node): the task
is recorded as waiting, then as working, and its work ends when it gives the slot back, so its
duration is its work and its wait for a slot is kept apart (and the next task's work, which
begins the moment the slot is free, never seems to overlap it). The executor forgets a run's
slots when the run stops, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer

# The keys of the custom stream events `slot` sends when a task must wait for a slot, when it
# starts its work and when its work is done (each with `AT`, the moment, as ISO text).
WORK_WAITING = "orchestrator_work_waiting"
WORK_STARTED = "orchestrator_work_started"
WORK_DONE = "orchestrator_work_done"
AT = "orchestrator_at"
_EVENTS = {WORK_WAITING: "wait", WORK_STARTED: "work", WORK_DONE: "done"}
# LangGraph puts the running task's id in its config under this key.
_TASK_ID_KEY = "__pregel_task_id"

# (event loop, thread_id, group) -> semaphore; a semaphore belongs to one event loop.
_slots: dict[tuple[int, str, str], asyncio.Semaphore] = {}
# (event loop, thread_id) -> what says whether the run's work can be saved now (the executor's
# orchestrator.outage.WriteGate).
_gates: dict[tuple[int, str], Any] = {}
# (event loop, thread_id, group) -> when a task of the group last gave its slot back (monotonic).
_released: dict[tuple[int, str, str], float] = {}


def watch_run(run_id: str, gate: Any) -> None:
    """Make the run's tasks wait, before their work begins, until `gate` says the database saved
    a write since the slot they took was given back (`await gate.saved_since(moment)`): the
    result of the task before it, as a rule. So no task begins work while the one before it could
    not be saved: an outage stops a run's fan-out at the tasks that were working when it began."""
    _gates[(id(asyncio.get_running_loop()), run_id)] = gate


def _thread_id(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id", ""))


def _key(config: RunnableConfig, group: str) -> tuple[int, str, str]:
    return id(asyncio.get_running_loop()), _thread_id(config), group


def _announce(config: RunnableConfig, event: str) -> None:
    task_id = (config.get("configurable") or {}).get(_TASK_ID_KEY)
    if task_id is None:
        return
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a LangGraph run (a node called directly, in a test)
        return
    writer({event: str(task_id), AT: dt.datetime.now(dt.UTC).isoformat()})


@asynccontextmanager
async def slot(config: RunnableConfig, group: str, limit: int) -> AsyncIterator[None]:
    """Wait for one of `limit` slots of this run's `group`, and hold it while the work runs."""
    key = _key(config, group)
    semaphore = _slots.setdefault(key, asyncio.Semaphore(max(1, limit)))
    queued = semaphore.locked()
    if queued:  # every slot is taken: this task waits
        _announce(config, WORK_WAITING)
    async with semaphore:
        gate = _gates.get(key[:2])
        if gate is not None:
            if not gate.is_open:  # the database is away: work now could not be saved
                _announce(config, WORK_WAITING)
            # Work begun now can be saved once the database saved something since: since the slot
            # was given back (the task before it then writes its result), or else since now.
            await gate.saved_since(_released[key] if queued and key in _released else time.monotonic())
        _announce(config, WORK_STARTED)
        try:
            yield
        finally:
            _released[key] = time.monotonic()
            _announce(config, WORK_DONE)


def release(config: RunnableConfig, group: str) -> None:
    """Forget a run's slots of `group` (a node may call it once its fan-out is over)."""
    thread_id = _thread_id(config)
    for key in [k for k in _slots if k[1:] == (thread_id, group)]:
        _slots.pop(key, None)
        _released.pop(key, None)


def release_run(run_id: str) -> None:
    """Forget every slot and gate of a run (the executor calls this when the run stops, however
    it ends)."""
    for key in [k for k in _slots if k[1] == run_id]:
        _slots.pop(key, None)
    for gate_key in [k for k in _gates if k[1] == run_id]:
        _gates.pop(gate_key, None)
    for released_key in [k for k in _released if k[1] == run_id]:
        _released.pop(released_key, None)


def slot_event(chunk: Any) -> tuple[str, str, dt.datetime] | None:
    """("wait", "work" or "done", task id, when) for a custom stream chunk sent by `slot`, else None."""
    if not isinstance(chunk, dict) or len(chunk) != 2 or AT not in chunk:
        return None
    for key, kind in _EVENTS.items():
        if key in chunk:
            return kind, str(chunk[key]), dt.datetime.fromisoformat(str(chunk[AT]))
    return None
