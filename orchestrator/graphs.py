"""A workflow's graph as Graphviz DOT, from LangGraph's own `get_graph()`: nodes, edges,
conditional edges dashed, and, for a run, each node coloured by its tasks' statuses with the
counts written under its name (the dashboard draws it with `st.graphviz_chart`).

    >>> dot = graph_dot(registry.get("simulate"), {"work": {"succeeded": 20, "failed": 1}})
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from orchestrator.status import TaskStatus
from orchestrator.workflows import WorkflowSpec

# Fill and border per state of a node in a run (light fills: the names stay readable).
FILLS = {
    TaskStatus.FAILED: ("#fdecea", "#c62828"),
    TaskStatus.RUNNING: ("#e3f2fd", "#1565c0"),
    TaskStatus.AWAITING_INPUT: ("#f1e8fd", "#7b3fe4"),
    TaskStatus.WAITING: ("#f4f5f7", "#8d95a3"),
    TaskStatus.INTERRUPTED: ("#fff3e0", "#ef6c00"),
    TaskStatus.SUCCEEDED: ("#e8f5e9", "#2e7d32"),
    TaskStatus.CANCELLED: ("#f5f5f5", "#5f6368"),
    "not run": ("#ffffff", "#9e9e9e"),
}
# The words under a node's name, in this order: "466 waiting, 1 running, 33 done".
WORDS: dict[str, str] = {
    TaskStatus.WAITING: "waiting",
    TaskStatus.RUNNING: "running",
    TaskStatus.AWAITING_INPUT: "waiting for an answer",
    TaskStatus.SUCCEEDED: "done",
    TaskStatus.FAILED: "failed",
    TaskStatus.INTERRUPTED: "stopped",
    TaskStatus.CANCELLED: "never started",
}


def _quote(text: str) -> str:
    # DOT strings are double-quoted with backslash escapes, which JSON's quoting matches.
    return json.dumps(text, ensure_ascii=False)


def node_state(counts: Mapping[str, int]) -> str:
    """The one state a node is drawn in: the first of failed, running, waiting for an answer,
    waiting for a slot, interrupted, succeeded and cancelled that one of its tasks is in, else
    not run."""
    for state in (
        TaskStatus.FAILED,
        TaskStatus.RUNNING,
        TaskStatus.AWAITING_INPUT,
        TaskStatus.WAITING,
        TaskStatus.INTERRUPTED,
        TaskStatus.SUCCEEDED,
        TaskStatus.CANCELLED,
    ):
        if counts.get(state):
            return state
    return "not run"


def graph_dot(
    spec: WorkflowSpec, counts: Mapping[str, Mapping[str, int]] | None = None, *, rankdir: str = "TB"
) -> str:
    """DOT for the workflow's graph; with `counts` ({node: {task status: n}}) each node shows a run's tasks.

    `rankdir` is Graphviz's direction: "TB" (top to bottom) or "LR" (left to right, a wide band)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' or 'LR', not {rankdir!r}")
    graph = spec.build().compile().get_graph()
    lines = [
        "digraph workflow {",
        f'  graph [rankdir={rankdir}, bgcolor="transparent", fontname="sans-serif", nodesep=0.3, ranksep=0.35];',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11, penwidth=1.4];',
        '  edge [color="#616161", arrowsize=0.7];',
    ]
    for node_id, node in graph.nodes.items():
        if node_id in ("__start__", "__end__"):
            label = "start" if node_id == "__start__" else "end"
            lines.append(
                f'  {_quote(node_id)} [label={_quote(label)}, shape=oval, fillcolor="#eeeeee", color="#9e9e9e"];'
            )
            continue
        node_counts = (counts or {}).get(node.name, {})
        fill, border = FILLS[node_state(node_counts) if counts is not None else "not run"]
        label = node.name
        order = [*WORDS, *sorted(set(node_counts) - set(WORDS))]
        parts = [f"{node_counts[s]} {WORDS.get(s, s)}" for s in order if node_counts.get(s)]
        if parts:
            label += "\n" + ", ".join(parts)
        lines.append(
            f"  {_quote(node_id)} [label={_quote(label)}, fillcolor={_quote(fill)}, color={_quote(border)}];"
        )
    for edge in graph.edges:
        style = ' [style=dashed, label=""]' if edge.conditional else ""
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)}{style};")
    lines.append("}")
    return "\n".join(lines)
