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

from orchestrator.errors import InputError
from orchestrator.run_queries.filter import parse_cost
from orchestrator.validation import MAX_COUNT


@dataclass(frozen=True)
class Param:
    """One widget (session-state `key`) mirrored in the query parameter `name`."""

    key: str
    name: str
    kind: str = "str"  # str, int, float (a cost), list, date_range, bool
    default: Any = None
    choices: tuple[str, ...] = field(default=())

    def parse(self, raw: str | None) -> Any:
        """The widget value for a URL value; a value that does not parse is the default."""
        return self.read(raw)[0]

    def read(self, raw: str | None) -> tuple[Any, bool]:
        """The widget value for a URL value, and whether it parsed (no value parses as the default)."""
        if raw is None or raw == "":
            return self.default, True
        try:
            return _PARSERS[self.kind](self, raw), True
        except ValueError:
            return self.default, False

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
    # Digits only, at most the package's largest count: a widget cannot hold a longer number.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_COUNT)) or int(raw) > MAX_COUNT:
        raise ValueError(raw)
    if param.choices and raw not in param.choices:
        raise ValueError(raw)
    return int(raw)


def _parse_float(_param: Param, raw: str) -> float:
    # A cost's number as the package reads one typed anywhere (run_queries.filter.parse_cost).
    try:
        return parse_cost(raw, "cost")
    except InputError as exc:
        raise ValueError(raw) from exc


def _parse_choice(param: Param, raw: str) -> str:
    # No widget's text holds a NUL: such a value is one more the link's sentence lists (never a
    # second banner from the filter that would refuse it).
    if "\x00" in raw or (param.choices and raw not in param.choices):
        raise ValueError(raw)
    return raw


_PARSERS: dict[str, Callable[[Param, str], Any]] = {
    "str": _parse_choice,
    "int": _parse_int,
    "float": _parse_float,
    "list": _parse_list,
    "date_range": _parse_date_range,
    "bool": _parse_bool,
}
_DUMPERS: dict[str, Callable[[Any], str]] = {
    "str": str,
    "int": str,
    "float": lambda value: f"{value:.12f}".rstrip("0").rstrip("."),
    "list": ",".join,
    "date_range": lambda dates: "..".join(d.isoformat() for d in dates),
    "bool": lambda value: "true" if value else "false",
}


def load_from_url(params: list[Param], marker: str) -> list[str]:
    """Set the widgets' state from the URL, unless the URL is the one this session last wrote.

    Returns the names of the URL's values that did not parse (their widgets get the default)."""
    current = st.query_params.to_dict()
    if st.session_state.get(marker) == current and all(p.key in st.session_state for p in params):
        return []
    unread = []
    for param in params:
        st.session_state[param.key], parsed = param.read(current.get(param.name))
        if not parsed:
            unread.append(param.name)
    st.session_state[marker] = current
    return unread


def unread_sentence(names: list[str]) -> str:
    """One sentence for the URL's values a page could not read (load_from_url)."""
    listed = ", ".join(f"`{name}`" for name in names[:-1]) + (" and " if len(names) > 1 else "")
    listed += f"`{names[-1]}`"
    if len(names) == 1:
        return f"This link's {listed} is not a value this page takes, so it is left at its default."
    return f"This link's {listed} are not values this page takes, so they are left at their defaults."


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
