"""Keep a page's filter widgets in the URL (st.query_params), so a filtered view can be shared.

The URL is read into the widgets' session state when a session opens the page, or when the
URL changed from outside (a link from another page); after that the widgets lead and the URL
follows. Only values that differ from their defaults appear in the URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st


@dataclass(frozen=True)
class Param:
    """One widget (session-state `key`) mirrored in the query parameter `name`."""

    key: str
    name: str
    kind: str = "str"  # str, int, list, date_range, bool
    default: Any = None
    choices: tuple[str, ...] = field(default=())

    def parse(self, raw: str | None) -> Any:
        """The widget value for a URL value; a value that does not parse is the default."""
        if raw is None or raw == "":
            return self.default
        try:
            return _PARSERS[self.kind](self, raw)
        except ValueError:
            return self.default

    def dump(self, value: Any) -> str | None:
        """The URL value for a widget value, or None to leave it out."""
        if value == self.default or value in (None, "", [], ()):
            return None
        return _DUMPERS[self.kind](value)


def _parse_list(param: Param, raw: str) -> list[str]:
    items = [item for item in raw.split(",") if item]
    return [item for item in items if not param.choices or item in param.choices]


def _parse_date_range(_param: Param, raw: str) -> tuple[dt.date, ...]:
    return tuple(dt.date.fromisoformat(part) for part in raw.split("..") if part)[:2]


def _parse_bool(_param: Param, raw: str) -> bool:
    return raw.lower() in ("1", "true", "yes")


def _parse_int(param: Param, raw: str) -> int:
    value = int(raw)
    if value < 0 or (param.choices and raw not in param.choices):
        raise ValueError(raw)
    return value


def _parse_choice(param: Param, raw: str) -> str:
    if param.choices and raw not in param.choices:
        raise ValueError(raw)
    return raw


_PARSERS: dict[str, Callable[[Param, str], Any]] = {
    "str": _parse_choice,
    "int": _parse_int,
    "list": _parse_list,
    "date_range": _parse_date_range,
    "bool": _parse_bool,
}
_DUMPERS: dict[str, Callable[[Any], str]] = {
    "str": str,
    "int": str,
    "list": ",".join,
    "date_range": lambda dates: "..".join(d.isoformat() for d in dates),
    "bool": lambda value: "true" if value else "false",
}


def load_from_url(params: list[Param], marker: str) -> None:
    """Set the widgets' state from the URL, unless the URL is the one this session last wrote."""
    current = st.query_params.to_dict()
    if st.session_state.get(marker) == current and all(p.key in st.session_state for p in params):
        return
    for param in params:
        st.session_state[param.key] = param.parse(current.get(param.name))
    st.session_state[marker] = current


def save_to_url(params: list[Param], marker: str, keep: tuple[str, ...] = ()) -> None:
    """Write the widgets' values that differ from their defaults into the URL."""
    values = {name: st.query_params[name] for name in keep if name in st.query_params}
    for param in params:
        dumped = param.dump(st.session_state.get(param.key))
        if dumped is not None:
            values[param.name] = dumped
    if st.query_params.to_dict() != values:
        st.query_params.from_dict(values)
    st.session_state[marker] = values
