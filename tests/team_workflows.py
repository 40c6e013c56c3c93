"""A team's own graph, written the way a team would, registered by configuration in the tests
(`"invoices": "tests.team_workflows:build_invoices"`).

plan -> `check` x `count` (Send fan-out, `max_concurrency` from run_config, a step that may
raise, a gate the test opens) -> `review` (a dict interrupt) -> conditional edge ->
`approve_post` (an Agent Inbox HumanInterrupt) -> `post`. Every finished `check` leaves a file
in `<dir>/executions` holding when its work began and ended, so the tests can count executions
and how many worked at once. `ledger_url` comes from the run's
config: `config["configurable"]["ledger_url"]` and the runtime context alike.
"""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from pydantic import BaseModel, Field, model_validator


class InvoicesInput(BaseModel):
    count: int = Field(6, ge=1, le=100, description="How many invoices to check.")
    fail_on: int | None = Field(None, description="The invoice whose check raises, if any.")
    dir: str = Field("", description="Where the checks leave their files (and the gate).")
    gated_from: int | None = Field(None, description="Checks from this index wait for the gate.")
    labels: dict[str, int] = Field(default_factory=dict, description="Counts per label.")

    @model_validator(mode="after")
    def fail_on_is_an_invoice(self) -> InvoicesInput:
        if self.fail_on is not None and not 0 <= self.fail_on < self.count:
            raise ValueError("fail_on must name one of the invoices")
        return self


class LedgerConfig(TypedDict):
    ledger_url: str


class InvoicesState(TypedDict, total=False):
    count: int
    fail_on: int | None
    dir: str
    gated_from: int | None
    labels: dict[str, int]
    checked: Annotated[list[dict[str, Any]], operator.add]
    review: Any
    decision: Any
    posted: dict[str, Any]


def _plan(state: InvoicesState) -> dict:
    return {}


def _fan_out(state: InvoicesState) -> list[Send]:
    return [
        Send(
            "check",
            {
                "index": i,
                "fail_on": state.get("fail_on"),
                "dir": state["dir"],
                "gated_from": state.get("gated_from"),
            },
        )
        for i in range(state["count"])
    ]


async def _check(step: dict[str, Any], config: RunnableConfig) -> dict:
    folder = Path(step["dir"])
    if step["gated_from"] is not None and step["index"] >= step["gated_from"]:
        while not (folder / "open").exists():
            await asyncio.sleep(0.02)
    began = time.time()
    await asyncio.sleep(0.05)
    if step["index"] == step["fail_on"] and not (folder / "fixed").exists():
        raise ValueError(f"invoice {step['index']} does not add up")
    runs = folder / "executions"
    runs.mkdir(parents=True, exist_ok=True)
    # One file per finished execution, holding when its work began and ended (wall clock).
    (runs / f"{step['index']}-{uuid.uuid4().hex}").write_text(f"{began} {time.time()}")
    ledger = (config.get("configurable") or {}).get("ledger_url")
    return {"checked": [{"index": step["index"], "ledger": ledger}]}


def _review(state: InvoicesState) -> dict:
    answer = interrupt({"question": "Post these invoices?", "invoices": len(state.get("checked", []))})
    return {"review": answer}


def _after_review(state: InvoicesState) -> str:
    answer = state.get("review")
    if answer is False or (isinstance(answer, dict) and answer.get("post") is False):
        return END
    return "approve_post"


def _approve_post(state: InvoicesState, config: RunnableConfig) -> dict:
    ledger = (config.get("configurable") or {}).get("ledger_url")
    request = {
        "action_request": {
            "action": "post_to_ledger",
            "args": {"url": ledger, "invoices": len(state["checked"])},
        },
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True},
        "description": "Post the checked invoices to the ledger?",
    }
    (response,) = interrupt([request])
    return {"decision": response}


def _post(state: InvoicesState) -> dict:
    decision = state["decision"]
    if decision["type"] == "ignore":
        return {"posted": {"posted": False}}
    if decision["type"] == "response":
        return {"posted": {"posted": False, "note": decision["args"]}}
    args = decision["args"]["args"] if decision["type"] == "edit" else None
    return {"posted": {"posted": True, "args": args}}


def build_invoices() -> StateGraph:
    """Check invoices in parallel, have a person review them, then post them to the ledger."""
    graph = StateGraph(InvoicesState, context_schema=LedgerConfig)
    graph.add_node("plan", _plan)
    graph.add_node("check", _check)
    graph.add_node("review", _review)
    graph.add_node("approve_post", _approve_post)
    graph.add_node("post", _post)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["check"])
    graph.add_edge("check", "review")
    graph.add_conditional_edges("review", _after_review, ["approve_post", END])
    graph.add_edge("approve_post", "post")
    graph.add_edge("post", END)
    return graph


def run_config(input: dict) -> dict:
    return {"max_concurrency": 2, "recursion_limit": 50}


build_invoices.input_model = InvoicesInput  # type: ignore[attr-defined]
build_invoices.run_config = run_config  # type: ignore[attr-defined]
