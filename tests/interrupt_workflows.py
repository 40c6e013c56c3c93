"""A workflow with two questions pending at once (`"tests.interrupt_workflows:build_two_questions"`).

`left` and `right` run in the same step and each calls `interrupt()`, so a run waits on two
interrupts; each node writes `"<node>=<answer as JSON>"` to `answers` once it has its answer.
"""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


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
