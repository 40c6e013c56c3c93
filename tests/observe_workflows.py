"""A team's graph that logs and calls a chat model, registered by configuration in the tests
(`"chatty": "tests.observe_workflows:build_chatty"`).

`plan` -> `work` x `tasks` (Send fan-out; each logs `lines` INFO lines, one WARNING, and with
`fail` one ERROR, through the team's own logger; a sync node, so its logs come from a thread) ->
`ask` (an async node calling `UsageReportingTestChatModel`, langchain-core's fake chat model
answering with messages that report usage: the code path a real model takes; its first answer
calls a tool, answered in `messages`) -> end.
"""

from __future__ import annotations

import contextlib
import logging
import operator
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send
from pydantic import BaseModel, Field

logger = logging.getLogger("team.chatty")

# What the test model's every answer reports, and its name (the price table's key).
MODEL_NAME = "test-usage-model"
USAGE = {
    "input_tokens": 1200,
    "output_tokens": 300,
    "total_tokens": 1500,
    "input_token_details": {"cache_read": 200},
}


class UsageReportingTestChatModel(FakeMessagesListChatModel):
    """langchain-core's fake chat model (a testing model), answering with messages that report
    usage and naming itself as a real model does (`ls_model_name`)."""

    model_name: str = MODEL_NAME

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_model_name"] = self.model_name
        return params


SECRET = "sk-not-for-storage"

# The model's first answer calls a tool; `ask` answers it as the tool would.
TOOL_CALL = {"name": "lookup", "args": {"q": "work"}, "id": "call_1"}


def test_model(answers: int = 10) -> UsageReportingTestChatModel:
    return UsageReportingTestChatModel(
        responses=[
            AIMessage(
                content=f"answer {i}",
                usage_metadata=USAGE,  # type: ignore[arg-type]
                tool_calls=[TOOL_CALL] if i == 0 else [],
            )
            for i in range(answers)
        ]
    )


ODD_TEXT = "a\x00b \ud800 c"


class ChattyInput(BaseModel):
    tasks: int = Field(3, ge=1, le=2000)
    lines: int = Field(5, ge=0, le=100_000)
    fail: bool = False
    calls: int = Field(2, ge=0, le=10)
    odd: bool = False  # plan also logs text a database cannot hold as it is (a NUL, a lone surrogate)


class ChattyState(TypedDict, total=False):
    tasks: int
    lines: int
    fail: bool
    calls: int
    odd: bool
    done: Annotated[list[int], operator.add]
    messages: Annotated[list[BaseMessage], add_messages]


def _plan(state: ChattyState) -> dict:
    logger.info("planning %d tasks", state["tasks"])
    if state.get("odd"):
        logger.warning("odd text %s", ODD_TEXT)  # (test_run_logs keeps it out of pytest's capture)
    return {}


def _fan_out(state: ChattyState) -> list[Send]:
    return [
        Send(
            "work",
            {
                "index": i,
                "lines": state["lines"],
                "fail": state.get("fail", False),
                # A secret-named key (never stored) beside one that only looks like it (kept).
                "api_key": SECRET,
                "max_tokens": 5,
            },
        )
        for i in range(state["tasks"])
    ]


def _work(step: dict[str, Any]) -> dict:
    for line in range(step["lines"]):
        logger.info("task %d line %d", step["index"], line)
    logger.warning("task %d is slow", step["index"])
    if step["fail"]:
        logger.error("task %d went wrong", step["index"])
    return {"done": [step["index"]]}


async def _ask(state: ChattyState) -> dict:
    model = test_model(state.get("calls", 0))
    messages: list[BaseMessage] = [HumanMessage(content="How did the work go?")]
    for _ in range(state.get("calls", 0)):
        answer = await model.ainvoke(messages)
        messages.append(answer)
        for call in answer.tool_calls:
            messages.append(ToolMessage(content="3 tasks done", tool_call_id=call["id"], name=call["name"]))
    return {"messages": messages}


def build_chatty() -> StateGraph:
    """Work in parallel, logging; then ask a (test) chat model about it."""
    graph = StateGraph(ChattyState)
    graph.add_node("plan", _plan)
    graph.add_node("work", _work)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _fan_out, ["work"])
    graph.add_edge("work", "ask")
    graph.add_edge("ask", END)
    return graph


build_chatty.input_model = ChattyInput  # type: ignore[attr-defined]


# -- text a database cannot hold as it is, in what a run's tasks are given, write and call ------

NUL_TEXT = "a\x00b"
SURROGATE_TEXT = "c \ud800 d"
# A model named with both (a provider's name is whatever it says), and the error another raises.
ODD_MODEL_NAME = f"odd{NUL_TEXT} {SURROGATE_TEXT}"
ODD_ERROR = f"provider refused {NUL_TEXT} {SURROGATE_TEXT}"


class OddModelError(ValueError):
    pass


class RefusingTestChatModel(UsageReportingTestChatModel):
    """The test model, failing every call with an error that says odd text."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise OddModelError(ODD_ERROR)


class OddInput(BaseModel):
    # `ask` raises an error saying the odd text (the run fails with it).
    fail: bool = False
    # `plan` writes a lone surrogate into the state (LangGraph's savers cannot serialise it).
    surrogate_in_state: bool = False
    # `plan` writes a NUL ("nul") or a lone surrogate ("surrogate") into a text channel, which
    # LangGraph's PostgreSQL saver keeps in the checkpoint's own JSONB.
    odd_title: Literal["", "nul", "surrogate"] = ""


class OddState(TypedDict, total=False):
    fail: bool
    surrogate_in_state: bool
    odd_title: str
    title: str
    notes: Annotated[list[str], operator.add]
    messages: Annotated[list[BaseMessage], add_messages]


def _odd_plan(state: OddState) -> dict:
    logger.info("planning odd work")
    notes = [NUL_TEXT, SURROGATE_TEXT] if state.get("surrogate_in_state") else [NUL_TEXT]
    wrote: dict[str, Any] = {"notes": notes}
    if state.get("odd_title"):
        wrote["title"] = NUL_TEXT if state["odd_title"] == "nul" else SURROGATE_TEXT
    return wrote


def _odd_fan_out(state: OddState) -> list[Send]:
    # Each `work` task is given the odd text, as a value and in a key.
    return [Send("work", {"index": i, "note": state["notes"][0], "key\x00": 1}) for i in range(2)]


def _odd_work(step: dict[str, Any]) -> dict:
    logger.info("odd work %d", step["index"])
    return {"notes": [f"{step['note']} done {step['index']}"]}


async def _odd_ask(state: OddState) -> dict:
    logger.info("asking about odd work")
    question = HumanMessage(content=f"what of {NUL_TEXT}?")
    model = UsageReportingTestChatModel(
        model_name=ODD_MODEL_NAME, responses=[AIMessage(content=f"it said {NUL_TEXT}", usage_metadata=USAGE)]  # type: ignore[arg-type]
    )
    answer = await model.ainvoke([question])
    with contextlib.suppress(OddModelError):
        await RefusingTestChatModel(responses=[AIMessage(content="never")]).ainvoke([question])
    if state.get("fail"):
        raise OddModelError(f"odd failure {NUL_TEXT} {SURROGATE_TEXT}")
    return {"messages": [question, answer]}


def build_odd() -> StateGraph:
    """Tasks given, writing and calling models with text a database cannot hold as it is."""
    graph = StateGraph(OddState)
    graph.add_node("plan", _odd_plan)
    graph.add_node("work", _odd_work)
    graph.add_node("ask", _odd_ask)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", _odd_fan_out, ["work"])
    graph.add_edge("work", "ask")
    graph.add_edge("ask", END)
    return graph


build_odd.input_model = OddInput  # type: ignore[attr-defined]
