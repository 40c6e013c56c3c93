"""A workflow the launch page tests register through ORCHESTRATOR_WORKFLOWS (`"tests.launch_workflows:build_labelled"`).

Its input model has a dict field (`options`), which the launch form cannot draw as a widget of
its own and shows as a JSON box instead, next to a plain text field and a whole number.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field


class LabelledInput(BaseModel):
    """Input of the `labelled` test workflow."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field("x", max_length=50, description="A short label.")
    options: dict[str, Any] = Field(default_factory=dict, description="Free-form options (a JSON object).")
    repeat: int = Field(1, ge=1, le=5, description="How often to repeat the label.")


class LabelledState(TypedDict, total=False):
    label: str
    options: dict[str, Any]
    repeat: int
    text: str


def _join(state: LabelledState) -> dict:
    return {"text": " ".join([state["label"]] * state["repeat"])}


def build_labelled() -> StateGraph:
    """Repeats a label: a one-node graph with a JSON-object input field."""
    graph = StateGraph(LabelledState)
    graph.add_node("join", _join)
    graph.add_edge(START, "join")
    graph.add_edge("join", END)
    return graph


build_labelled.input_model = LabelledInput  # type: ignore[attr-defined]


class Signoff(BaseModel):
    """The answer the `signoff` test workflow's question expects (a form on run detail)."""

    approver: str = Field(min_length=1, max_length=80, description="Who signs off.")
    amount: int = Field(ge=0, le=1000, description="The amount signed off.")


class SignoffState(TypedDict, total=False):
    amount: int
    signed: dict[str, Any]


def _ask(state: SignoffState) -> dict:
    from langgraph.types import interrupt

    return {"signed": interrupt({"approver": "", "amount": state.get("amount", 100)})}


def build_signoff() -> StateGraph:
    """Asks for a sign-off whose answer is checked against an answer model."""
    graph = StateGraph(SignoffState)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


build_signoff.answer_model = Signoff  # type: ignore[attr-defined]


def build_no_entry() -> StateGraph:
    """A graph with no edge from START: LangGraph refuses to compile it."""
    graph = StateGraph(LabelledState)
    graph.add_node("join", _join)
    return graph
