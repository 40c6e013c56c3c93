"""What a period's model calls add up to, for the overview: tokens and cost per day and workflow,
the most expensive runs and nodes.

Read, not rolled up: the run rollups (orchestrator.rollup) hold no usage, and adding a sum to
their triggers means rewriting them on both databases. Instead each read is bounded by an index
of migration 0020:
- per day and the most expensive runs: `ix_runs_usage`, the runs that made a call (partial on
  `model_calls > 0`, spelled as a literal so SQLite's planner can use it), read from the index
  alone: one entry per run with calls in the period, none for the rest. The figures are the
  run's row, as the runs page, run detail, the CSV and the CLI show them; a run counts on the
  day it was created, as the overview's runs do.
- the most expensive nodes: the period's latest MAX_CALLS calls by start time
  (`ix_run_model_calls_started_at`), said to be cut when there were more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, literal_column, select

from orchestrator.db import run_model_calls, runs
from orchestrator.db.dialect import time_bucket
from orchestrator.run_queries.statements import TOKENS

# The most expensive nodes are of at most this many calls (the latest in the period).
MAX_CALLS = 50_000
TOP = 10
WITH_CALLS = runs.c.model_calls > literal_column("0")  # the partial index's own condition


def usage_overview(
    engine: Engine, start: Any, end: Any, workflows: Sequence[str] = (), *, unit: str = "day"
) -> dict[str, Any]:
    """Tokens, cost and calls per `unit` (day or hour) and workflow of the runs created in
    [start, end); the TOP most expensive runs; the TOP most expensive (workflow, node) pairs of
    the period's latest MAX_CALLS calls, and whether those were all of them (`nodes_cut`)."""
    in_period = [runs.c.created_at >= start, runs.c.created_at < end, WITH_CALLS]
    if workflows:
        in_period.append(runs.c.workflow.in_(list(workflows)))
    bucket = time_bucket(runs.c.created_at, unit).label("bucket")
    per_bucket = (
        select(
            bucket,
            runs.c.workflow,
            func.count().label("runs"),
            func.sum(runs.c.model_calls).label("model_calls"),
            func.sum(TOKENS).label("tokens"),
            func.sum(runs.c.cost_usd).label("cost_usd"),
        )
        .where(*in_period)
        .group_by(bucket, runs.c.workflow)
        .order_by(bucket, runs.c.workflow)
    )
    top_runs = (
        select(
            runs.c.run_id,
            runs.c.workflow,
            runs.c.created_at,
            runs.c.model_calls,
            TOKENS.label("tokens"),
            runs.c.cost_usd,
        )
        .where(*in_period)
        .order_by(runs.c.cost_usd.desc(), TOKENS.desc(), runs.c.run_id)
        .limit(TOP)
    )
    calls = (
        select(
            run_model_calls.c.run_id,
            run_model_calls.c.node,
            run_model_calls.c.input_tokens,
            run_model_calls.c.output_tokens,
            run_model_calls.c.cost_usd,
        )
        .where(run_model_calls.c.started_at >= start, run_model_calls.c.started_at < end)
        .order_by(run_model_calls.c.started_at.desc())
        .limit(MAX_CALLS + 1)
        .subquery()
    )
    node_cost = func.coalesce(func.sum(calls.c.cost_usd), 0.0)
    node_tokens = func.sum(calls.c.input_tokens + calls.c.output_tokens)
    by_node = (
        select(
            runs.c.workflow,
            func.coalesce(calls.c.node, "").label("node"),
            func.count().label("model_calls"),
            node_tokens.label("tokens"),
            node_cost.label("cost_usd"),
        )
        .select_from(calls.join(runs, runs.c.run_id == calls.c.run_id))
        .group_by(runs.c.workflow, calls.c.node)
        .order_by(node_cost.desc(), node_tokens.desc())
        .limit(TOP)
    )
    if workflows:
        by_node = by_node.where(runs.c.workflow.in_(list(workflows)))
    counted = select(func.count()).select_from(calls)
    with engine.connect() as conn:
        days = [dict(r._mapping) for r in conn.execute(per_bucket)]
        expensive_runs = [dict(r._mapping) for r in conn.execute(top_runs)]
        nodes = [dict(r._mapping) for r in conn.execute(by_node)]
        cut = conn.execute(counted).scalar_one() > MAX_CALLS
    for row in days:
        row["cost_usd"] = float(row["cost_usd"] or 0.0)
        row["tokens"], row["model_calls"] = int(row["tokens"] or 0), int(row["model_calls"] or 0)
    for row in nodes:
        row["cost_usd"], row["tokens"] = float(row["cost_usd"]), int(row["tokens"] or 0)
    return {
        "over_time": days,
        "totals": {
            "model_calls": sum(r["model_calls"] for r in days),
            "tokens": sum(r["tokens"] for r in days),
            "cost_usd": sum(r["cost_usd"] for r in days),
        },
        "runs": expensive_runs,
        "nodes": nodes,
        "nodes_cut": cut,
    }
