"""A workflow for the launch-form tests (`"tests.pages.form_workflows:build_regional"`): its input
model has a choice (a Literal), a list of text and a bounded whole number."""

from __future__ import annotations

from typing import Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field


class RegionalInput(BaseModel):
    """Input of the `regional` test workflow."""

    model_config = ConfigDict(extra="forbid")

    region: Literal["emea", "apac", "amer"] = Field("emea", description="Sales region.")
    steps: list[str] = Field(
        default_factory=lambda: ["collect", "report"], max_length=5, description="What to do, in order."
    )
    weeks: int = Field(4, ge=1, le=52, description="How many weeks.")


class RegionalState(TypedDict, total=False):
    region: str
    steps: list[str]
    weeks: int
    report: str


def _report(state: RegionalState) -> dict:
    return {"report": f"{state['region']}: {', '.join(state.get('steps', []))} over {state['weeks']} weeks"}


def build_regional() -> StateGraph:
    """One node that writes a line about its input."""
    graph = StateGraph(RegionalState)
    graph.add_node("report", _report)
    graph.add_edge(START, "report")
    graph.add_edge("report", END)
    return graph


build_regional.input_model = RegionalInput  # type: ignore[attr-defined]
