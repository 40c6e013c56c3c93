"""The workflow registry: built-in LangGraph workflows plus teams' own, added by configuration.

A workflow is a zero-argument function returning an uncompiled `StateGraph`; the executor
compiles it with its checkpointer. Configured entries are "package.module:function" paths.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pydantic
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.workflows import plan_execute, simulate
from orchestrator.workflows.spec import WorkflowSpec, _no_run_config

__all__ = ["WorkflowRegistry", "WorkflowSpec", "load_registry"]


BUILTIN_NAMES = (simulate.NAME, plan_execute.NAME)


class WorkflowRegistry:
    """The usable workflows by name, and the configured entries that could not be loaded."""

    def __init__(self, specs: Mapping[str, WorkflowSpec], errors: Mapping[str, str] | None = None):
        self._specs = dict(specs)
        self._errors = dict(errors or {})

    def get(self, name: str) -> WorkflowSpec:
        """The workflow called `name`; OrchestratorError if unknown or if its import failed."""
        if name in self._specs:
            return self._specs[name]
        if name in self._errors:
            raise OrchestratorError(self._errors[name])
        raise OrchestratorError(f"Unknown workflow '{name}': choose one of {', '.join(self._specs)}.")

    def names(self) -> list[str]:
        """Usable workflow names, built-ins first, then configured ones in configuration order."""
        return list(self._specs)

    def errors(self) -> dict[str, str]:
        """Configured entries that could not be loaded -> one sentence saying how to fix each."""
        return dict(self._errors)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __repr__(self) -> str:
        return f"WorkflowRegistry(names={self.names()!r}, errors={sorted(self._errors)!r})"


def _import_target(path: str) -> Any:
    """Import "package.module:attr" (attr may be dotted); raises ValueError for a bad format."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name.strip() or not attr.strip() or ":" in attr:
        raise ValueError("not a 'package.module:function' path")
    target: Any = importlib.import_module(module_name.strip())
    for part in attr.strip().split("."):
        target = getattr(target, part)
    return target


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _load_model(path: str) -> Any:
    try:
        factory = _import_target(path)
        if not callable(factory):
            raise TypeError("not callable; point it at a zero-argument function returning a chat model")
        model = factory()
    except Exception as exc:
        raise ConfigError(f"Cannot load model '{path}' ({_reason(exc)}); fix the model setting.") from exc
    if not callable(getattr(model, "ainvoke", None)):
        raise ConfigError(
            f"Cannot load model '{path}' (its factory returned {type(model).__name__}, not a chat model); "
            "fix the model setting."
        )
    return model


def _builtin_specs(model: Any) -> dict[str, WorkflowSpec]:
    return {
        simulate.NAME: WorkflowSpec(
            name=simulate.NAME,
            description=simulate.DESCRIPTION,
            build=simulate.build_simulate_graph,
            input_model=simulate.SimulateInput,
            run_config=simulate.run_config,
            planned_tasks=simulate.planned_tasks,
        ),
        plan_execute.NAME: WorkflowSpec(
            name=plan_execute.NAME,
            description=plan_execute.DESCRIPTION_OFFLINE if model is None else plan_execute.DESCRIPTION_MODEL,
            build=partial(plan_execute.build_plan_execute_graph, model),
            input_model=plan_execute.PlanExecuteInput,
            run_config=plan_execute.run_config,
            check_answer=plan_execute.check_approval,
        ),
    }


def _checked_build(name: str, path: str, target: Callable[[], Any]) -> Callable[[], StateGraph]:
    def build() -> StateGraph:
        graph = target()
        if isinstance(graph, CompiledStateGraph):
            raise OrchestratorError(
                f"Workflow '{name}': '{path}' returned a compiled graph; "
                "return the StateGraph before .compile()."
            )
        if not isinstance(graph, StateGraph):
            raise OrchestratorError(
                f"Workflow '{name}': '{path}' returned {type(graph).__name__}, not a StateGraph; "
                "make it return an uncompiled StateGraph."
            )
        return graph

    return build


def _custom_spec(name: str, path: str) -> WorkflowSpec:
    """Load one configured workflow; raises ConfigError with a one-sentence message."""
    try:
        target = _import_target(path)
    except Exception as exc:
        raise ConfigError(
            f"Workflow '{name}': cannot import '{path}' ({_reason(exc)}); "
            "fix the path in the workflows setting."
        ) from exc
    if not callable(target):
        raise ConfigError(
            f"Workflow '{name}': '{path}' is not callable; "
            "point it at a zero-argument function returning a StateGraph."
        )
    input_model = getattr(target, "input_model", None)
    if input_model is not None and not (
        isinstance(input_model, type) and issubclass(input_model, pydantic.BaseModel)
    ):
        raise ConfigError(
            f"Workflow '{name}': the input_model of '{path}' is not a pydantic model class; "
            "set it to a BaseModel subclass or remove it."
        )
    run_config = getattr(target, "run_config", None) or _no_run_config
    if not callable(run_config):
        raise ConfigError(
            f"Workflow '{name}': the run_config of '{path}' is not callable; make it a function of the input."
        )
    answer_model = getattr(target, "answer_model", None)
    if answer_model is not None and not (
        isinstance(answer_model, type) and issubclass(answer_model, pydantic.BaseModel)
    ):
        raise ConfigError(
            f"Workflow '{name}': the answer_model of '{path}' is not a pydantic model class; "
            "set it to a BaseModel subclass or remove it."
        )
    planned_tasks = getattr(target, "planned_tasks", None)
    if planned_tasks is not None and not callable(planned_tasks):
        raise ConfigError(
            f"Workflow '{name}': the planned_tasks of '{path}' is not callable; "
            "make it a function of the input returning a number of tasks, or None."
        )
    description = getattr(target, "description", None)
    if not isinstance(description, str):
        doc = inspect.getdoc(target) or ""
        description = doc.strip().splitlines()[0] if doc.strip() else ""
    return WorkflowSpec(
        name=name,
        description=description,
        build=_checked_build(name, path, target),
        input_model=input_model,
        run_config=run_config,
        answer_model=answer_model,
        planned_tasks=planned_tasks,
    )


def load_registry(workflows: Mapping[str, str] | None = None, model: str | None = None) -> WorkflowRegistry:
    """Build the registry: the built-ins, then each configured `name -> "package.module:function"`.

    A configured entry that cannot be loaded is left out and reported by `errors()`; the rest
    stay usable. `model` is an optional "module:factory" path to a zero-argument function that
    returns a LangChain chat model for `plan_execute`; a bad one raises ConfigError."""
    loaded_model = _load_model(model) if model else None
    specs = _builtin_specs(loaded_model)
    errors: dict[str, str] = {}
    for name, path in (workflows or {}).items():
        if not isinstance(name, str) or not name.strip():
            errors[str(name)] = f"Workflow {name!r} has no usable name; give it a non-empty name."
        elif name in BUILTIN_NAMES:
            errors[name] = f"Workflow '{name}' is a built-in name; choose another name."
        elif not isinstance(path, str):
            errors[name] = (
                f"Workflow '{name}': {path!r} is not a 'package.module:function' path; "
                "fix the path in the workflows setting."
            )
        else:
            try:
                specs[name] = _custom_spec(name, path)
            except ConfigError as exc:
                errors[name] = str(exc)
    return WorkflowRegistry(specs, errors)
