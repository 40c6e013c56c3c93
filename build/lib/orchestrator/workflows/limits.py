"""Bound how many of one run's fan-out tasks do their work at once, inside the node.

LangGraph's own `max_concurrency` also gates the checkpointer's writes behind the same
semaphore as the tasks, so a finished task's result is saved only when the whole step ends:
a crash in the middle of a step would lose every finished result, and resuming would run them
all again. A semaphore per run, taken inside the node, bounds the work the same way while each
task's writes are saved the moment it finishes.

    async def work(payload, config: RunnableConfig):
        async with slot(config, "work", payload["fan_out"]):
            ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langchain_core.runnables import RunnableConfig

# (event loop, thread_id, group) -> semaphore; a semaphore belongs to one event loop.
_slots: dict[tuple[int, str, str], asyncio.Semaphore] = {}


def _key(config: RunnableConfig, group: str) -> tuple[int, str, str]:
    thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
    return id(asyncio.get_running_loop()), thread_id, group


@asynccontextmanager
async def slot(config: RunnableConfig, group: str, limit: int) -> AsyncIterator[None]:
    """Wait for one of `limit` slots of this run's `group`, and hold it."""
    semaphore = _slots.setdefault(_key(config, group), asyncio.Semaphore(max(1, limit)))
    async with semaphore:
        yield


def release(config: RunnableConfig, group: str) -> None:
    """Forget a run's slots once its fan-out is over (called by the node after it, maybe in a thread)."""
    thread_id = str((config.get("configurable") or {}).get("thread_id", ""))
    for key in [k for k in _slots if k[1:] == (thread_id, group)]:
        _slots.pop(key, None)
