"""Values of secret-named keys never stored: a task's input and output pass through `redacted`.

A key is secret-named when the words of one of the `keys` (the setting `redact_keys`) appear in
its words, in order: with the default keys, `password`, `db_password`, `api_key`,
`OPENAI_API_KEY`, `apiKey`, `access_token` and `Authorization` are redacted; `max_tokens` and
`keyboard` are not (`tokens` is not the word `token`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from orchestrator.config import DEFAULT_REDACT_KEYS
from orchestrator.snapshots import to_jsonable

REDACTED = "***"
# A task's input and output are cut to this (strings, items per list or object).
IO_MAX_STRING = 2_000
IO_MAX_ITEMS = 100
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


def _words(key: str) -> tuple[str, ...]:
    return tuple(w for w in _SPLIT.split(_CAMEL.sub("_", key).lower()) if w)


class Redactor:
    """Redacts the values of secret-named keys (see the module docstring)."""

    def __init__(self, keys: Iterable[str] = DEFAULT_REDACT_KEYS):
        self.patterns = [w for w in (_words(k) for k in keys) if w]
        self._known: dict[str, bool] = {}

    def secret(self, key: str) -> bool:
        known = self._known.get(key)
        if known is None:
            words = _words(key)
            known = any(
                words[i : i + len(p)] == p for p in self.patterns for i in range(len(words) - len(p) + 1)
            )
            if len(self._known) < 10_000:
                self._known[key] = known
        return known

    def redacted(self, value: Any) -> Any:
        """A JSON-safe copy of `value`, bounded in size, every secret-named key's value `***`."""
        return self._walk(to_jsonable(value, max_string=IO_MAX_STRING, max_items=IO_MAX_ITEMS))

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: REDACTED if self.secret(k) else self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return value
