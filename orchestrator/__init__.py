"""Run and checkpoint LangGraph workflows on SQLite or PostgreSQL, and record every run."""

from orchestrator.run_metrics import record_metric

__all__ = ["record_metric"]
