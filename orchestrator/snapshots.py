"""Make graph state JSON-safe for the `state_snapshot` column.

LangChain objects (messages and the like) become their serialised dicts, pydantic models and
dataclasses their fields; anything else unknown becomes its `repr`. Long strings and lists
are cut with a marker saying how much was left out, so one huge state cannot bloat the table.
Text neither database can hold (a NUL, a lone surrogate), in values and keys, is kept escaped
(`validation.storable_text`: `\\x00`, `\\ud800`), so the rest of the state is stored with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.load import dumpd
from langchain_core.load.serializable import Serializable
from pydantic import BaseModel

from orchestrator.validation import storable_text

MAX_STRING = 10_000
MAX_ITEMS = 1_000
MAX_DEPTH = 20


def to_jsonable(value: Any, *, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS) -> Any:
    """A JSON-safe copy of `value`, with large strings and sequences truncated with a marker."""
    return _convert(value, max_string, max_items, 0)


def _convert(value: Any, max_string: int, max_items: int, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > max_string:
            value = value[:max_string] + f"…[truncated {len(value) - max_string} chars]"
        return storable_text(value)
    if depth >= MAX_DEPTH:
        return "…[truncated: nested too deep]"

    def again(item: Any) -> Any:
        return _convert(item, max_string, max_items, depth + 1)

    if isinstance(value, Mapping):
        items = list(value.items())
        out = {storable_text(str(k)): again(v) for k, v in items[:max_items]}
        if len(items) > max_items:
            out["…"] = f"[truncated {len(items) - max_items} keys]"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        out_list = [again(v) for v in seq[:max_items]]
        if len(seq) > max_items:
            out_list.append(f"…[truncated {len(seq) - max_items} items]")
        return out_list
    if isinstance(value, Serializable):
        return again(dumpd(value))
    if isinstance(value, BaseModel):
        return again(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return again(dataclasses.asdict(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return again(value.value)
    if isinstance(value, bytes):
        return f"[{len(value)} bytes]"
    return again(repr(value))
