"""A workflow with a subgraph that asks a question (`"tests.transfer_workflows:build_nested"`), so
a run's thread holds checkpoints in a namespace of its own besides the root one.

START -> inner (a compiled subgraph: work -> ask, which calls `interrupt()`) -> done -> END.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class NestedState(TypedDict, total=False):
    topic: str
    steps: Annotated[list[str], operator.add]


def inner_work(state: NestedState) -> dict[str, Any]:
    return {"steps": [f"inner work on {state.get('topic', '?')}"]}


def inner_ask(state: NestedState) -> dict[str, Any]:
    answer = interrupt({"question": "go on inside?"})
    return {"steps": [f"inner answer {answer!r}"]}


def outer_done(state: NestedState) -> dict[str, Any]:
    return {"steps": ["outer done"]}


def build_nested() -> StateGraph:
    inner = StateGraph(NestedState)
    inner.add_node("work", inner_work)
    inner.add_node("ask", inner_ask)
    inner.add_edge(START, "work")
    inner.add_edge("work", "ask")
    inner.add_edge("ask", END)
    outer = StateGraph(NestedState)
    outer.add_node("inner", inner.compile())
    outer.add_node("done", outer_done)
    outer.add_edge(START, "inner")
    outer.add_edge("inner", "done")
    outer.add_edge("done", END)
    return outer
