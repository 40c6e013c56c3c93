"""The write gate (orchestrator.outage.WriteGate) never swallows a cancel.

A task waits at the gate before its work begins; a run's cancel or lost claim cancels that task.
CPython 3.11's `asyncio.wait_for` returns the waited-for result, and drops the cancel, when both
come in the same turn of the loop (fixed in 3.12): the run then went on, its cancel already
spent (seen once in CI: "Cancellation requested", the run still running a minute later).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.outage import WriteGate


@pytest.mark.parametrize("probe", [False, True], ids=["no-probe", "probe"])
def test_a_cancel_that_comes_with_the_awaited_write_still_cancels(probe: bool) -> None:
    async def scenario() -> None:
        async def ping() -> None:
            await asyncio.sleep(3600)  # a probe that never answers: only the write can

        gate = WriteGate(30, ping if probe else None)
        moment = time.monotonic()
        waiting = asyncio.ensure_future(gate.saved_since(moment))
        for _ in range(3):
            await asyncio.sleep(0)  # the task waits at the gate
        assert not waiting.done()
        gate.succeeded(time.monotonic())  # the write it waits for is saved ...
        waiting.cancel()  # ... in the same turn as the run's cancel
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())
