"""Run detail's Logs and Model calls tabs on a real run of a team graph that logs and calls a
(test) chat model: a task's lines, filtered by level and searched; the calls' tokens and cost
(both backends)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import execute, open_page

PRICES = {"test-usage-model": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}


@pytest.fixture
def chatty_orch(app_config: OrchestratorConfig, clean_env: pytest.MonkeyPatch) -> Iterator[Orchestrator]:
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps({"chatty": "tests.observe_workflows:build_chatty"}))
    clean_env.setenv("ORCHESTRATOR_MODEL_PRICES", json.dumps(PRICES))
    orch = Orchestrator(OrchestratorConfig())
    asyncio.run(startup(orch.config, orch.engine))
    yield orch
    orch.engine.dispose()


def tab(at: AppTest, label: str) -> Any:
    return next(t for t in at.tabs if t.label == label)


def shown_logs(at: AppTest) -> list[str]:
    (frame,) = tab(at, "Logs").dataframe
    return list(frame.value["message"])


def test_a_tasks_logs_and_the_model_calls_on_run_detail(chatty_orch: Orchestrator) -> None:
    run_id = chatty_orch.launch("chatty", {"tasks": 2, "lines": 2, "fail": True, "calls": 2})
    assert execute(chatty_orch, [run_id])[run_id]["status"] == "succeeded"
    at = open_page("run_detail", run_id=run_id)
    assert not at.exception, [e.value for e in at.exception]
    # Every task's lines: plan's one, and each work task's 2 INFO lines, a WARNING and an ERROR.
    assert len(shown_logs(at)) == 1 + 2 * 4
    at.selectbox(key="detail_log_level").set_value("ERROR").run()
    assert sorted(shown_logs(at)) == ["task 0 went wrong", "task 1 went wrong"]
    at.selectbox(key="detail_log_level").set_value("DEBUG").run()
    at.text_input(key="detail_log_search").input("LINE 1").run()
    assert sorted(shown_logs(at)) == ["task 0 line 1", "task 1 line 1"]
    at.text_input(key="detail_log_search").input("").run()
    (plan,) = [t["task_id"] for t in chatty_orch.store.get_tasks(run_id) if t["node"] == "plan"]
    task_box = at.selectbox(key="detail_log_task")
    assert task_box.format_func(plan) == f"plan · {plan[:8]} · 1 lines"
    task_box.set_value(plan).run()
    assert shown_logs(at) == ["planning 2 tasks"]
    # A task chosen: its input and output beside its lines, the secret-named key redacted.
    (work, _) = [t["task_id"] for t in chatty_orch.store.get_tasks(run_id) if t["node"] == "work"]
    at.selectbox(key="detail_log_task").set_value(work).run()
    given, wrote = tab(at, "Logs").json[:2]
    assert json.loads(given.value)["api_key"] == "***" and json.loads(wrote.value)["done"] in ([0], [1])

    models = tab(at, "Model calls")
    usage = "2 model calls: 3,000 tokens (2,400 input, 600 output), $0.011500"
    assert any(usage in str(c.value) for c in models.caption), [c.value for c in models.caption]
    per_node, calls = models.dataframe
    assert list(per_node.value["node"]) == ["ask"] and list(per_node.value["calls"]) == [2]
    assert list(calls.value["input_tokens"]) == [1200, 1200]
    assert list(calls.value["cost_usd"]) == pytest.approx([0.00575, 0.00575], abs=1e-12)
    for frame in (per_node, calls):  # every header in words, never a stored name (input_tokens)
        labels = json.loads(frame.proto.columns or "{}")
        headers = [labels.get(c, {}).get("label") or c for c in frame.value.columns]
        assert all("_" not in h and h[0].isupper() for h in headers), headers
    assert "Logged 2 warnings and 2 errors" in " ".join(str(c.value) for c in at.main.caption)

    chat = tab(at, "Conversation")
    assert [m.name for m in chat.chat_message] == ["human", "ai", "tool", "ai"]
    assert [m.markdown[0].value for m in chat.chat_message] == [
        "How did the work go?",
        "answer 0",
        "3 tasks done",
        "answer 1",
    ]
    assert "Calls lookup (call `call_1`)" in [c.value for c in chat.chat_message[1].caption]
    assert "Result of lookup (call `call_1`)" in [c.value for c in chat.chat_message[2].caption]
