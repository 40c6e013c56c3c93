"""Answering a waiting run's interrupts: every answer is checked before it is accepted, and the
first answer to an interrupt is the only one.

An answer is checked against what its interrupt accepts: a built-in's own check (plan_execute:
a plan of at most the run's `max_tasks` steps), the workflow's `answer_model`, and the JSON schema
the interrupt declares itself (LangGraph's `interrupt(value, response_schema=...)`, read from the
run's checkpoint). A wrong answer is an InputError and the run keeps waiting.

An accepted answer is written with a row per interrupt in `run_answers`, in the same transaction
as the run's move on (RunStore.record_answers): a second answer to the same interrupt, at the same
moment or later, finds the run moved on or the interrupt's row there, and is refused with one
sentence saying who answered, when and what (AlreadyAnswered).

    >>> orch.approve(run_id, ["Collect logs"], answered_by="cli:ana@host")
    'queued'
    >>> orch.approve(run_id, ["Parse logs"], answered_by="cli:bo@host")
    AlreadyAnswered: Run … was already answered by cli:ana@host at 2026-11-27 14:03:05 UTC
    (approved with ["Collect logs"]); your answer was not sent.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import jsonschema
from langgraph.types import Interrupt

from orchestrator.checkpointer import open_sync_saver
from orchestrator.config import OrchestratorConfig
from orchestrator.db import utcnow
from orchestrator.errors import AlreadyAnswered, InputError, InvalidOperation
from orchestrator.interrupts import APPROVED, approve_answer, human_answer, reject_answer
from orchestrator.rows import RunRow
from orchestrator.run_times import finished_values
from orchestrator.status import FINAL, Action, RunStatus, standing, statuses_allowing
from orchestrator.validation import check_json_value, check_name, check_text, shown

if TYPE_CHECKING:
    from orchestrator.operations import Orchestrator

# How much of an earlier answer a refusal repeats.
SHOWN_ANSWER_CHARS = 60
# A rejection's reason is stored with the run (its `error`).
MAX_REASON_CHARS = 10_000


def approve(
    orch: Orchestrator, run_id: str, value: Any, *, interrupt_id: str | None, answered_by: str | None
) -> str:
    """See Orchestrator.approve."""
    check_json_value(value, "The answer")
    _check_answerer(answered_by)
    run, pending = _waiting(orch, run_id, interrupt_id)
    spec = orch.registry.get(run["workflow"])
    ids = [p["id"] for p in pending]
    if isinstance(value, dict) and value and interrupt_id is None and set(value) <= set(ids):
        given = dict(value)
    else:
        given = {_one_interrupt(run_id, pending, interrupt_id): value}
    schemas = answer_schemas(orch.config, run_id)
    answers: dict[str, Any] = {}
    for key, answer in given.items():
        question = _question(pending, key)
        if answer is None:
            answer = approve_answer(question)
        else:
            answer = spec.validate_answer(answer, question, run["input"])
        check_answer_schema(answer, schemas.get(key))
        answers[key] = answer
    return _queue(orch, run, answers, "approve", answered_by)


def respond(
    orch: Orchestrator,
    run_id: str,
    kind: str,
    args: Any,
    *,
    interrupt_id: str | None,
    answered_by: str | None,
) -> str:
    """See Orchestrator.respond."""
    check_json_value(args, "The response")
    _check_answerer(answered_by)
    run, pending = _waiting(orch, run_id, interrupt_id)
    key = _one_interrupt(run_id, pending, interrupt_id)
    answer = human_answer(_question(pending, key), kind, args)
    check_answer_schema(answer, answer_schemas(orch.config, run_id).get(key))
    return _queue(orch, run, {key: answer}, "respond", answered_by)


def reject(
    orch: Orchestrator, run_id: str, reason: str, *, interrupt_id: str | None, answered_by: str | None
) -> str:
    """See Orchestrator.reject."""
    reason = check_text(reason, "The reason", MAX_REASON_CHARS).strip()
    _check_answerer(answered_by)
    run, pending = _waiting(orch, run_id, interrupt_id)
    key = _one_interrupt(run_id, pending, interrupt_id)
    answer = reject_answer(_question(pending, key), reason)
    if answer is not None:  # the question takes a rejection as its answer: the graph goes on
        return _queue(orch, run, {key: answer}, "reject", answered_by)
    row = _row(key, "reject", reason, answered_by)
    message = f"Rejected: {reason}" if reason else "Rejected."
    cancelled = {"status": RunStatus.CANCELLED, "error": message, **finished_values()}
    if orch.store.record_answers(run_id, [row], expected=statuses_allowing(Action.REJECT), **cancelled):
        return RunStatus.CANCELLED
    raise _refusal(orch, run_id, [key])


# -- what an interrupt accepts ----------------------------------------------------------------------


def answer_schemas(config: OrchestratorConfig, run_id: str) -> dict[str, dict[str, Any]]:
    """The JSON schema each pending interrupt of the run declares for its answer (LangGraph's
    `interrupt(value, response_schema=...)`: a pydantic model, TypedDict or dataclass arrives
    as its JSON schema), read from the run's latest checkpoint with LangGraph's saver."""
    with open_sync_saver(config) as saver:
        latest = saver.get_tuple({"configurable": {"thread_id": run_id}})
    schemas: dict[str, dict[str, Any]] = {}
    for _task, channel, value in (latest.pending_writes or []) if latest else []:
        for item in value if channel == "__interrupt__" and isinstance(value, list | tuple) else []:
            if isinstance(item, Interrupt) and isinstance(item.response_schema, dict):
                schemas[item.id] = item.response_schema
    return schemas


def check_answer_schema(answer: Any, schema: Mapping[str, Any] | None) -> None:
    """InputError, every problem in one sentence, unless `answer` matches the JSON `schema`."""
    if not schema:
        return
    try:
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(answer), key=lambda e: list(e.absolute_path))
    except jsonschema.SchemaError:
        return  # a schema the interrupt got wrong checks nothing here, as in LangGraph
    if not errors:
        return
    field_errors: dict[str, str] = {}
    for error in errors:
        path, message = _schema_problem(error)
        field_errors.setdefault(path, message)
    problems = "; ".join(f"{path} {message}" for path, message in field_errors.items())
    raise InputError(f"The answer does not fit what the question asks for: {problems}.", field_errors)


_JSON_TYPES = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _schema_problem(error: jsonschema.ValidationError) -> tuple[str, str]:
    """A field path and a short phrase for one schema error (pydantic's style, see spec)."""
    path = ".".join(str(part) for part in error.absolute_path) or "answer"
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else "a field"
        return (f"{path}.{missing}" if path != "answer" else missing), "is required"
    if error.validator == "type":
        wanted = error.validator_value
        kinds = wanted if isinstance(wanted, list) else [wanted]
        return path, "must be " + " or ".join(_JSON_TYPES.get(str(k), str(k)) for k in kinds)
    if error.validator == "additionalProperties":
        return path, "has fields the question does not take"
    return path, str(error.message)[:200]


# -- the run and its questions ---------------------------------------------------------------------


def _check_answerer(answered_by: str | None) -> None:
    if answered_by is not None:
        check_name(answered_by, "Who answers")


def _waiting(
    orch: Orchestrator, run_id: str, interrupt_id: str | None
) -> tuple[RunRow, list[dict[str, Any]]]:
    """The run and its pending questions; refused when it waits for none (or not for this one)."""
    run = orch.get_run(run_id)
    pending: list[dict[str, Any]] = []
    if run["status"] in statuses_allowing(Action.APPROVE):
        pending = list((run["state_snapshot"] or {}).get("__interrupt__", []))
    if not pending:
        raise _refusal(orch, run_id, None if interrupt_id is None else [interrupt_id])
    not_pending = interrupt_id is not None and interrupt_id not in {p["id"] for p in pending}
    if not_pending and any(a["interrupt_id"] == interrupt_id for a in orch.store.get_answers(run_id)):
        raise _refusal(orch, run_id, [str(interrupt_id)])
    return run, pending


def _one_interrupt(run_id: str, pending: list[dict[str, Any]], interrupt_id: str | None) -> str:
    ids = [p["id"] for p in pending]
    if interrupt_id is not None:
        if interrupt_id not in ids:
            raise InputError(
                f"Run {run_id} has no pending interrupt {shown(interrupt_id)}; choose one of {', '.join(sorted(ids))}."
            )
        return interrupt_id
    if len(ids) > 1:
        raise InputError(
            f"Run {run_id} waits on {len(ids)} interrupts; answer each by id ({', '.join(sorted(ids))})."
        )
    return str(ids[0])


def _question(pending: list[dict[str, Any]], key: str) -> Any:
    return next(p["value"] for p in pending if p["id"] == key)


def _row(interrupt_id: str, kind: str, answer: Any, answered_by: str | None) -> dict[str, Any]:
    return {
        "interrupt_id": interrupt_id,
        "kind": kind,
        "answer": answer,
        "answered_by": answered_by,
        "answered_at": utcnow(),
    }


def _queue(
    orch: Orchestrator, run: RunRow, answers: dict[str, Any], kind: str, answered_by: str | None
) -> str:
    """Queue the run with its answers (kept by interrupt id, so the executor can tell whether
    one still applies) and record them: the first answer wins."""
    run_id = run["run_id"]
    rows = [_row(key, kind, answer, answered_by) for key, answer in answers.items()]
    if orch.store.record_answers(
        run_id,
        rows,
        expected=statuses_allowing(Action.APPROVE),
        status=RunStatus.QUEUED,
        resume_value={"resume": answers},
        worker=None,
    ):
        return RunStatus.QUEUED
    raise _refusal(orch, run_id, list(answers))


# -- refusals ---------------------------------------------------------------------------------------


def _refusal(orch: Orchestrator, run_id: str, interrupt_ids: Collection[str] | None) -> InvalidOperation:
    """Why the run takes no answer now, in one sentence: who answered it, when and what, if
    anyone did (the answer to one of `interrupt_ids` first, else the run's latest)."""
    run = orch.get_run(run_id)
    status = run["status"]
    answers = orch.store.get_answers(run_id)
    mine = [a for a in answers if interrupt_ids and a["interrupt_id"] in interrupt_ids]
    if mine or answers:
        earlier = (mine or answers)[0]
        said = (
            f"Run {run_id} was already answered by {earlier['answered_by'] or 'someone'} at "
            f"{earlier['answered_at']:%Y-%m-%d %H:%M:%S} UTC ({_what(earlier)})"
        )
        if status in FINAL:
            return AlreadyAnswered(
                f"{said} and {standing(status)}; to answer again, fork it from the checkpoint before the question."
            )
        return AlreadyAnswered(f"{said}; your answer was not sent.")
    if status in (RunStatus.QUEUED, RunStatus.RUNNING) and run["resume_value"] is not None:
        return AlreadyAnswered(
            f"Run {run_id} was already answered and is {status}; your answer was not sent."
        )
    hint = (
        " To answer a question again, fork the run from the checkpoint before it." if status in FINAL else ""
    )
    return InvalidOperation(f"Run {run_id} {standing(status)} and waits for no answer.{hint}")


def _what(answer: Mapping[str, Any]) -> str:
    """An earlier answer in a few words: 'approved as proposed', 'approved with ["a"]', ..."""
    kind, value = answer["kind"], answer["answer"]
    response = value[0] if isinstance(value, list) and len(value) == 1 else value
    response_type = response.get("type") if isinstance(response, dict) else None
    if kind == "reject":
        if isinstance(value, str):
            return f"rejected: {_brief(value)}" if value else "rejected"
        return f"rejected with {response_type or _brief(value)}"
    if value is APPROVED or value is True or response_type == "accept":
        return "approved as proposed" if kind == "approve" else "accepted"
    if kind == "respond" and response_type:
        args = response.get("args")
        return f"responded {response_type}" + (f" {_brief(args)}" if args else "")
    return f"approved with {_brief(value)}"


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN_ANSWER_CHARS else text[: SHOWN_ANSWER_CHARS - 1] + "…"
