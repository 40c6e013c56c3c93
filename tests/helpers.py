"""Small helpers shared by the test modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# Written out by hand (not imported from the package) so a change to the package's sets shows up
# here as a failing test rather than passing silently.
FINISHED = ("succeeded", "failed", "cancelled", "interrupted")  # `finished_at` is set
AT_REST = (*FINISHED, "awaiting_input")  # nothing more happens until someone acts


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy (returned); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value {last!r}")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the OS's choice of a free one)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
