"""Every chat-model or LLM call made inside a run, through LangChain's callbacks.

The executor adds a `ModelCallRecorder` to each run's config callbacks, so any model a team plugs
in reports to it: the node and task that called (LangGraph's metadata), the model's name, the
input / output / cached tokens of the response's usage (`usage_metadata` of the message, else the
provider's `token_usage`), the latency, the error. The cost comes from the configured price table
(`model_prices`: US dollars per million tokens; no network):

    cost = (input - cached) * input_price + cached * cached_input_price + output * output_price

over a million (LangChain counts cached tokens inside the input tokens; `cached_input` defaults
to the input price). A model without a price costs None (shown as "no price").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from orchestrator.observe.capture import RunObservations, current_task

MAX_ERROR_CHARS = 2_000


def call_cost(
    prices: Mapping[str, Mapping[str, float]], model: str, input_tokens: int, output_tokens: int, cached: int
) -> float | None:
    """The call's cost in US dollars, or None when the model has no price."""
    price = prices.get(model)
    if price is None:
        return None
    cached = min(cached, input_tokens)
    dollars = (
        (input_tokens - cached) * price["input"]
        + cached * price.get("cached_input", price["input"])
        + output_tokens * price["output"]
    )
    return dollars / 1_000_000


def _usage(response: LLMResult) -> tuple[int, int, int]:
    """(input, output, cached) tokens of a response, summed over its generations."""
    inputs = outputs = cached = 0
    found = False
    for generations in response.generations:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if usage:
                found = True
                inputs += int(usage.get("input_tokens") or 0)
                outputs += int(usage.get("output_tokens") or 0)
                cached += int((usage.get("input_token_details") or {}).get("cache_read") or 0)
    if not found:  # an LLM (not chat) model: the provider's own counts, if it gives them
        token_usage = (response.llm_output or {}).get("token_usage") or {}
        inputs = int(token_usage.get("prompt_tokens") or 0)
        outputs = int(token_usage.get("completion_tokens") or 0)
        cached = int((token_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return inputs, outputs, cached


def _model_name(serialized: dict[str, Any] | None, metadata: dict[str, Any], kwargs: dict[str, Any]) -> str:
    params = kwargs.get("invocation_params") or {}
    for name in (
        metadata.get("ls_model_name"),
        params.get("model"),
        params.get("model_name"),
        (serialized or {}).get("name"),
        ((serialized or {}).get("id") or [None])[-1],
        params.get("_type"),
    ):
        if name:
            return str(name)[:200]
    return "unknown"


class ModelCallRecorder(BaseCallbackHandler):
    """LangChain callbacks that record a run's model calls into its observations."""

    run_inline = True  # called in the caller's context (no thread): appending is all it does
    raise_error = False

    # Only model calls: LangChain skips this handler for every other event (each node is a chain).
    @property
    def ignore_chain(self) -> bool:
        return True

    @property
    def ignore_agent(self) -> bool:
        return True

    @property
    def ignore_retriever(self) -> bool:
        return True

    @property
    def ignore_retry(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True

    def __init__(self, observations: RunObservations, prices: Mapping[str, Mapping[str, float]]):
        self.observations = observations
        self.prices = prices
        self._open: dict[UUID, dict[str, Any]] = {}

    def _start(
        self,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        metadata = metadata or {}
        namespace = str(metadata.get("langgraph_checkpoint_ns") or "")
        if namespace:
            node, _, task_id = namespace.split("|", 1)[0].partition(":")
        else:
            task = current_task()
            node, task_id = (task[2], task[1]) if task else (str(metadata.get("langgraph_node") or ""), "")
        self._open[run_id] = {
            "task_id": task_id or None,
            "node": node or None,
            "model": _model_name(serialized, metadata, kwargs),
            "started_at": dt.datetime.now(dt.UTC),
            "began": time.perf_counter(),
        }

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(serialized, run_id, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(serialized, run_id, metadata, kwargs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._open.pop(run_id, None)
        if call is None:
            return
        inputs, outputs, cached = _usage(response)
        named = (response.llm_output or {}).get("model_name")
        if named and call["model"] not in self.prices:
            call["model"] = str(named)[:200]
        self._end(call, inputs, outputs, cached, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._open.pop(run_id, None)
        if call is not None:
            self._end(call, 0, 0, 0, f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS])

    def _end(self, call: dict[str, Any], inputs: int, outputs: int, cached: int, error: str | None) -> None:
        began = call.pop("began")
        call.update(
            latency_seconds=time.perf_counter() - began,
            input_tokens=inputs,
            output_tokens=outputs,
            cached_tokens=cached,
            cost_usd=call_cost(self.prices, call["model"], inputs, outputs, cached),
            error=error,
        )
        self.observations.add_call(call)


def with_recorder(config: Any, recorder: ModelCallRecorder) -> Any:
    """The run's RunnableConfig with the recorder among its callbacks (a list, or a manager)."""
    callbacks = config.get("callbacks")
    if callbacks is None:
        callbacks = [recorder]
    elif isinstance(callbacks, list):
        callbacks = [*callbacks, recorder]
    else:  # a callback manager
        callbacks = callbacks.copy()
        callbacks.add_handler(recorder, inherit=True)
    return {**config, "callbacks": callbacks}
