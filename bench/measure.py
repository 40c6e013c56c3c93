"""Timing: each case's page and count through the package, the same SQL through the raw driver,
and the overview per period. Figures are milliseconds (median and p95 of the repeats)."""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench.cases import Case
from bench.data import NOW
from bench.seed import PG_SERVER
from orchestrator.metrics import Period, overview
from orchestrator.runs import RunStore

BACKENDS = ("sqlite", "postgres")


def add_backends_argument(parser: argparse.ArgumentParser) -> None:
    """`--backends` (both by default), as every benchmark takes it."""
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)


@contextmanager
def scratch_postgres_uri(prefix: str) -> Iterator[str]:
    """The URI of a new, empty database on the local server (`prefix` and a random suffix),
    dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Figure:
    median: float
    p95: float

    @classmethod
    def of(cls, values: list[float]) -> Figure:
        return cls(statistics.median(values), p95(values))


@dataclass
class CaseResult:
    case: Case
    matches: int
    shown_count: str
    page: Figure
    count: Figure
    waited: Figure  # page + count, per repeat
    exact_count_ms: float
    raw_page: Figure | None = None
    raw_count: Figure | None = None
    notes: list[str] = field(default_factory=list)


class RawDriver:
    """The statements SQLAlchemy sends, replayed on a plain sqlite3 / psycopg connection."""

    def __init__(self, engine: Engine, target: str):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.conn: Any = sqlite3.connect(target) if self.sqlite else psycopg.connect(target, autocommit=True)

    def capture(self, call: Callable[[], Any]) -> list[tuple[str, Any]]:
        seen: list[tuple[str, Any]] = []

        def listener(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
        ) -> None:
            seen.append((statement, parameters))

        event.listen(self.engine, "before_cursor_execute", listener)
        try:
            call()
        finally:
            event.remove(self.engine, "before_cursor_execute", listener)
        return [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]

    def run(self, statements: list[tuple[str, Any]]) -> None:
        for sql, params in statements:
            self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.close()


def repeat(call: Callable[[], Any], times: int) -> list[float]:
    call()  # warm-up
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append(ms_since(start))
    return out


def measure_case(store: RunStore, raw: RawDriver | None, case: Case, repeats: int) -> CaseResult:
    filters = case.run_filter()

    def page() -> Any:
        return store.page_runs(
            filters, sort=case.sort, descending=case.descending, limit=50, offset=case.offset
        )

    def count() -> Any:
        return store.count_matching(filters)

    page(), count()
    pages, counts, waited = [], [], []
    for _ in range(repeats):
        # Each repeat probes anew (orchestrator.run_queries), as a page with new filters does.
        store.forget_plans()
        start = time.perf_counter()
        page()
        middle = time.perf_counter()
        shown = count()
        end = time.perf_counter()
        pages.append((middle - start) * 1000)
        counts.append((end - middle) * 1000)
        waited.append((end - start) * 1000)
    start = time.perf_counter()
    exact = store.count_matching(filters, cap=None).value
    exact_ms = ms_since(start)
    result = CaseResult(
        case, exact, str(shown), Figure.of(pages), Figure.of(counts), Figure.of(waited), exact_ms
    )
    if raw is not None:
        store.forget_plans()
        result.raw_page = (
            Figure.of(repeat(lambda: raw.run(page_sql), repeats)) if (page_sql := raw.capture(page)) else None
        )
        result.raw_count = (
            Figure.of(repeat(lambda: raw.run(count_sql), repeats))
            if (count_sql := raw.capture(count))
            else None
        )
    return result


PERIODS = {
    "24 h": dt.timedelta(days=1),
    "7 days": dt.timedelta(days=7),
    "30 days": dt.timedelta(days=30),
    "90 days (all)": dt.timedelta(days=90),
}


# The page's periods end at the current minute, not at midnight: so do these (NOW is midnight),
# so that every period longer than two days has a ragged day at each end, read from the runs.
OVERVIEW_END = NOW - dt.timedelta(hours=10, minutes=17)


def measure_overview(engine: Engine, repeats: int) -> dict[str, Figure]:
    """orchestrator.metrics.overview (every figure and chart of the page) per period up to
    OVERVIEW_END (the period before each is read too, as the page does)."""
    out = {}
    for label, length in PERIODS.items():
        period = Period(OVERVIEW_END - length, OVERVIEW_END)

        def call(p: Period = period) -> Any:
            return overview(engine, p)

        out[label] = Figure.of(repeat(call, repeats))
    return out
