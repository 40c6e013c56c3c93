"""The graph `python -m bench.logging_overhead` runs: `plan` -> `work` x `tasks` (Send fan-out,
no sleeps), each task logging `lines` INFO lines through a team's own logger."""

from __future__ import annotations

import logging
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

logger = logging.getLogger("bench.team")


class State(TypedDict, total=False):
    tasks: int
    lines: int
    done: Annotated[int, operator.add]


def _plan(state: State) -> dict:
    return {}


def _fan_out(state: State) -> list[Send]:
    return [Send("work", {"index": i, "lines": state["lines"]}) for i in range(state["tasks"])]


async def _work(step: dict[str, Any]) -> dict:
    for line in range(step["lines"]):
        logger.info("task %d: line %d of its work", step["index"], line)
    return {"done": 1}


def build() -> StateGraph:
    graph = StateGraph(State)
    graph.add_node("plan", _plan)
    graph.add_node("work", _work)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["work"])
    graph.add_edge("work", END)
    return graph
