"""The runs read path: one filtered, sorted page of runs and its count, on either database.

- `fields`: Field (a column or a dotted path such as `input.tasks`) and Where, a field filter;
- `filter`: RunFilter, the filters as a checked value (no SQL), its parts and the Field they test;
- `statements`: the portable SQL (what each part means; the page, the count; LIST_COLUMNS and
  SORT_COLUMNS, what the list shows and sorts by);
- `planner`: the Planner interface (`page`, `count`) and what both planners share (the lead,
  the count's budget, MatchCount);
- `sqlite_planner`, `postgres_planner`: one planner per database, the only modules of the read
  path that know which database they talk to.

A page goes one way: RunStore (orchestrator.runs) checks its arguments and asks its planner,
chosen once for its engine by `planner_for`; the planner builds its statements from
`statements` and runs them.
"""

from __future__ import annotations

from sqlalchemy import Engine

from orchestrator.run_queries.fields import OPERATORS, Field, Where, field_path, parse_where, where
from orchestrator.run_queries.filter import (
    COST,
    PART_NAMES,
    RANGES,
    TASK_COUNTS,
    USAGE_COUNTS,
    Between,
    Contains,
    Equals,
    FilterPart,
    OneOf,
    RunFilter,
    checked_filter,
    empty_ranges,
)
from orchestrator.run_queries.planner import MatchCount, Planner
from orchestrator.run_queries.postgres_planner import PostgresPlanner
from orchestrator.run_queries.sqlite_planner import SqlitePlanner
from orchestrator.run_queries.statements import COUNT_CAP, LIST_COLUMNS, SORT_COLUMNS, sort_field

# The planner of each database SQLAlchemy can name (engine.dialect.name).
PLANNERS: dict[str, type[Planner]] = {"sqlite": SqlitePlanner, "postgresql": PostgresPlanner}


def planner_for(engine: Engine) -> Planner:
    """A new planner for the engine's database (each keeps its own leads)."""
    return PLANNERS[engine.dialect.name]()


__all__ = [
    "COST",
    "COUNT_CAP",
    "LIST_COLUMNS",
    "OPERATORS",
    "PART_NAMES",
    "PLANNERS",
    "RANGES",
    "SORT_COLUMNS",
    "TASK_COUNTS",
    "USAGE_COUNTS",
    "Between",
    "Contains",
    "Equals",
    "Field",
    "FilterPart",
    "MatchCount",
    "OneOf",
    "Planner",
    "PostgresPlanner",
    "RunFilter",
    "SqlitePlanner",
    "Where",
    "checked_filter",
    "empty_ranges",
    "field_path",
    "parse_where",
    "planner_for",
    "sort_field",
    "where",
]
