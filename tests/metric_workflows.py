"""A team's graph that records its own metrics (orchestrator.record_metric), registered by
configuration in the tests (`"scored": "tests.metric_workflows:build_scored"`).

train (async): the loss at steps 0 … points - 1, 1 / (step + 1); score (sync, in LangGraph's
thread): accuracy = points / 10, then a second value of it at the next step, accuracy + 0.01.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from orchestrator import record_metric


class ScoredInput(BaseModel):
    points: int = Field(4, ge=1, le=50, description="How many loss values to record.")


class ScoredState(TypedDict, total=False):
    points: int
    done: bool


async def _train(state: ScoredState) -> dict[str, Any]:
    for step in range(state["points"]):
        record_metric("loss", 1 / (step + 1), step=step)
    return {}


def _score(state: ScoredState) -> dict[str, Any]:
    record_metric("accuracy", state["points"] / 10)
    record_metric("accuracy", state["points"] / 10 + 0.01)  # the next step: the latest value
    return {"done": True}


def build_scored() -> StateGraph:
    graph = StateGraph(ScoredState)
    graph.add_node("train", _train)
    graph.add_node("score", _score)
    graph.add_edge(START, "train")
    graph.add_edge("train", "score")
    graph.add_edge("score", END)
    return graph


build_scored.input_model = ScoredInput  # type: ignore[attr-defined]
