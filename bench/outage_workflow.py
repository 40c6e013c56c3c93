"""The workflow of `python -m bench.outage`: plan -> `work` x `tasks` (`fan_out` at a time, 150 ms
each) -> summarize. Every finished `work` execution leaves a file `<dir>/<index>-<uuid>`, so the
benchmark counts executions itself, apart from the orchestrator's records."""

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


class CountedState(TypedDict, total=False):
    dir: str
    tasks: int
    fan_out: int
    done: Annotated[list[int], operator.add]
    summary: dict[str, Any]


def _fan_out(state: CountedState) -> list[Send]:
    return [
        Send("work", {"index": i, "dir": state["dir"], "fan_out": state["fan_out"]})
        for i in range(state["tasks"])
    ]


async def _work(step: dict[str, Any], config: RunnableConfig) -> dict:
    async with slot(config, "work", step["fan_out"]):
        await asyncio.sleep(0.15)
    folder = Path(step["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{step['index']}-{uuid.uuid4().hex}").write_text("ran")
    return {"done": [step["index"]]}


def _summarize(state: CountedState) -> dict:
    return {"summary": {"count": len(state.get("done", []))}}


def build_counted() -> StateGraph:
    """plan -> work x tasks -> summarize."""
    graph = StateGraph(CountedState)
    graph.add_node("plan", lambda state: {})
    graph.add_node("work", _work)
    graph.add_node("summarize", _summarize)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["work"])
    graph.add_edge("work", "summarize")
    graph.add_edge("summarize", END)
    return graph
