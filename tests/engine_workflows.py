"""Workflows the engine tests register through the config (`"tests.engine_workflows:..."`).

`build_flaky` (test_engine.py): plan -> `work` fanned out over `tasks` indices -> summarize.
Every execution of a `work` step writes one file `<log_dir>/<index>-<uuid>`, so a test can count
how often each step ran. The step `fail_index` fails on its first attempt only: if the file
`marker` does not exist it creates it and raises (after the other steps have finished); once
the marker exists it succeeds. Input: {"marker": path, "log_dir": path, "tasks": n, "fail_index": i}.

`build_counted` (test_workers.py): the shape of `simulate` (its fan-out bounded inside the node
by orchestrator.workflows.limits, as simulate does), with every finished step leaving a file in `log_dir`,
so re-executions after a crash can be counted. Input: {"log_dir", "tasks", "delay_ms", "fan_out"}.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from orchestrator.workflows.limits import slot


class FlakyState(TypedDict, total=False):
    marker: str
    log_dir: str
    tasks: int
    fail_index: int
    fail_delay_ms: int
    results: Annotated[list[int], operator.add]
    summary: dict[str, Any]


class FlakyStep(TypedDict):
    index: int
    marker: str
    log_dir: str
    fail_index: int
    fail_delay_ms: int


def _plan(state: FlakyState) -> dict:
    return {}


def _fan_out(state: FlakyState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "marker": state["marker"],
                "log_dir": state["log_dir"],
                "fail_index": state.get("fail_index", 0),
                "fail_delay_ms": state.get("fail_delay_ms", 300),
            },
        )
        for i in range(state.get("tasks", 4))
    ]


async def _work(step: FlakyStep) -> dict:
    index = step["index"]
    log_dir = Path(step["log_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{index}-{uuid.uuid4().hex}").write_text("ran")
    if index == step["fail_index"]:
        marker = Path(step["marker"])
        if not marker.exists():
            # Let the other steps finish (and their writes be saved) before failing.
            await asyncio.sleep(step["fail_delay_ms"] / 1000)
            marker.write_text("failed once")
            raise RuntimeError(f"flaky failure in step {index}")
    return {"results": [index]}


def _summarize(state: FlakyState) -> dict:
    results = sorted(state.get("results", []))
    return {"summary": {"count": len(results), "indices": results}}


def build_flaky() -> StateGraph:
    """Fans out steps of which one fails on its first attempt only."""
    graph = StateGraph(FlakyState)
    graph.add_node("plan", _plan)
    graph.add_node("work", _work)
    graph.add_node("summarize", _summarize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["work"])
    graph.add_edge("work", "summarize")
    graph.add_edge("summarize", END)
    return graph


# -- build_counted: slow fan-out steps that leave one file per finished execution ------------------


class CountedState(TypedDict, total=False):
    log_dir: str
    tasks: int
    delay_ms: int
    fan_out: int
    results: Annotated[list[int], operator.add]
    summary: dict[str, Any]


def _counted_fan_out(state: CountedState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "log_dir": state["log_dir"],
                "delay_ms": state.get("delay_ms", 100),
                "fan_out": state.get("fan_out", 3),
            },
        )
        for i in range(state.get("tasks", 10))
    ]


async def _counted_work(step: dict[str, Any], config: RunnableConfig) -> dict:
    async with slot(config, "work", step["fan_out"]):
        await asyncio.sleep(step["delay_ms"] / 1000)
    log_dir = Path(step["log_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{step['index']}-{uuid.uuid4().hex}").write_text("ran")
    return {"results": [step["index"]]}


def build_counted() -> StateGraph:
    """Fans out `tasks` steps of `delay_ms`, `fan_out` at a time; each finished step leaves a file."""
    graph = StateGraph(CountedState)
    graph.add_node("plan", _plan)
    graph.add_node("work", _counted_work)
    graph.add_node("summarize", _summarize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _counted_fan_out, ["work"])
    graph.add_edge("work", "summarize")
    graph.add_edge("summarize", END)
    return graph
