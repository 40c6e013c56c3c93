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

When a task must wait for a slot, and when it gets one, `slot` tells the executor (through
LangGraph's custom stream): the task is recorded as waiting, then as working, so its duration
is its work and its wait for a slot is kept apart. The executor forgets a run's slots when the
run stops, whatever the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer

# The keys of the custom stream events `slot` sends when a task must wait for a slot, and when
# it starts its work.
WORK_WAITING = "orchestrator_work_waiting"
WORK_STARTED = "orchestrator_work_started"
# LangGraph puts the running task's id in its config under this key.
_TASK_ID_KEY = "__pregel_task_id"

# (event loop, thread_id, group) -> semaphore; a semaphore belongs to one event loop.
_slots: dict[tuple[int, str, str], asyncio.Semaphore] = {}


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
    writer({event: str(task_id)})


@asynccontextmanager
async def slot(config: RunnableConfig, group: str, limit: int) -> AsyncIterator[None]:
    """Wait for one of `limit` slots of this run's `group`, and hold it while the work runs."""
    semaphore = _slots.setdefault(_key(config, group), asyncio.Semaphore(max(1, limit)))
    if semaphore.locked():  # every slot is taken: this task waits
        _announce(config, WORK_WAITING)
    async with semaphore:
        _announce(config, WORK_STARTED)
        yield


def release(config: RunnableConfig, group: str) -> None:
    """Forget a run's slots of `group` (a node may call it once its fan-out is over)."""
    thread_id = _thread_id(config)
    for key in [k for k in _slots if k[1:] == (thread_id, group)]:
        _slots.pop(key, None)


def release_run(run_id: str) -> None:
    """Forget every slot of a run (the executor calls this when the run stops, however it ends)."""
    for key in [k for k in _slots if k[1] == run_id]:
        _slots.pop(key, None)


def slot_event(chunk: Any) -> tuple[str, str] | None:
    """("wait" or "work", task id) for a custom stream chunk sent by `slot`, else None."""
    if isinstance(chunk, dict) and len(chunk) == 1:
        if WORK_STARTED in chunk:
            return "work", str(chunk[WORK_STARTED])
        if WORK_WAITING in chunk:
            return "wait", str(chunk[WORK_WAITING])
    return None
