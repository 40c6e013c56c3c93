"""How a run's usage figures read wherever they are shown (run detail, runs page, CLI).

The figures themselves are the run's row (migration 0018; `tokens` is input + output tokens,
run_queries.statements.TOKENS); these only say how many decimals a cost shows, alike everywhere.

    >>> cost_text(0.0012345)
    '$0.001235'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A cost in US dollars to the millionth: a test model's call costs fractions of a cent.
COST_DECIMALS = 6
COST_FORMAT = f"$%.{COST_DECIMALS}f"  # printf style, as Streamlit's NumberColumn takes it


def cost_text(value: float | None) -> str:
    """A cost as shown: `$0.001235`, or `-` for none."""
    return "-" if value is None else COST_FORMAT % value


def run_tokens(run: Mapping[str, Any]) -> int:
    """A run's tokens from its row: input (cached included) + output, as the runs page's column."""
    return int(run.get("input_tokens") or 0) + int(run.get("output_tokens") or 0)
