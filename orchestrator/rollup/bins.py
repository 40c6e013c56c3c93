"""The rollups' bins, as the table the triggers read (`rollup_bins`, written by migration 0011):
one source for the triggers, the reads and the charts. 40 bins per decade (at most 9.1 % wide),
with 1, 2 and 5 among the cuts, for durations (seconds) and task counts.

A percentile read from binned counts is interpolated within its bin: exact for a value alone in
its bin, within its bin otherwise. Histogram bars merge whole bins on round bounds.

    >>> bins = load_bins(engine)
    >>> bins.bounds("duration", bins.of("duration", 20.5))
    (20.0, 21.0)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, select

from orchestrator.db.schema import rollup_bins


@dataclass(frozen=True)
class Bins:
    """The lower bounds of each measure's bins ("duration", "tasks"), in order."""

    lowers: Mapping[str, tuple[float, ...]]

    def of(self, measure: str, value: float) -> int:
        """The bin `value` falls in: the last whose lower bound is <= value (as the triggers choose)."""
        return bisect.bisect_right(self.lowers[measure], value) - 1

    def bounds(self, measure: str, index: int) -> tuple[float, float]:
        """[lower, upper) of a bin; the first starts at 0, the last is as wide as the one before it."""
        lowers = self.lowers[measure]
        lower = 0.0 if index == 0 else lowers[index]
        upper = lowers[index + 1] if index + 1 < len(lowers) else lowers[index] * 1.05
        return lower, upper


@lru_cache(maxsize=64)
def load_bins(engine: Engine) -> Bins:
    """The bins of the database's `rollup_bins` table (read once per engine: they do not change)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(rollup_bins.c.measure, rollup_bins.c.lower).order_by(
                rollup_bins.c.measure, rollup_bins.c.bin
            )
        ).all()
    lowers: dict[str, list[float]] = {}
    for measure, lower in rows:
        lowers.setdefault(measure, []).append(float(lower))
    return Bins({measure: tuple(values) for measure, values in lowers.items()})


def percentiles(
    counts: Iterable[tuple[int, int, float]], bins: Bins, measure: str, fractions: Sequence[float]
) -> dict[float, float]:
    """percentile_cont's fractions of the values counted per bin ([(bin, runs, their sum)]).

    A bin's values are placed evenly around their mean (exact: the sum is kept), as widely
    as the bin allows; then neighbours are interpolated as percentile_cont does. So a value
    alone in its bin is exact, and any other is within its bin. Empty counts give {}."""
    ordered = sorted((b, n, total) for b, n, total in counts if n > 0)
    size = sum(n for _, n, _ in ordered)
    if not size:
        return {}

    def value_at(rank: int) -> float:  # rank 0 .. size-1
        seen = 0
        for index, n, total in ordered:
            if rank < seen + n:
                lower, upper = bins.bounds(measure, index)
                mean = min(max(total / n, lower), upper)
                if n == 1:
                    return mean
                step = min((upper - lower) / n, 2 * (mean - lower) / (n - 1), 2 * (upper - mean) / (n - 1))
                return mean + (rank - seen - (n - 1) / 2) * step
            seen += n
        raise AssertionError("rank beyond the counted values")

    result = {}
    for f in fractions:
        position = (size - 1) * f
        below = int(position)
        above = min(below + 1, size - 1)
        low = value_at(below)
        result[f] = low + (value_at(above) - low) * (position - below)
    return result


# Bars of the histograms: the finest of these round cuts (per decade) that gives at most the
# bars asked for. Every cut is a bin bound, so bars add up whole bins.
BAR_CUTS = (
    ("1",),
    ("1", "2", "5"),
    ("1", "1.5", "2", "3", "5", "7"),
    ("1", "1.2", "1.5", "2", "2.5", "3", "4", "5", "6", "8"),
    None,  # every bin
)


def bars(counts: Iterable[tuple[int, int]], bins: Bins, measure: str, most: int = 20) -> list[dict[str, Any]]:
    """Histogram bars [{start, end, runs}] over the bins counted ([(bin, runs)]), from the first
    bin with runs to the last, on round bounds, at most `most` bars (each bin in one bar)."""
    counted = {b: n for b, n in counts if n > 0}
    if not counted:
        return []
    first, last = min(counted), max(counted)
    lowers = bins.lowers[measure]
    for cuts in reversed(BAR_CUTS):  # finest first
        if cuts is None:
            starts = list(range(first, last + 1))
        else:
            wanted = {Decimal(c) for c in cuts}
            starts = [i for i in range(first, last + 1) if i == first or _mantissa(lowers[i]) in wanted]
        if len(starts) <= most or cuts is BAR_CUTS[0]:
            break
    result = []
    for k, begin in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else last + 1
        lower = bins.bounds(measure, begin)[0]
        upper = bins.bounds(measure, stop - 1)[1]
        result.append(
            {"start": lower, "end": upper, "runs": sum(counted.get(i, 0) for i in range(begin, stop))}
        )
    return result


def _mantissa(value: float) -> Decimal:
    if value <= 0:
        return Decimal(0)
    d = Decimal(repr(value)).normalize()
    return d.scaleb(-d.adjusted()).normalize()
