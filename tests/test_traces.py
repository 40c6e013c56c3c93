"""Runs and tasks as OpenTelemetry spans (orchestrator.observe.traces), on both backends: a real
executor run of the `chatty` team graph sends its spans over OTLP/HTTP (protobuf) to a receiver
in this test, which decodes them; without OpenTelemetry's variables nothing is sent."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import langsmith.run_trees
import pytest
from langchain_core.tracers.langchain import wait_for_all_tracers
from langsmith.utils import get_env_var
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from orchestrator.config import OrchestratorConfig
from orchestrator.observe.traces import forget_tracer, wanted_exporter
from orchestrator.operations import Orchestrator
from tests.helpers import with_workflows
from tests.test_run_logs import PRICES, WORKFLOWS, run_here


class Receiver:
    """An OTLP/HTTP trace receiver on a free local port: each request's spans, decoded."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.arrived = threading.Event()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.requests.append(request)
                received.paths.append(self.path)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                received.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:
        """Every span received: (span, its attributes, its resource's attributes)."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append((span, {a.key: _value(a.value) for a in span.attributes}, resource))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()
    forget_tracer()


@pytest.fixture
def orch(config: OrchestratorConfig) -> Iterator[Orchestrator]:
    made = Orchestrator(with_workflows(config, WORKFLOWS, model_prices=PRICES))
    yield made
    made.engine.dispose()


def test_a_run_and_its_tasks_arrive_as_spans(orch, receiver, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "team-graphs")
    forget_tracer()
    run_id = run_here(orch, tasks=2, lines=1, calls=2, fail=True)
    assert receiver.arrived.wait(30), "no export arrived"
    assert set(receiver.paths) == {"/v1/traces"}
    spans = receiver.spans()
    (run_span, run_attrs, resource) = next(s for s in spans if s[0].name == "run chatty")
    assert resource["service.name"] == "team-graphs"
    row = orch.get_run(run_id)
    assert run_attrs["orchestrator.run_id"] == run_id and run_attrs["orchestrator.workflow"] == "chatty"
    assert run_attrs["orchestrator.status"] == "succeeded" and run_attrs["orchestrator.attempt"] == 1
    assert (run_attrs["gen_ai.usage.input_tokens"], run_attrs["gen_ai.usage.output_tokens"]) == (2400, 600)
    assert run_attrs["orchestrator.tokens"] == row["tokens"] == 3000
    assert run_attrs["orchestrator.cost_usd"] == pytest.approx(row["cost_usd"], abs=1e-12)
    assert (run_attrs["orchestrator.log_warnings"], run_attrs["orchestrator.log_errors"]) == (2, 2)
    tasks = [(s, a) for s, a, _ in spans if s.name.startswith("task ")]
    stored = orch.store.get_tasks(run_id)
    assert sorted(a["orchestrator.task_id"] for _, a in tasks) == sorted(t["task_id"] for t in stored)
    for span, attrs in tasks:
        assert span.trace_id == run_span.trace_id and span.parent_span_id == run_span.span_id
        assert attrs["orchestrator.run_id"] == run_id
        assert run_span.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
    (ask,) = [a for s, a in tasks if s.name == "task ask"]
    assert (ask["gen_ai.usage.input_tokens"], ask["orchestrator.model_calls"]) == (2400, 2)
    assert {a["orchestrator.node"] for _, a in tasks} == {"plan", "work", "ask"}


def test_nothing_is_sent_unless_configured(orch, receiver, monkeypatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    forget_tracer()
    run_here(orch, tasks=1, lines=0, calls=1)  # its executor's threads are joined when it returns
    assert receiver.requests == []


def test_langsmith_tracing_keeps_working_beside_the_recorder(orch, monkeypatch) -> None:
    """LangChain's own tracer, turned on by LangSmith's variables and pointed at a local receiver,
    still gets the graph, its nodes and the model call, while the run's model call is recorded."""
    bodies: list[bytes] = []

    class LangSmith(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # /info: none here, the client takes its defaults
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), LangSmith)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # LangSmith keeps what it read of its variables (an lru_cache): read them anew here, and
    # again after, so no later test of this process traces.
    get_env_var.cache_clear()
    monkeypatch.setattr(langsmith.run_trees, "_CLIENT", None)  # a client of this receiver, made anew
    try:
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        monkeypatch.setenv("LANGSMITH_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("LANGSMITH_API_KEY", "test-key-for-a-local-receiver")
        run_id = run_here(orch, tasks=1, lines=0, calls=1)
        wait_for_all_tracers()  # LangChain's own flush of its tracers
    finally:
        monkeypatch.undo()
        get_env_var.cache_clear()
        server.shutdown()
        server.server_close()
    names = {name for body in bodies for name in re.findall(rb'"name":"([^"]+)"', body)}
    assert {b"LangGraph", b"plan", b"work", b"ask", b"UsageReportingTestChatModel"} <= names, names
    assert orch.get_run(run_id)["model_calls"] == 1


def test_which_variables_turn_tracing_on() -> None:
    assert wanted_exporter({}) is None
    assert wanted_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert wanted_exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}) == "otlp"
    assert wanted_exporter({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    assert wanted_exporter({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}) is None
    assert wanted_exporter({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) is None
    assert wanted_exporter({"OTEL_TRACES_EXPORTER": "zipkin"}) is None
