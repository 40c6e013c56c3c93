"""How an executor lives through a database outage: it tells an outage from a bug, logs it once,
retries with backoff, and starts no new work while what it does cannot be saved.

`WriteGate` is shut by the first write (a checkpoint, a task event, a heartbeat) that finds the
database away, and opened by the first that succeeds. While it is shut a task does not begin
its work (`workflows.limits.slot` waits on it), and a checkpoint write waits and tries again for
as long as the run's claim stays good (the stale window); longer, and the run is cut off and
queued again, to continue from its last checkpoint. So an outage within the stale window pauses
a run and the same attempt goes on; a longer one repeats at most the work that was in flight
when it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger("orchestrator.executor")

# Backoff of the executor's loops and writes while the database does not answer.
MAX_BACKOFF_SECONDS = 5.0
# How long a task about to begin its work waits for a write to confirm the database answers
# before it asks the database itself.
PROBE_AFTER_SECONDS = 0.01
# How long a run cut off by an outage waits for the database to be queued again.
REQUEUE_PATIENCE_SECONDS = 600.0
OUTAGE_REASON = (
    "The database stopped answering while the run was going; it was queued again to continue "
    "from its last checkpoint."
)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the database being unreachable for a while."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | PoolTimeout | ConnectionError):
            return True
        if isinstance(current, DBAPIError) and (
            current.connection_invalidated or isinstance(current.orig, psycopg.OperationalError)
        ):
            return True
        if isinstance(current, sqlite3.OperationalError) and "locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th failure in a row: 0.5, 1, 2, 4, then 5."""
    return min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** min(failures, 5))


class Outage:
    """Logs a database outage once when it starts and once when it ends; gives the backoff."""

    def __init__(self, loop_name: str):
        self.loop_name = loop_name
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next try."""
        if self.since is None:
            self.since = time.monotonic()
            if is_transient(exc):
                logger.warning(
                    "Database not answering (%s); the executor's %s keeps retrying",
                    type(exc).__name__,
                    self.loop_name,
                )
            else:
                logger.exception("The executor's %s failed; retrying", self.loop_name)
        self.failures += 1
        return backoff(self.failures)

    def recovered(self) -> None:
        if self.since is not None:
            logger.warning(
                "Database answers again; the executor's %s resumed after %.1f s",
                self.loop_name,
                time.monotonic() - self.since,
            )
        self.since, self.failures = None, 0


class WriteGate:
    """Whether the database saves what an executor writes: shut from the first write that finds
    it away until the first that succeeds. One per executor, on its event loop.

    `saved_since(moment)` is how a task asks, before its work begins, whether work begun now can
    be saved: it returns once a write (or, when none comes within PROBE_AFTER_SECONDS, a `probe`
    of its own) that began at or after `moment` succeeded. In a fan-out the write is the result
    of the task before it in its slot, saved a moment after that task ended, so the answer costs
    one write's latency; when the database is away, the task waits until it answers again."""

    def __init__(self, patience_seconds: float, probe: Callable[[], Awaitable[None]] | None = None):
        """`patience_seconds`: how long a write keeps trying before its run is given up (the
        stale window: longer, and another executor may take the run over). `probe`: a cheap
        round trip to the database (SELECT 1), raising when it does not answer."""
        self.patience_seconds = patience_seconds
        self.probe = probe
        self._open = asyncio.Event()
        self._open.set()
        self.shut_since: float | None = None
        # When the last write that succeeded began (monotonic), and an event set at the next success.
        self.last_success = 0.0
        self._next_success = asyncio.Event()
        self._probing: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def failed(self) -> None:
        """A write found the database away: no new work until one succeeds."""
        if self.shut_since is None:
            self.shut_since = time.monotonic()
        self._open.clear()

    def succeeded(self, began: float) -> None:
        """A write that began at `began` (monotonic) was saved: the gate opens."""
        self.shut_since = None
        self.last_success = max(self.last_success, began)
        self._open.set()
        self._next_success.set()
        self._next_success = asyncio.Event()

    async def reopened(self, within: float) -> None:
        """Return once the gate is open (another write or a probe got through), or after `within`
        seconds: a write waiting out its backoff tries again as soon as the database answers."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):  # not wait_for: see saved_since
                await self._open.wait()

    def patient(self) -> bool:
        """Whether a failed write may still try again (the outage is within the stale window)."""
        return self.shut_since is None or time.monotonic() - self.shut_since < self.patience_seconds

    async def saved_since(self, moment: float) -> None:
        """Return once the gate is open and a write that began at or after `moment` succeeded."""
        failures = 0
        while not (self._open.is_set() and self.last_success >= moment):
            success = self._next_success
            # asyncio.timeout, not wait_for: CPython 3.11's wait_for drops a cancel (the run's
            # cancel, a lost claim) that comes in the same turn as the success it waits for.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_AFTER_SECONDS if self.is_open else backoff(failures)):
                    await success.wait()
                continue
            if self.probe is None:
                await success.wait()
            elif not await self._probe():
                failures += 1

    async def _probe(self) -> bool:
        """One round trip, shared by every task asking while it is under way."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._probe_once())
        try:
            await asyncio.shield(self._probing)
        except Exception:
            return False
        return True

    async def _probe_once(self) -> None:
        assert self.probe is not None
        began = time.monotonic()
        try:
            await self.probe()
        except Exception as exc:
            if is_transient(exc):
                self.failed()
            raise
        self.succeeded(began)
