"""Run and checkpoint LangGraph workflows on SQLite or PostgreSQL, and record every run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.run_metrics import record_metric

__all__ = ["record_metric"]


def __getattr__(name: str) -> Any:
    # `from orchestrator import record_metric` (a workflow's node) imports it on first use: the
    # package itself stays light, so that the CLI's reads start quickly.
    if name == "record_metric":
        from orchestrator.run_metrics import record_metric

        return record_metric
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
