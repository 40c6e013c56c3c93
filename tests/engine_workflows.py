"""Workflows the engine tests register through the config (`"tests.engine_workflows:..."`).

`build_flaky` (test_engine.py): plan -> `work` fanned out over `tasks` indices -> summarize.
Every execution of a `work` step writes one file `<log_dir>/<index>-<uuid>`, so a test can count
how often each step ran. The step `fail_index` fails on its first attempt only: if the file
`marker` does not exist it waits until every other step has run (their files exist), creates the
marker and raises; once the marker exists it succeeds.
Input: {"marker": path, "log_dir": path, "tasks": n, "fail_index": i}.

`build_gated` (tests/reliability): plan -> `work` x `tasks` -> summarize, where a test decides
where a run stops: steps with index >= `allow` wait until the file `<dir>/open` exists (before
taking their concurrency slot), and `block` ("plan" or "summarize") makes that node wait too.
Every finished `work` execution leaves a file in `<dir>/executions`, so re-executions can be
counted. Input: {"dir", "tasks", "allow", "block", "delay_ms", "fan_out"}.
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
    results: Annotated[list[int], operator.add]
    summary: dict[str, Any]


class FlakyStep(TypedDict):
    index: int
    tasks: int
    marker: str
    log_dir: str
    fail_index: int


def _plan(state: FlakyState) -> dict:
    return {}


def _fan_out(state: FlakyState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "tasks": state.get("tasks", 4),
                "marker": state["marker"],
                "log_dir": state["log_dir"],
                "fail_index": state.get("fail_index", 0),
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
            # Fail only after every other step has run: a condition, never a delay, decides it.
            others = set(range(step["tasks"])) - {index}
            while not others <= {int(p.name.split("-")[0]) for p in log_dir.iterdir()}:
                await asyncio.sleep(0.01)
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


# -- build_gated: steps that wait at a gate until the test opens it -----------------------------


class GatedState(TypedDict, total=False):
    dir: str
    tasks: int
    allow: int | None
    block: str | None
    delay_ms: int
    fan_out: int
    results: Annotated[list[int], operator.add]
    summary: dict[str, Any]


async def wait_for_gate(directory: str) -> None:
    """Wait until the test creates `<dir>/open`."""
    while not (Path(directory) / "open").exists():
        await asyncio.sleep(0.02)


async def _gated_plan(state: GatedState) -> dict:
    if state.get("block") == "plan":
        await wait_for_gate(state["dir"])
    return {}


def _gated_fan_out(state: GatedState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "dir": state["dir"],
                "allow": state.get("allow"),
                "delay_ms": state.get("delay_ms", 50),
                "fan_out": state.get("fan_out", 4),
            },
        )
        for i in range(state.get("tasks", 10))
    ]


async def _gated_work(step: dict[str, Any], config: RunnableConfig) -> dict:
    allow = step["allow"]
    if allow is not None and step["index"] >= allow:
        # Outside the slot, so the steps allowed to go never wait behind a blocked one.
        await wait_for_gate(step["dir"])
    async with slot(config, "work", step["fan_out"]):
        await asyncio.sleep(step["delay_ms"] / 1000)
    runs = Path(step["dir"]) / "executions"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{step['index']}-{uuid.uuid4().hex}").write_text("ran")
    return {"results": [step["index"]]}


async def _gated_summarize(state: GatedState) -> dict:
    if state.get("block") == "summarize":
        await wait_for_gate(state["dir"])
    results = sorted(state.get("results", []))
    return {"summary": {"count": len(results), "indices": results}}


def build_gated() -> StateGraph:
    """plan -> `tasks` work steps (`fan_out` at a time) -> summarize, with gates (see module doc)."""
    graph = StateGraph(GatedState)
    graph.add_node("plan", _gated_plan)
    graph.add_node("work", _gated_work)
    graph.add_node("summarize", _gated_summarize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _gated_fan_out, ["work"])
    graph.add_edge("work", "summarize")
    graph.add_edge("summarize", END)
    return graph


def executions(directory: str | Path) -> dict[int, int]:
    """How often each `gated` step finished its work (one file per execution)."""
    runs = Path(directory) / "executions"
    counts: dict[int, int] = {}
    for path in runs.iterdir() if runs.exists() else []:
        index = int(path.name.split("-")[0])
        counts[index] = counts.get(index, 0) + 1
    return counts
