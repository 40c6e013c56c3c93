"""A run's stop (cancel, release, lost claim, outage) is never lost to a dropped cancel.

CPython 3.11's `asyncio.wait_for` returns what it waited for, and drops the cancel, when both come
in the same turn of the loop (fixed in 3.12). Our write gate no longer uses it; LangGraph's runner
still does, so an attempt whose stop has not begun is asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from orchestrator import run_attempt
from orchestrator.claims import Claim
from orchestrator.outage import WriteGate
from orchestrator.run_attempt import RunAttempt, StopReason


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


def test_a_stop_whose_cancel_was_dropped_is_asked_again_but_never_during_its_clean_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What LangGraph's runner may do on 3.11 (its `wait_for` between steps): the first cancel is
    swallowed and the run goes on. The next check asks again, and that one stops it; once the
    attempt's clean-up has begun (`ending`), no check cancels it again."""
    monkeypatch.setattr(run_attempt, "STOP_ASKED_AGAIN_SECONDS", 0.0)
    attempt = RunAttempt.__new__(RunAttempt)  # only its stop: no run, store or saver needed
    attempt.stop_reason, attempt.ending, attempt._stop_asked_at = None, False, 0.0
    attempt.claim = Claim("run-a", 1)
    seen: list[str] = []

    async def a_run_that_drops_the_first_cancel() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        seen.append("went on")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("stopped")
            attempt.ending = True
            await asyncio.sleep(0.05)  # its clean-up, which no later check may interrupt
            seen.append("cleaned up")
            raise

    async def scenario() -> None:
        attempt.task = asyncio.ensure_future(a_run_that_drops_the_first_cancel())
        await asyncio.sleep(0)
        attempt.stop(StopReason.CANCELLED)  # dropped
        await asyncio.sleep(0.01)
        assert seen == ["went on"] and not attempt.task.done()
        attempt.stop(StopReason.RELEASED)  # the next check: asked again, for the first reason
        await asyncio.sleep(0.01)
        assert seen == ["went on", "stopped"]
        attempt.stop(StopReason.CANCELLED)  # during the clean-up: no cancel
        with pytest.raises(asyncio.CancelledError):
            await attempt.task
        assert seen == ["went on", "stopped", "cleaned up"]
        assert attempt.stop_reason is StopReason.CANCELLED

    asyncio.run(scenario())
