"""Compare runs: a side-by-side metrics table, a JSON diff, and where two checkpoint histories part.

Plain functions over plain values (run rows from `RunStore`, histories from
`orchestrator.history.checkpoint_history`, JSON from `state_snapshot` / `input`); the compare
page renders what they return.

    >>> rows = compare_table([{"status": "succeeded"}, {"status": "failed"}])
    >>> [(r["key"], r["differing_runs"]) for r in rows if r["differs"]]
    [('status', [1])]
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

__all__ = [
    "METRICS",
    "AlignedStep",
    "Divergence",
    "JsonChange",
    "MetricRow",
    "compare_table",
    "compared_value",
    "diff_json",
    "divergence",
    "json_equal",
]


class MetricRow(TypedDict):
    """One row of the side-by-side table."""

    metric: str  # the label shown
    key: str  # the run's key
    values: list[Any]  # each run's value, in the order the runs were given
    differs: bool
    differing_runs: list[int]  # indices of the runs whose value differs from run 0's


class JsonChange(TypedDict):
    """One difference between two JSON values."""

    path: str  # `summary.count`, `results[3].value`, `meta["a.b"]`; the root is ""
    change: Literal["added", "removed", "changed"]
    left: Any
    right: Any


class AlignedStep(TypedDict):
    """One step of two aligned checkpoint histories."""

    step: int
    left_writers: list[str]
    right_writers: list[str]
    left_changed: list[str]
    right_changed: list[str]
    differing_channels: list[str]
    equal: bool
    only_in: Literal["left", "right"] | None  # a step only one history has (never equal)


class Divergence(TypedDict):
    """Where two runs' checkpoint histories part (`applies` is False for different workflows)."""

    applies: bool
    reason: str | None
    steps: list[AlignedStep]
    first_divergent_step: int | None
    summary: str


# The side-by-side table's rows, in display order: (run key, label).
METRICS: list[tuple[str, str]] = [
    ("workflow", "Workflow"),
    ("status", "Status"),
    ("created_at", "Created at"),
    ("work_seconds", "Work time"),
    ("wall_seconds", "Wall time"),
    ("tasks_total", "Tasks total"),
    ("tasks_completed", "Tasks completed"),
    ("tasks_failed", "Tasks failed"),
    ("success_rate", "Success rate"),
    ("tags", "Tags"),
]


# --- the metrics table -------------------------------------------------------------------------


def _success_rate(run: Mapping[str, Any]) -> float | None:
    total, completed = run.get("tasks_total"), run.get("tasks_completed")
    if not total or completed is None:
        return None
    return completed / total


def _metric_value(run: Mapping[str, Any], key: str) -> Any:
    """The displayed value of one metric for one run (the success rate is derived; the work and
    wall time are the store's, as every page shows them)."""
    if key == "success_rate":
        return _success_rate(run)
    return run.get(key)


def _rounded(digits: int) -> Callable[[Any], Any]:
    def normalise(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return round(float(value), digits)
        return value

    return normalise


def _sorted_tags(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(value, key=lambda tag: (str(type(tag)), str(tag)))
    return value


def _to_the_second(value: Any) -> Any:
    return value.replace(microsecond=0) if isinstance(value, dt.datetime) else value


# How two cells are compared: real durations always differ a little, so only 0.1 s counts.
_NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "work_seconds": _rounded(1),
    "wall_seconds": _rounded(1),
    "success_rate": _rounded(4),
    "tags": _sorted_tags,
    "created_at": _to_the_second,  # shown to the second
}


def compared_value(key: str, value: Any) -> Any:
    """A run figure's value as two cells are compared (`_NORMALISERS`: what a person sees differ)."""
    return _NORMALISERS.get(key, lambda v: v)(value)


def compare_table(runs: Sequence[Mapping[str, Any]]) -> list[MetricRow]:
    """One row per metric in `METRICS`, with each run's value and which runs differ from the first.

    Durations are compared
    rounded to 0.1 s, success rates to 4 decimals, tags as sorted lists (None = no tags).

        >>> row = compare_table([{"tasks_total": 4, "tasks_completed": 3},
        ...                      {"tasks_total": 0, "tasks_completed": 0}])[8]
        >>> row["values"], row["differing_runs"]
        ([0.75, None], [1])
    """
    rows: list[MetricRow] = []
    for key, label in METRICS:
        values = [_metric_value(run, key) for run in runs]
        keys = [compared_value(key, value) for value in values]
        differing = [i for i, k in enumerate(keys) if i > 0 and not json_equal(k, keys[0])]
        rows.append(
            {
                "metric": label,
                "key": key,
                "values": values,
                "differs": bool(differing),
                "differing_runs": differing,
            }
        )
    return rows


# --- JSON equality and diff --------------------------------------------------------------------


def _scalar_equal(left: Any, right: Any) -> bool:
    """JSON scalar equality: 1 == 1.0, but True != 1, "1" != 1, and NaN equals NaN."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    return bool(left == right)


def json_equal(left: Any, right: Any) -> bool:
    """Whether two JSON values are equal, with `diff_json`'s rules (1 == 1.0, True != 1).

    >>> json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]}), json_equal([True], [1])
    (True, False)
    """
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list | tuple) or isinstance(right, dict | list | tuple):
        return False
    return _scalar_equal(left, right)


def _key_path(parent: str, key: Any) -> str:
    """`parent.key`, or `parent["key"]` when the key holds a dot or a bracket (or is empty)."""
    key = str(key)
    if key == "" or any(ch in key for ch in ".[]"):
        return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{parent}.{key}" if parent else key


def _entry(path: str, change: Literal["added", "removed", "changed"], left: Any, right: Any) -> JsonChange:
    return {"path": path, "change": change, "left": left, "right": right}


def _diff_dicts(left: dict, right: dict, path: str, out: list[JsonChange]) -> None:
    for key in left:
        if key in right:
            _diff(left[key], right[key], _key_path(path, key), out)
        else:
            out.append(_entry(_key_path(path, key), "removed", left[key], None))
    for key in right:
        if key not in left:
            out.append(_entry(_key_path(path, key), "added", None, right[key]))


def _diff_lists(left: list, right: list, path: str, out: list[JsonChange]) -> None:
    for i, (a, b) in enumerate(zip(left, right, strict=False)):
        _diff(a, b, f"{path}[{i}]", out)
    common = min(len(left), len(right))
    out.extend(_entry(f"{path}[{i}]", "removed", v, None) for i, v in enumerate(left[common:], common))
    out.extend(_entry(f"{path}[{i}]", "added", None, v) for i, v in enumerate(right[common:], common))


def _diff(left: Any, right: Any, path: str, out: list[JsonChange]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        _diff_dicts(left, right, path, out)
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        _diff_lists(list(left), list(right), path, out)
    elif not json_equal(left, right):
        out.append(_entry(path, "changed", left, right))


def diff_json(left: Any, right: Any) -> list[JsonChange]:
    """Key-by-key differences between two JSON values, in the order keys first appear.

    Dicts recurse on both sides; lists recurse over their common prefix and report extra
    items as added/removed at their indices; a type change is "changed" at its path.

        >>> [(d["path"], d["change"]) for d in diff_json({"n": 1, "xs": [1, 2]}, {"n": 1.0, "xs": [1, 3, 4]})]
        [('xs[1]', 'changed'), ('xs[2]', 'added')]
    """
    out: list[JsonChange] = []
    _diff(left, right, "", out)
    return out


# --- checkpoint divergence ---------------------------------------------------------------------


def _by_step(history: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Checkpoints by step; when a step repeats (a fork), the latest checkpoint of it wins."""
    return {entry["step"]: entry for entry in history if entry.get("step") is not None}


def _differing_channels(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    channels = set(left) | set(right)
    return sorted(
        ch for ch in channels if ch not in left or ch not in right or not json_equal(left[ch], right[ch])
    )


def _align_step(step: int, left: dict[str, Any] | None, right: dict[str, Any] | None) -> AlignedStep:
    """One aligned step; a step only one run has is never equal and has no differing channels."""
    both = left is not None and right is not None
    differing = (
        _differing_channels(left.get("values") or {}, right.get("values") or {})
        if left is not None and right is not None
        else []
    )
    return {
        "step": step,
        "left_writers": list((left or {}).get("writers") or []),
        "right_writers": list((right or {}).get("writers") or []),
        "left_changed": list((left or {}).get("changed") or []),
        "right_changed": list((right or {}).get("changed") or []),
        "differing_channels": differing,
        "equal": both and not differing,
        "only_in": None if both else ("left" if left is not None else "right"),
    }


def _ticks(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _what_differs(step: AlignedStep) -> tuple[str, str]:
    """The step's node writers as "node `a`" / "nodes `a`, `b`" ("" if none), and its differing channels."""
    # Pseudo-writers such as "(input)" are not nodes.
    writers = sorted({w for w in step["left_writers"] + step["right_writers"] if not w.startswith("(")})
    noun = "node" if len(writers) == 1 else "nodes"
    return (f"{noun} {_ticks(writers)}" if writers else ""), _ticks(step["differing_channels"])


def _one_sided_summary(steps: list[AlignedStep], index: int) -> str:
    """The wording when the first step that is not equal exists in only one run."""
    first = steps[index]
    side = first["only_in"]
    rest = steps[index:]
    tail = all(s["only_in"] == side for s in rest)
    span = f"step {first['step']}" if len(rest) == 1 else f"{first['step']}..{rest[-1]['step']}"
    if index == 0:
        if tail:
            return f"Only the {side} run has checkpoints ({span})."
        return f"Runs differ from the first step (step {first['step']}): only the {side} run has it."
    agreed = steps[index - 1]["step"]
    if tail:
        return f"Runs agree up to step {agreed}; then only the {side} run has more steps ({span})."
    return f"Runs agree up to step {agreed}; step {first['step']} exists only in the {side} run."


def _summary(steps: list[AlignedStep], first_index: int | None) -> str:
    if not steps:
        return "Neither run has any checkpoints."
    if first_index is None:
        return f"Runs agree at every step ({len(steps)} step{'' if len(steps) == 1 else 's'})."
    first = steps[first_index]
    if first["only_in"] is not None:
        return _one_sided_summary(steps, first_index)
    writers, channels = _what_differs(first)
    if first_index == 0:
        lead = f"Runs differ from the first step (step {first['step']})"
        return (
            f"{lead}; {writers} wrote different {channels}." if writers else f"{lead}: different {channels}."
        )
    lead = f"Runs agree up to step {steps[first_index - 1]['step']}; at step {first['step']}"
    return f"{lead} {writers} wrote different {channels}." if writers else f"{lead}: different {channels}."


def divergence(
    left_history: list[dict[str, Any]],
    right_history: list[dict[str, Any]],
    left_workflow: str,
    right_workflow: str,
) -> Divergence:
    """Align two runs' checkpoint histories by step and find the first step where they differ.

    A step only one history has is not equal and counts as a divergence. Runs of different
    workflows do not apply: their graphs differ, so steps do not correspond.

        >>> h = [{"step": 0, "writers": [], "values": {"x": 1}}]
        >>> divergence(h, h, "simulate", "simulate")["summary"]
        'Runs agree at every step (1 step).'
    """
    if left_workflow != right_workflow:
        reason = (
            f"Runs of different workflows ({left_workflow}, {right_workflow}) have different graphs, "
            "so their checkpoints cannot be aligned step by step; compare their metrics above."
        )
        return {
            "applies": False,
            "reason": reason,
            "steps": [],
            "first_divergent_step": None,
            "summary": reason,
        }
    left, right = _by_step(left_history), _by_step(right_history)
    steps = [_align_step(s, left.get(s), right.get(s)) for s in sorted(set(left) | set(right))]
    first_index = next((i for i, s in enumerate(steps) if not s["equal"]), None)
    return {
        "applies": True,
        "reason": None,
        "steps": steps,
        "first_divergent_step": None if first_index is None else steps[first_index]["step"],
        "summary": _summary(steps, first_index),
    }
