"""The package's boundary limits, in one place: what a count, a time, a text or a JSON value may be.

The CLI, the dashboard and the package's own types (RunFilter, RunStore, Orchestrator) check
their arguments with these functions, so a value out of range gets the same sentence
wherever it comes from, and never reaches the database (where SQLite and PostgreSQL would
each fail in their own way: an integer overflow, a date out of range, a NUL byte, a LIKE
pattern too complex).

    >>> check_count(5, "--min-tasks")
    5
    >>> check_count(2**31, "--min-tasks")
    Traceback (most recent call last):
    ...
    orchestrator.errors.InputError: --min-tasks must be a whole number from 0 to 2147483647.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import unicodedata
from collections.abc import Sequence
from typing import Any

from orchestrator.errors import InputError

# Counts, page sizes and offsets: PostgreSQL's `integer`, the narrower of the two backends.
MAX_COUNT = 2**31 - 1
# Text searched for in run ids, tags and input (SQLite refuses LIKE patterns past 50,000 bytes).
MAX_SEARCH_CHARS = 200
# Names: run ids, workflow names, statuses, who launched a run.
MAX_NAME_CHARS = 200
# Times, in UTC: what both backends store and Python's datetime can convert.
MIN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_TIME = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
# JSON given by a person (--input, --value, the launch form): nesting and size, checked before
# parsing, since json.loads recurses once per level and would overflow Python's stack.
MAX_JSON_DEPTH = 32
MAX_JSON_CHARS = 1_000_000
# How much of a bad value an error message repeats.
SHOWN_CHARS = 60


def shown(value: Any) -> str:
    """A value for an error message: its repr, cut to SHOWN_CHARS characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def storable_text(text: str) -> str:
    """`text` as both databases can hold it, in text and JSON columns alike: a NUL written `\\x00`
    (PostgreSQL's text and JSONB hold none) and a lone surrogate written `\\ud800` (no UTF-8 has
    one), the rest as it is. For what the package keeps of a run (its tasks' log lines, inputs and
    outputs, model calls, errors, final state), where refusing would lose the rest with it; what
    a person gives (a run's input, a name) is refused instead (`_valid_text`)."""
    if text.isascii() and "\x00" not in text:
        return text  # the common case, at no cost
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _valid_text(value: str) -> bool:
    """No NUL (PostgreSQL text cannot hold it) and encodable as UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _one_line(value: str) -> bool:
    """No control character (a newline, a tab, NUL, ...) and no Unicode line or paragraph separator:
    a name is shown inside one-line sentences, tables and log lines."""
    return value.isprintable() or not any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value)


# -- counts -------------------------------------------------------------------------------------


def check_count(value: Any, name: str, *, low: int = 0) -> int:
    """A whole number from `low` to MAX_COUNT, or InputError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
        raise InputError(f"{name} must be a whole number from {low} to {MAX_COUNT}.")
    return value


def parse_count(raw: str, name: str, *, low: int = 0) -> int:
    """A count typed as text (a CLI flag, a URL parameter): digits only, in range."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_COUNT)):
        raise InputError(f"{name} must be a whole number from {low} to {MAX_COUNT}.")
    return check_count(int(text), name, low=low)


def check_page(limit: Any, offset: Any) -> tuple[int, int]:
    """A page size of at least 1 and an offset of at least 0, both at most MAX_COUNT."""
    return check_count(limit, "The page size", low=1), check_count(offset, "The offset")


def last_page(page_size: int) -> int:
    """The highest page number whose offset is still a valid count."""
    return MAX_COUNT // max(page_size, 1) + 1


# -- text ---------------------------------------------------------------------------------------


def check_name(value: Any, name: str) -> str:
    """A name (workflow, status, launcher, preset, tag): one line of 1 to MAX_NAME_CHARS
    characters, without control characters (a newline would break the one-line sentences,
    tables and log lines it is shown in)."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_NAME_CHARS
        or not _valid_text(value)
        or not _one_line(value)
    ):
        raise InputError(
            f"{name} must be one line of 1 to {MAX_NAME_CHARS} characters, without control characters "
            "such as a newline, a tab or NUL."
        )
    return value


def check_text(value: Any, name: str, max_chars: int = MAX_JSON_CHARS) -> str:
    """Free text (a reason, a description): at most `max_chars` characters, no NUL, valid Unicode."""
    if not isinstance(value, str) or not _valid_text(value):
        raise InputError(f"{name} must be text without NUL characters.")
    if len(value) > max_chars:
        raise InputError(f"{name} is {len(value):,} characters long; give at most {max_chars:,}.")
    return value


def check_search(value: Any) -> str:
    """Search text, stripped: at most MAX_SEARCH_CHARS characters, no NUL."""
    if not isinstance(value, str) or not _valid_text(value):
        raise InputError("The search text must be plain text without NUL bytes.")
    text = value.strip()
    if len(text) > MAX_SEARCH_CHARS:
        raise InputError(
            f"The search text is {len(text)} characters long; search for at most {MAX_SEARCH_CHARS}."
        )
    return text


def is_run_id(value: Any) -> bool:
    """Whether a run could have this id (else no lookup is needed: no run has it)."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_NAME_CHARS and _valid_text(value)


# -- times --------------------------------------------------------------------------------------

TIME_RANGE = f"between {MIN_TIME:%Y-%m-%d} and {MAX_TIME:%Y-%m-%d} (UTC)"


def check_time(value: Any, name: str) -> dt.datetime:
    """A datetime between MIN_TIME and MAX_TIME once in UTC (a naive one is taken as UTC)."""
    if not isinstance(value, dt.datetime):
        raise InputError(f"{name} must be a date and time {TIME_RANGE}.")
    try:
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"{name} must be {TIME_RANGE}.") from None
    if not MIN_TIME <= utc <= MAX_TIME:
        raise InputError(f"{name} must be {TIME_RANGE}.")
    return utc


def parse_time(raw: str, name: str) -> dt.datetime:
    """An ISO date or date and time typed as text (UTC unless it says otherwise), in range."""
    try:
        value = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"{name} must be an ISO date or time such as 2026-11-26 or 2026-11-26T14:00, {TIME_RANGE}."
        ) from None
    return check_time(value, name)


def day_bounds(first: dt.date, last: dt.date, name: str) -> tuple[dt.datetime, dt.datetime | None]:
    """[start of `first`, start of the day after `last`) in UTC; no upper bound after 9999-12-31."""
    start = check_time(dt.datetime.combine(first, dt.time()), name)
    end = check_time(dt.datetime.combine(last, dt.time()), name)
    return start, (None if last >= MAX_TIME.date() else end + dt.timedelta(days=1))


# -- JSON ---------------------------------------------------------------------------------------


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings are skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large for JSON")
    return value


def parse_json(raw: str, name: str) -> Any:
    """JSON typed by a person, within MAX_JSON_CHARS and MAX_JSON_DEPTH, finite numbers only, no
    NUL in its text (see check_json_value)."""
    if not isinstance(raw, str) or not _valid_text(raw):
        raise InputError(f"{name} must be JSON text without NUL bytes.")
    if len(raw) > MAX_JSON_CHARS:
        raise InputError(f"{name} is {len(raw):,} characters long; give at most {MAX_JSON_CHARS:,}.")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InputError(f"{name} nests arrays and objects more than {MAX_JSON_DEPTH} deep; flatten it.")
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    except ValueError as exc:  # NaN, Infinity, 1e400, an integer of more than 4300 digits
        raise InputError(f"{name} is not valid JSON ({exc}); use finite numbers.") from None
    return check_json_value(value, name)  # an escaped \\u0000 is a NUL once parsed


def check_json_value(value: Any, name: str) -> Any:
    """A Python value to be stored as JSON: nested at most MAX_JSON_DEPTH deep (checked without
    recursion), and no text in it (keys included) with a NUL character (JSON's escaped \\u0000
    too: PostgreSQL's JSONB cannot hold it, SQLite would) or a lone surrogate."""
    stack = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _valid_text(item):
                raise InputError(
                    f"{name} holds text with a NUL character (\\u0000) or invalid Unicode; remove it."
                )
        elif isinstance(item, dict | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise InputError(
                    f"{name} nests arrays and objects more than {MAX_JSON_DEPTH} deep; flatten it."
                )
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            for child in children:
                seen += 1
                if seen > MAX_JSON_CHARS:
                    raise InputError(f"{name} holds more than {MAX_JSON_CHARS:,} values; give less.")
                stack.append((child, depth + 1))
    return value


def clean_tags(tags: Sequence[str] | None) -> list[str]:
    """Tags as stored: each a name (check_name), stripped, blanks and repeats left out, in order."""
    if isinstance(tags, str):
        tags = [tags]
    cleaned = []
    for tag in tags or []:
        if not isinstance(tag, str):
            raise InputError("Tags must be text.")
        tag = tag.strip()
        if tag and check_name(tag, "A tag") not in cleaned:
            cleaned.append(tag)
    return cleaned
