"""Bulk actions: one action (cancel, resume, re-run, delete, tag) on many runs, chosen by id or by a filter.

Each run goes through the Orchestrator's own operation, so the rules are the operations' rules:
a run whose status does not allow the action (status.py's table) is skipped and counted by its
status, and a run that moved on between the plan and the action (another person, an executor)
is counted where it stands then. `dry_run` says what would happen and changes nothing.

    >>> outcome = apply(orch, Action.CANCEL, RunFilter(workflows=["simulate"]), dry_run=True)
    >>> outcome.sentence()
    'Would cancel 3 runs (2 running, 1 queued); 5 skipped (5 succeeded): only queued, running, ...'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator import run_notes
from orchestrator.errors import InputError, InvalidOperation, OrchestratorError, RunNotFound
from orchestrator.operations import Orchestrator
from orchestrator.run_queries import RunFilter
from orchestrator.status import Action, RunStatus, statuses_allowing
from orchestrator.validation import clean_tags

# The actions a bulk action can be, in the order the pages offer them.
BULK_ACTIONS: tuple[Action, ...] = (Action.CANCEL, Action.RESUME, Action.RERUN, Action.DELETE, Action.TAG)
# At most this many runs at once: a filter matching more is refused (narrow it, or act in parts).
MAX_BULK = 10_000

_VERB = {
    Action.CANCEL: "cancel",
    Action.RESUME: "resume",
    Action.RERUN: "re-run",
    Action.DELETE: "delete",
    Action.TAG: "tag",
}
_DONE = {
    Action.CANCEL: "Cancelled",
    Action.RESUME: "Resumed",
    Action.RERUN: "Re-ran",
    Action.DELETE: "Deleted",
    Action.TAG: "Tagged",
}
_PASSIVE = {
    Action.CANCEL: "cancelled",
    Action.RESUME: "resumed",
    Action.RERUN: "re-run",
    Action.DELETE: "deleted",
    Action.TAG: "tagged",
}
_WORDS = {RunStatus.AWAITING_INPUT: "waiting"}


def status_word(status: str) -> str:
    """A status as a sentence says it ("waiting", not "awaiting_input")."""
    return _WORDS.get(status, status)  # type: ignore[call-overload]


def verb(action: Action) -> str:
    """The action as a sentence says it ("re-run")."""
    return _VERB[action]


def _by_status(counts: Counter[str]) -> str:
    """'8 running, 4 queued': most first, then in lifecycle order."""
    order = {status: i for i, status in enumerate(RunStatus)}
    items = sorted(counts.items(), key=lambda item: (-item[1], order.get(item[0], 99), item[0]))  # type: ignore[call-overload]
    return ", ".join(f"{n:,} {status_word(status)}" for status, n in items)


def _runs(n: int) -> str:
    return f"{n:,} run" + ("" if n == 1 else "s")


@dataclass
class BulkOutcome:
    """What a bulk action did (or, with `dry_run`, would do), counted by the runs' statuses."""

    action: Action
    dry_run: bool
    done: Counter[str] = field(default_factory=Counter)  # acted on, by status before
    skipped: Counter[str] = field(default_factory=Counter)  # status does not allow it, by status
    missing: int = 0  # ids of no run (deleted meanwhile, or never)
    failed: dict[str, str] = field(default_factory=dict)  # run id -> why (one sentence)
    new_run_ids: list[str] = field(default_factory=list)  # re-runs
    run_ids: list[str] = field(default_factory=list)  # the runs acted on (or that would be)
    found: list[str] = field(default_factory=list)  # every run found: acted on or skipped

    @property
    def done_total(self) -> int:
        return sum(self.done.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def sentence(self) -> str:
        """One sentence: how many, by status, and which statuses were skipped and why."""
        verb = _VERB[self.action]
        head = f"Would {verb}" if self.dry_run else _DONE[self.action]
        parts = [f"{head} {_runs(self.done_total)}" + (f" ({_by_status(self.done)})" if self.done else "")]
        if self.skipped:
            words = [status_word(s) for s in statuses_allowing(self.action)]
            allowed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
            parts.append(
                f"{self.skipped_total:,} skipped ({_by_status(self.skipped)}): only {allowed} runs can be "
                f"{_PASSIVE[self.action]}"
            )
        if self.missing:
            parts.append(f"{self.missing:,} not found")
        if self.failed:
            first = next(iter(self.failed.values()))
            parts.append(f"{len(self.failed):,} failed (first: {first.rstrip('.')})")
        return "; ".join(parts) + "."


def targets_of(orch: Orchestrator, targets: Sequence[str] | RunFilter) -> tuple[dict[str, str], int]:
    """The runs a bulk action is about, {run id: status}, and how many ids match no run."""
    if isinstance(targets, RunFilter):
        found = orch.store.matching_statuses(targets, MAX_BULK + 1)
        if len(found) > MAX_BULK:
            raise InputError(
                f"More than {MAX_BULK:,} runs match; a bulk action takes at most {MAX_BULK:,} at once: "
                "narrow the filter (by status, workflow or created date)."
            )
        return found, 0
    if isinstance(targets, str) or not all(isinstance(run_id, str) for run_id in targets):
        raise InputError("A bulk action takes a list of run ids or a RunFilter.")
    ids = list(dict.fromkeys(targets))
    if len(ids) > MAX_BULK:
        raise InputError(f"A bulk action takes at most {MAX_BULK:,} runs at once; choose fewer.")
    found = orch.store.statuses(ids)
    return {run_id: found[run_id] for run_id in ids if run_id in found}, len(ids) - len(found)


def apply(
    orch: Orchestrator,
    action: Action | str,
    targets: Sequence[str] | RunFilter,
    *,
    dry_run: bool = False,
    by: str | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> BulkOutcome:
    """Apply `action` to each run of `targets` (run ids, or every run matching a RunFilter) whose
    status allows it, through the Orchestrator's operation; count the rest by status.

    Tagging adds `add_tags` and removes `remove_tags`. `by`: who asks (the re-runs' launcher,
    the tag edits' author). `progress(done, of)` is called after each run acted on (a page's
    progress bar: one operation per run takes ~10-60 ms). Read-only mode refuses it
    (ReadOnlyError) unless `dry_run`."""
    if action not in BULK_ACTIONS:
        raise InputError(f"A bulk action is one of {', '.join(BULK_ACTIONS)}, not {str(action)[:60]!r}.")
    action = Action(action)
    if action == Action.TAG:
        add_tags, remove_tags = clean_tags(add_tags), clean_tags(remove_tags)
        if not add_tags and not remove_tags:
            raise InputError("Give at least one tag to add or remove.")
    if not dry_run:
        orch.check_writable()
    found, missing = targets_of(orch, targets)
    outcome = BulkOutcome(action=action, dry_run=dry_run, missing=missing, found=list(found))
    allowed = set(statuses_allowing(action))
    operation = _operation(orch, action, by, add_tags, remove_tags)
    for number, (run_id, status) in enumerate(found.items(), start=1):
        if progress is not None and not dry_run:
            progress(number, len(found))
        if status not in allowed:
            outcome.skipped[status] += 1
            continue
        if dry_run:
            outcome.done[status] += 1
            outcome.run_ids.append(run_id)
            continue
        try:
            result = operation(run_id)
        except RunNotFound:
            outcome.missing += 1
        except InvalidOperation:  # it moved on since it was read: count it where it stands now
            now = orch.store.statuses([run_id]).get(run_id)
            if now is None:
                outcome.missing += 1
            else:
                outcome.skipped[now] += 1
        except OrchestratorError as exc:
            outcome.failed[run_id] = str(exc)
        else:
            if action == Action.DELETE and result is False:
                outcome.missing += 1
                continue
            outcome.done[status] += 1
            outcome.run_ids.append(run_id)
            if action == Action.RERUN:
                outcome.new_run_ids.append(str(result))
    return outcome


def _operation(
    orch: Orchestrator, action: Action, by: str | None, add: Sequence[str], remove: Sequence[str]
) -> Callable[[str], Any]:
    if action == Action.CANCEL:
        return orch.cancel
    if action == Action.RESUME:
        return orch.resume
    if action == Action.RERUN:
        return lambda run_id: orch.rerun(run_id, launched_by=by)
    if action == Action.TAG:
        return lambda run_id: run_notes.edit_tags(orch, run_id, add, remove, by=by)
    return orch.delete
