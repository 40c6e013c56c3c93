"""A state's LangChain messages as a conversation: who said what, the tools called and their results.

Reads a state as the package keeps it (orchestrator.snapshots: a message is its serialised dict,
`{"lc": 1, "type": "constructor", "id": [..., "AIMessage"], "kwargs": {...}}`), and also message
objects, `{"role": ..., "content": ...}` dicts and `(role, content)` pairs, the forms LangGraph's
`add_messages` takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

# A message's class or type -> the role shown.
ROLES = {
    "HumanMessage": "human",
    "AIMessage": "ai",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "tool",
    "ChatMessage": "ai",
    "human": "human",
    "user": "human",
    "ai": "ai",
    "assistant": "ai",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}


@dataclass
class Turn:
    """One message of a conversation."""

    role: str  # human, ai, system or tool
    content: str
    name: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "args", "id"}
    tool_call_id: str | None = None  # a tool's result: the call it answers


def _text(content: Any) -> str:
    """A message's content as text (a list of blocks: their text; other blocks as JSON)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            else:
                parts.append(json.dumps(block, default=str, ensure_ascii=False))
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, default=str, ensure_ascii=False)


def _calls(raw: Any) -> list[dict[str, Any]]:
    calls = []
    for call in raw or []:
        if isinstance(call, dict):
            calls.append({"name": call.get("name"), "args": call.get("args"), "id": call.get("id")})
    return calls


def to_turn(message: Any) -> Turn | None:
    """One message in any of the forms above as a Turn, or None when it is not a message."""
    if isinstance(message, BaseMessage):
        fields: dict[str, Any] = message.model_dump()
        kind = type(message).__name__
    elif isinstance(message, dict) and message.get("lc") == 1 and isinstance(message.get("kwargs"), dict):
        fields = message["kwargs"]
        kind = str((message.get("id") or ["?"])[-1])
    elif isinstance(message, dict) and ("role" in message or "type" in message) and "content" in message:
        fields = message
        kind = str(message.get("role") or message.get("type"))
    elif isinstance(message, list | tuple) and len(message) == 2 and isinstance(message[0], str):
        fields, kind = {"content": message[1]}, message[0]
    else:
        return None
    role = ROLES.get(kind) or ROLES.get(str(fields.get("type") or fields.get("role") or ""))
    if role is None:
        return None
    return Turn(
        role=role,
        content=_text(fields.get("content")),
        name=fields.get("name"),
        tool_calls=_calls(fields.get("tool_calls")),
        tool_call_id=fields.get("tool_call_id"),
    )


def conversation(values: Any, key: str = "messages") -> list[Turn] | None:
    """The conversation in a state's `key` channel, or None when the state holds no messages there."""
    if not isinstance(values, dict):
        return None
    messages = values.get(key)
    if not isinstance(messages, list) or not messages:
        return None
    turns = [to_turn(m) for m in messages]
    if not any(turns):
        return None
    return [t for t in turns if t is not None]
