"""CLI: `index add|drop|list [FIELD]`, the fields whose filters and sorts read an index."""

from __future__ import annotations

import argparse

from orchestrator.cli.base import command, print_json, reading
from orchestrator.cli.runs import launcher
from orchestrator.config import OrchestratorConfig
from orchestrator.db.field_indexes import add_field_index, drop_field_index, indexed_field_names
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from orchestrator.run_queries.fields import field_path

ACTIONS = ("add", "drop", "list")


def _index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="add or drop a field's index, or list the indexed fields")
    parser.add_argument("field", nargs="?", help="a field: input.x, state.x.y or metrics.x")
    parser.add_argument("--json", action="store_true", help="list as JSON")


@command("index", "index a field for fast filters and sorts (add, drop, list)", _index_arguments)
def cmd_index(args: argparse.Namespace, config: OrchestratorConfig) -> int:
    if args.action == "list":
        orch = Orchestrator(reading(config))
        fields = indexed_field_names(orch.engine)
        orch.engine.dispose()
        if args.json:
            print_json(fields)
        else:
            print("\n".join(fields) if fields else "no field is indexed")
        return 0
    if not args.field:
        raise InputError(f"index {args.action} needs a field, e.g. `index {args.action} metrics.accuracy`.")
    field = field_path(args.field)
    if not field.dotted:
        raise InputError(f"{field} is a column of runs, not a field; a field is input.x, state.x or metrics.x.")
    orch = Orchestrator(config)
    orch.check_writable()
    if args.action == "add":
        made = add_field_index(orch.engine, field.name, field.column, field.keys, by=launcher())
        print(f"{field}: indexed" if made else f"{field}: already indexed")
    else:
        dropped = drop_field_index(orch.engine, field.name)
        print(f"{field}: index dropped" if dropped else f"{field}: had no index")
    return 0
