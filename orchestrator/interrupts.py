"""What a pending `interrupt()` asks, and the answers the orchestrator sends back to it.

Two kinds of question:
- a *human interrupt* in LangGraph's Agent Inbox convention (`HumanInterrupt`: an
  `action_request`, a `config` of `allow_accept / allow_edit / allow_respond / allow_ignore`,
  a `description`), alone or as a list of one, answered with a `HumanResponse`
  (`{"type": "accept" | "edit" | "response" | "ignore", "args": ...}`), in a list when asked in
  a list, so graphs written for the Agent Inbox work here unchanged;
- any other value, answered with any JSON value.

"Approve as proposed" has a defined answer, never None (LangGraph treats a `None` resume as an
empty command, and 1.2 fails on it, langgraph#7034): an `accept` response for a human interrupt,
`True` for any other question. A rejection reaches the graph as an answer when the question
allows one (`ignore`, or `response` with the reason); otherwise the run is cancelled.

    >>> approve_answer({"plan": ["a"]})
    True
    >>> human = {"action_request": {"action": "send", "args": {}}, "config": {"allow_accept": True}}
    >>> approve_answer([human])
    [{'type': 'accept', 'args': None}]
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import InputError

HUMAN_ACTIONS = {
    "accept": "allow_accept",
    "edit": "allow_edit",
    "response": "allow_respond",
    "ignore": "allow_ignore",
}
# The answer to a plain question approved as proposed.
APPROVED = True


def human_request(value: Any) -> dict[str, Any] | None:
    """The HumanInterrupt a pending interrupt's value holds (alone or as a list of one), else None."""
    request = value[0] if isinstance(value, list) and len(value) == 1 else value
    if (
        isinstance(request, dict)
        and isinstance(request.get("action_request"), dict)
        and isinstance(request.get("config"), dict)
    ):
        return request
    return None


def allowed_responses(value: Any) -> list[str]:
    """The HumanResponse types a human interrupt allows, in Agent Inbox order ([] for others)."""
    request = human_request(value)
    if request is None:
        return []
    return [kind for kind, flag in HUMAN_ACTIONS.items() if request["config"].get(flag)]


def _wrapped(value: Any, response: dict[str, Any]) -> Any:
    return [response] if isinstance(value, list) else response


def human_answer(value: Any, kind: str, args: Any = None) -> Any:
    """A HumanResponse of `kind` to a human interrupt; InputError when the request does not allow it."""
    request = human_request(value)
    if request is None:
        raise InputError("This question is not an Agent Inbox request; answer it with a JSON value.")
    allowed = allowed_responses(value)
    if kind not in HUMAN_ACTIONS:
        raise InputError(f"Unknown response {kind!r}; choose one of {', '.join(HUMAN_ACTIONS)}.")
    if kind not in allowed:
        raise InputError(
            f"This request does not allow {kind!r}; it allows {', '.join(allowed) or 'no response'}."
        )
    if kind in ("accept", "ignore"):
        args = None
    elif kind == "response":
        if not isinstance(args, str) or not args.strip():
            raise InputError("A response needs some text.", {"args": "must be text"})
    elif kind == "edit":
        if isinstance(args, dict) and "args" not in args:
            args = {"action": request["action_request"].get("action"), "args": args}
        if not (isinstance(args, dict) and isinstance(args.get("args"), dict)):
            raise InputError(
                'An edit gives the action\'s new arguments, as {"action": ..., "args": {...}}.',
                {"args": "must be an object"},
            )
        args = {
            "action": str(args.get("action") or request["action_request"].get("action")),
            "args": args["args"],
        }
    return _wrapped(value, {"type": kind, "args": args})


def approve_answer(value: Any) -> Any:
    """The answer that approves a question as proposed (never None)."""
    if human_request(value) is not None:
        return human_answer(value, "accept")
    return APPROVED


def reject_answer(value: Any, reason: str) -> Any | None:
    """The answer that rejects the question, when the question takes one; None: cancel the run."""
    allowed = allowed_responses(value)
    if "ignore" in allowed:
        return human_answer(value, "ignore")
    if "response" in allowed and reason.strip():
        return human_answer(value, "response", reason.strip())
    return None
