"""Runs and their tasks as OpenTelemetry spans, sent where OpenTelemetry's own environment
variables say; off unless they are set, so nothing leaves the machine unless configured.

Turned on by `OTEL_TRACES_EXPORTER` (`otlp` or `console`; `none` keeps it off) or an OTLP endpoint
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true`
turns it off. The exporter reads the rest as OpenTelemetry documents it (headers, timeout,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`). OTLP goes over HTTP with protobuf (the
`otel` extra: `pip install 'orchestrator[otel]'`), imported only when tracing is on.

One trace per run attempt, written when the attempt ends, from what the store kept (off the
tasks' critical path): a `run <workflow>` span (run id, workflow, status, attempt, model calls,
tokens, cost, log warnings and errors) and one child span per task of the attempt (node, task id,
status, its model calls' tokens). LangChain's own tracing (LangSmith) is a callback of its own
and is left as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Mapping

from sqlalchemy import Engine, func, select

from orchestrator.db import run_model_calls, run_tasks
from orchestrator.db import runs as runs_table
from orchestrator.runs import RUN_COLUMNS

logger = logging.getLogger(__name__)
EXPORTERS = ("otlp", "console")
SCOPE = "orchestrator"


def wanted_exporter(env: Mapping[str, str] | None = None) -> str | None:
    """The exporter OpenTelemetry's variables ask for (`otlp`, `console`), or None: tracing off."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if named:
        if "none" in named:
            return None
        for name in named:
            if name in EXPORTERS:
                return name
        logger.warning(
            "OTEL_TRACES_EXPORTER=%s is not one this orchestrator sends to (%s); no traces are sent.",
            ",".join(named),
            ", ".join(EXPORTERS),
        )
        return None
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


def _nanos(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1_000_000_000)


class RunTracer:
    """Sends each run attempt as spans (see the module docstring); made by `run_tracer`."""

    def __init__(self, exporter_name: str) -> None:
        # Imported here: only a configured tracer needs OpenTelemetry installed.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

        exporter: SpanExporter
        if exporter_name == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        resource = Resource.create(
            {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "orchestrator"}
        )
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer(SCOPE)
        self._lock = threading.Lock()

    def export_attempt(self, engine: Engine, run_id: str, attempt: int) -> None:
        """The attempt's run span and its tasks' spans, from the store, sent now (flushed)."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        with engine.connect() as conn:
            run = conn.execute(select(*RUN_COLUMNS).where(runs_table.c.run_id == run_id)).mappings().first()
            if run is None:
                return
            tasks = list(
                conn.execute(
                    select(run_tasks).where(run_tasks.c.run_id == run_id, run_tasks.c.attempt == attempt)
                ).mappings()
            )
            calls = run_model_calls.c
            usage = {
                row.task_id: row
                for row in conn.execute(
                    select(
                        calls.task_id,
                        func.count().label("model_calls"),
                        func.sum(calls.input_tokens).label("input_tokens"),
                        func.sum(calls.output_tokens).label("output_tokens"),
                    )
                    .where(calls.run_id == run_id, calls.attempt == attempt)
                    .group_by(calls.task_id)
                )
            }
        began = run["attempt_started_at"] or run["started_at"] or run["created_at"]
        ended = run["finished_at"] or dt.datetime.now(dt.UTC)
        failed = run["status"] == "failed"
        with self._lock:
            span = self.tracer.start_span(
                f"run {run['workflow']}",
                start_time=_nanos(began),
                attributes={
                    "orchestrator.run_id": run_id,
                    "orchestrator.workflow": run["workflow"],
                    "orchestrator.status": run["status"],
                    "orchestrator.attempt": attempt,
                    "orchestrator.tasks": len(tasks),
                    "orchestrator.model_calls": run["model_calls"],
                    "gen_ai.usage.input_tokens": run["input_tokens"],
                    "gen_ai.usage.output_tokens": run["output_tokens"],
                    "orchestrator.tokens": run["tokens"],
                    "orchestrator.cost_usd": float(run["cost_usd"]),
                    "orchestrator.log_warnings": run["warnings"],
                    "orchestrator.log_errors": run["errors"],
                },
            )
            if failed:
                span.set_status(Status(StatusCode.ERROR, (run["error"] or "")[:500]))
            parent = trace.set_span_in_context(span)
            for task in tasks:
                used = usage.get(task["task_id"])
                child = self.tracer.start_span(
                    f"task {task['node']}",
                    context=parent,
                    start_time=_nanos(task["started_at"]),
                    attributes={
                        "orchestrator.run_id": run_id,
                        "orchestrator.workflow": run["workflow"],
                        "orchestrator.task_id": task["task_id"],
                        "orchestrator.node": task["node"],
                        "orchestrator.status": task["status"],
                        "orchestrator.model_calls": used.model_calls if used else 0,
                        "gen_ai.usage.input_tokens": int(used.input_tokens or 0) if used else 0,
                        "gen_ai.usage.output_tokens": int(used.output_tokens or 0) if used else 0,
                    },
                )
                if task["status"] == "failed":
                    child.set_status(Status(StatusCode.ERROR, (task["error"] or "")[:500]))
                child.end(end_time=_nanos(task["finished_at"] or ended))
            span.end(end_time=_nanos(ended))
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()


_tracer: RunTracer | None = None
_tried = False
_made = threading.Lock()


def run_tracer() -> RunTracer | None:
    """The process's tracer when OpenTelemetry's variables turn tracing on, else None (made once;
    a missing `otel` extra is said once in the log, and the runs go on untraced)."""
    global _tracer, _tried
    with _made:
        if not _tried:
            _tried = True
            name = wanted_exporter()
            if name is not None:
                try:
                    _tracer = RunTracer(name)
                except ImportError:
                    logger.warning(
                        "OpenTelemetry's variables ask for traces, but OpenTelemetry is not installed: "
                        "pip install 'orchestrator[otel]'. Runs are not traced."
                    )
        return _tracer


def forget_tracer() -> None:
    """Read OpenTelemetry's variables anew on the next run (tests that set them)."""
    global _tracer, _tried
    with _made:
        if _tracer is not None:
            _tracer.shutdown()
        _tracer, _tried = None, False
