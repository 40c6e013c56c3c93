"""The final state as JSON (README: "LangChain objects serialised, long values truncated with a
marker"): each kind of value a graph's state may hold, with the JSON written out by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid

from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from orchestrator.snapshots import MAX_DEPTH, to_jsonable


class Colour(enum.Enum):
    RED = "red"


class Invoice(BaseModel):
    number: int
    due: dt.date


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __repr__(self) -> str:
        return "<opaque thing>"


def test_plain_values_pass_through_and_unknown_ones_become_text() -> None:
    state = {
        "n": 3,
        "ok": True,
        "none": None,
        "ratio": 0.5,
        "pair": (1, 2),
        "set": {"b", "a"},
        "when": dt.datetime(2026, 11, 27, 14, 3, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 11, 27),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "colour": Colour.RED,
        "blob": b"\x00\x01\x02",
        "invoice": Invoice(number=7, due=dt.date(2026, 12, 1)),
        "point": Point(1, 2),
        "thing": Opaque(),
        1: "key made text",
    }
    assert to_jsonable(state) == {
        "n": 3,
        "ok": True,
        "none": None,
        "ratio": 0.5,
        "pair": [1, 2],
        "set": ["a", "b"],
        "when": "2026-11-27T14:03:05+00:00",
        "day": "2026-11-27",
        "id": "12345678-1234-5678-1234-567812345678",
        "colour": "red",
        "blob": "[3 bytes]",
        "invoice": {"number": 7, "due": "2026-12-01"},
        "point": {"x": 1, "y": 2},
        "thing": "<opaque thing>",
        "1": "key made text",
    }


def test_langchain_messages_become_their_serialised_dicts() -> None:
    out = to_jsonable({"messages": [HumanMessage("hi"), AIMessage("hello")]})
    json.dumps(out)
    human, ai = out["messages"]
    assert human["id"] == ["langchain", "schema", "messages", "HumanMessage"]
    assert human["kwargs"]["content"] == "hi" and human["kwargs"]["type"] == "human"
    assert ai["id"] == ["langchain", "schema", "messages", "AIMessage"]
    assert ai["kwargs"]["content"] == "hello"


def test_long_strings_lists_and_dicts_are_cut_with_a_marker() -> None:
    out = to_jsonable(
        {"text": "x" * 12, "items": list(range(5)), "map": {str(i): i for i in range(4)}},
        max_string=10,
        max_items=3,
    )
    assert out == {
        "text": "xxxxxxxxxx…[truncated 2 chars]",
        "items": [0, 1, 2, "…[truncated 2 items]"],
        "map": {"0": 0, "1": 1, "2": 2, "…": "[truncated 1 keys]"},
    }


def test_nesting_deeper_than_the_limit_is_cut() -> None:
    value: list = []
    innermost = value
    for _ in range(MAX_DEPTH + 5):
        innermost.append([])
        innermost = innermost[0]
    out = to_jsonable(value)
    depth = 0
    while isinstance(out, list):
        out = out[0]
        depth += 1
    assert (depth, out) == (MAX_DEPTH, "…[truncated: nested too deep]")
