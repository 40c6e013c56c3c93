"""One launchable workflow (`WorkflowSpec`): how to build its graph, and how to check its input,
its per-run config and the answers to its interrupts.

Errors are `InputError`s with one sentence and `field_errors` (field path -> a plain message),
which the launch page shows beside each field.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pydantic
from langgraph.graph import StateGraph

from orchestrator.errors import InputError

# Keys of LangGraph's `configurable` that the orchestrator sets itself, or LangGraph uses.
RESERVED_CONFIG_KEYS = frozenset({"thread_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map", "run_id"})


def _no_run_config(input: dict) -> dict:
    return {}


@dataclass(frozen=True)
class WorkflowSpec:
    """One launchable workflow: how to build its graph and how to check and pass its input."""

    name: str
    description: str
    build: Callable[[], StateGraph]
    input_model: type[pydantic.BaseModel] | None
    # A function of the validated input (a dict, not the input model) returning extra run config
    # (e.g. {"recursion_limit": 50, "max_concurrency": 4}); see `graph_run_config`.
    run_config: Callable[[dict], dict] = _no_run_config
    # The answer the workflow expects to its interrupts, when it declares one (a form on the page).
    answer_model: type[pydantic.BaseModel] | None = None
    # A built-in's own check of an answer, where what it accepts depends on the run:
    # (answer, the question, the run's input) -> the answer to send; InputError when wrong.
    check_answer: Callable[[Any, Any, Mapping[str, Any] | None], Any] | None = None
    # How many tasks a run of a validated input will have, when the workflow knows before it
    # runs (its progress is then a fraction of that, which never goes back).
    planned_tasks: Callable[[dict], int | None] | None = None

    def tasks_planned(self, input: dict) -> int | None:
        """The tasks a run of the validated `input` will have, or None when not known beforehand."""
        if self.planned_tasks is None:
            return None
        planned = self.planned_tasks(dict(input))
        if planned is None:
            return None
        if isinstance(planned, bool) or not isinstance(planned, int) or planned < 0:
            raise InputError(f"Workflow '{self.name}': planned_tasks must return a whole number or None.")
        return planned

    def validate_input(self, data: dict) -> dict:
        """Return the validated input with defaults filled, as plain JSON values.

        Raises InputError with one sentence and `field_errors` (field path -> plain message)."""
        if not isinstance(data, Mapping):
            raise InputError(
                f"Input for workflow '{self.name}' must be a JSON object of field names and values."
            )
        if self.input_model is None:
            try:
                return json.loads(json.dumps(dict(data), allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"Input for workflow '{self.name}' must contain only JSON values ({exc}); fix the input."
                ) from None
        try:
            return self.input_model.model_validate(dict(data)).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            field_errors = _field_errors(exc)
            problems = "; ".join(f"{path} {message}" for path, message in field_errors.items())
            raise InputError(f"Invalid input for workflow '{self.name}': {problems}.", field_errors) from None

    def initial_state(self, input: dict) -> dict:
        """The graph input for a validated input: its fields, as the top-level state keys."""
        return dict(input)

    def context_schema(self) -> Any:
        """The graph's declared `context_schema` (LangGraph's `config_schema` before 1.0), or None."""
        return _context_schema(self.build)

    def config_json_schema(self) -> dict[str, Any] | None:
        """The JSON schema of the graph's context schema (for a config form), or None without one."""
        schema = self.context_schema()
        return None if schema is None else _adapter(schema).json_schema()

    def validate_config(self, data: Any) -> dict[str, Any]:
        """The run's `configurable` keys, checked: a JSON object of names the orchestrator does not
        reserve; validated against the graph's context schema when it declares one.

        Raises InputError with one sentence and `field_errors`."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InputError(
                f"The config for workflow '{self.name}' must be a JSON object of keys and values."
            )
        reserved = sorted(
            k for k in data if not isinstance(k, str) or k in RESERVED_CONFIG_KEYS or k.startswith("__")
        )
        if reserved:
            raise InputError(
                f"The config key {reserved[0]!r} is set by the orchestrator; leave it out.",
                {str(reserved[0]): "is set by the orchestrator"},
            )
        try:
            plain = json.loads(json.dumps(dict(data), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"The config for workflow '{self.name}' must hold only JSON values ({exc})."
            ) from None
        schema = self.context_schema()
        if schema is None:
            return plain
        try:
            checked = _adapter(schema).validate_python(plain)
        except pydantic.ValidationError as exc:
            field_errors = _field_errors(exc)
            problems = "; ".join(f"{path} {message}" for path, message in field_errors.items())
            raise InputError(
                f"Invalid config for workflow '{self.name}': {problems}.", field_errors
            ) from None
        return _as_plain(checked)

    def context(self, config: Mapping[str, Any] | None) -> Any:
        """The runtime context a graph with a context schema gets for the run's config, else None."""
        schema = self.context_schema()
        if schema is None:
            return None
        value = _adapter(schema).validate_python(dict(config or {}))
        return value.model_dump() if _is_typed_dict(schema) else value

    def graph_run_config(self, input: dict) -> tuple[dict[str, Any], int | None]:
        """The workflow's extra run config for a validated input, and its `max_concurrency` apart.

        LangGraph's own max_concurrency holds each task's writes back until the whole step ends
        (a crash would lose every finished task of the step), so the executor applies it with
        `orchestrator.workflows.limits.slot` around each node instead."""
        extra = dict(self.run_config(dict(input)) or {})
        limit = extra.pop("max_concurrency", None)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InputError(f"Workflow '{self.name}': max_concurrency must be a whole number of at least 1.")
        return extra, limit

    def validate_answer(
        self, answer: Any, question: Any = None, input: Mapping[str, Any] | None = None
    ) -> Any:
        """An interrupt's answer checked before it is accepted: by the built-in's `check_answer`
        (with the question and the run's input), else against the workflow's `answer_model`,
        when it declares one. InputError (one sentence, `field_errors`) when it is wrong."""
        if self.check_answer is not None:
            return self.check_answer(answer, question, input)
        if self.answer_model is None or answer is None or answer is True:
            return answer
        try:
            return self.answer_model.model_validate(answer).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            field_errors = _field_errors(exc)
            problems = "; ".join(f"{path} {message}" for path, message in field_errors.items())
            raise InputError(
                f"Invalid answer for workflow '{self.name}': {problems}.", field_errors
            ) from None


def _is_typed_dict(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, dict) and hasattr(schema, "__required_keys__")


@cache
def _adapter(schema: Any) -> pydantic.TypeAdapter[Any]:
    """A validator for a context schema. A TypedDict from `typing` (which pydantic refuses on
    Python < 3.12) is validated through a model with the same fields."""
    if _is_typed_dict(schema):
        hints = typing.get_type_hints(schema)
        fields: dict[str, Any] = {
            name: (hint, ... if name in schema.__required_keys__ else None) for name, hint in hints.items()
        }
        return pydantic.TypeAdapter(pydantic.create_model(schema.__name__, **fields))
    return pydantic.TypeAdapter(schema)


@cache
def _context_schema(build: Callable[[], StateGraph]) -> Any:
    schema = getattr(build(), "context_schema", None)
    return schema if schema not in (None, type(None)) else None


def _as_plain(value: Any) -> dict[str, Any]:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.loads(json.dumps(dataclasses.asdict(value), default=str))
    return json.loads(json.dumps(dict(value), default=str))


def _field_errors(exc: pydantic.ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "input"
        errors.setdefault(path, _plain_message(error))
    return errors


_TYPE_MESSAGES = {
    "missing": "is required",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "is not an input of this workflow",
}


def _plain_message(error: Any) -> str:
    """Pydantic's error as a short phrase that follows the field name."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}"
    if kind == "string_too_short":
        n = ctx["min_length"]
        return "must not be empty" if n == 1 else f"must be at least {n} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind == "too_short":
        n = ctx["min_length"]
        return f"must have at least {n} item{'s' * (n != 1)}"
    if kind == "too_long":
        n = ctx["max_length"]
        return f"must have at most {n} item{'s' * (n != 1)}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
