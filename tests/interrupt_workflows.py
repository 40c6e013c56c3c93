"""Test workflows that ask questions: two pending at once (`"tests.interrupt_workflows:build_two_questions"`),
and two that declare the answer they take (`build_typed_questions`, below).

`left` and `right` run in the same step and each calls `interrupt()`, so a run waits on two
interrupts; each node writes `"<node>=<answer as JSON>"` to `answers` once it has its answer.
"""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel


class QuestionsState(TypedDict, total=False):
    topic: str
    answers: Annotated[list[str], operator.add]


def _ask(name: str, state: QuestionsState) -> dict[str, Any]:
    answer = interrupt({"question": f"{name}: go on with {state.get('topic', '?')}?"})
    return {"answers": [f"{name}={json.dumps(answer)}"]}


def ask_left(state: QuestionsState) -> dict[str, Any]:
    return _ask("left", state)


def ask_right(state: QuestionsState) -> dict[str, Any]:
    return _ask("right", state)


def build_two_questions() -> StateGraph:
    """START -> left and right (each asks a question) -> END."""
    graph = StateGraph(QuestionsState)
    graph.add_node("left", ask_left)
    graph.add_node("right", ask_right)
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_edge("left", END)
    graph.add_edge("right", END)
    return graph


# -- questions that declare their answer (LangGraph's `interrupt(..., response_schema=...)`) --------
# `"tests.interrupt_workflows:build_typed_questions"`: `ship` asks with a pydantic model (LangGraph
# turns it into a JSON schema for clients and validates the resume with it), then `count` asks
# with a JSON schema (which LangGraph passes on and does not check).


class ShipAnswer(BaseModel):
    ship: bool
    note: str = ""


COUNT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10}


class TypedState(TypedDict, total=False):
    shipped: dict[str, Any]
    copies: int


def ask_ship(state: TypedState) -> dict[str, Any]:
    answer = interrupt({"question": "Ship it?"}, response_schema=ShipAnswer)
    return {"shipped": answer.model_dump()}


def ask_count(state: TypedState) -> dict[str, Any]:
    return {"copies": interrupt({"question": "How many copies?"}, response_schema=COUNT_SCHEMA)}


def build_typed_questions() -> StateGraph:
    """START -> ship (a pydantic answer) -> count (a JSON-schema answer) -> END."""
    graph = StateGraph(TypedState)
    graph.add_node("ship", ask_ship)
    graph.add_node("count", ask_count)
    graph.add_edge(START, "ship")
    graph.add_edge("ship", "count")
    graph.add_edge("count", END)
    return graph
