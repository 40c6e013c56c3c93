"""The `simulate` built-in: a synthetic fan-out workflow for demos, load tests and benchmarks."""

from __future__ import annotations

import asyncio
import hashlib
import operator
import random
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.workflows.limits import release, slot

NAME = "simulate"
DESCRIPTION = (
    "For demos, load tests and benchmarks; does no real work. "
    "Fans out `tasks` timed work steps, `fan_out` at a time, that fail at `fail_rate`, "
    "with results fixed by `seed`."
)


class SimulateInput(BaseModel):
    """Input of the `simulate` workflow."""

    model_config = ConfigDict(extra="forbid", title="simulate")

    tasks: int = Field(10, ge=1, le=10000, description="Number of parallel work steps to run.")
    fail_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Chance (0 to 1) that a work step fails; one failure fails the run."
    )
    delay_ms: int = Field(
        100,
        ge=0,
        le=60000,
        description="Average time each work step sleeps, in milliseconds (jittered 0.5x to 1.5x).",
    )
    seed: int = Field(0, description="Seed that fixes delays, failures and results; same seed, same run.")
    fan_out: int = Field(4, ge=1, le=64, description="How many work steps may run at the same time.")


class SimulateState(TypedDict, total=False):
    """Graph state: the input fields, the planned task indices, results and summary."""

    tasks: int
    fail_rate: float
    delay_ms: int
    seed: int
    fan_out: int
    task_ids: list[int]
    results: Annotated[list[dict[str, Any]], operator.add]
    summary: dict[str, Any]


class WorkInput(TypedDict):
    """What one `work` step receives through its `Send`."""

    index: int
    seed: int
    fail_rate: float
    delay_ms: int
    fan_out: int


def planned_tasks(input: dict) -> int:
    """`plan`, one `work` per task, `summarize`: known before the run starts."""
    return int(input["tasks"]) + 2


def run_config(input: dict) -> dict:
    """No extra run config: `fan_out` is enforced inside `work` (see orchestrator.workflows.limits)."""
    return {}


def _plan(state: SimulateState) -> dict:
    return {"task_ids": list(range(state["tasks"]))}


def _fan_out(state: SimulateState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "seed": state["seed"],
                "fail_rate": state["fail_rate"],
                "delay_ms": state["delay_ms"],
                "fan_out": state["fan_out"],
            },
        )
        for i in state["task_ids"]
    ]


async def _work(state: WorkInput, config: RunnableConfig) -> dict:
    async with slot(config, "work", state["fan_out"]):
        return await _do_work(state)


async def _do_work(payload: WorkInput) -> dict:
    index, seed = payload["index"], payload["seed"]
    # One generator per (seed, index): the outcome does not depend on scheduling order.
    rng = random.Random(f"{seed}:{index}")
    roll = rng.random()
    jitter = rng.uniform(0.5, 1.5)
    value = rng.randint(0, 999)
    await asyncio.sleep(payload["delay_ms"] * jitter / 1000)
    if roll < payload["fail_rate"]:
        raise RuntimeError(f"simulated failure in task {index}")
    digest = hashlib.sha1(f"{seed}:{index}:{value}".encode()).hexdigest()[:12]
    return {"results": [{"index": index, "value": value, "digest": digest}]}


def _summarize(state: SimulateState, config: RunnableConfig) -> dict:
    release(config, "work")
    results = sorted(state.get("results", []), key=lambda r: r["index"])
    total = sum(r["value"] for r in results)
    combined = hashlib.sha1("".join(r["digest"] for r in results).encode()).hexdigest()[:12]
    return {
        "summary": {
            "count": len(results),
            "total": total,
            "mean": round(total / len(results), 3) if results else 0.0,
            "digest": combined,
        }
    }


def build_simulate_graph() -> StateGraph:
    """Return the uncompiled `simulate` graph: plan -> work (one per task) -> summarize."""
    graph = StateGraph(SimulateState)
    graph.add_node("plan", _plan)
    graph.add_node("work", _work, input_schema=WorkInput)
    graph.add_node("summarize", _summarize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["work"])
    graph.add_edge("work", "summarize")
    graph.add_edge("summarize", END)
    return graph
