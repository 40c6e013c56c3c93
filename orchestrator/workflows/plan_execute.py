"""The `plan_execute` built-in: plan steps for a goal, optionally get them approved, carry them out.

Offline (no model configured) the planner and worker are deterministic text processing, so the
workflow runs without an API key; with a model they ask it instead.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.errors import InputError
from orchestrator.workflows.limits import release, slot

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

NAME = "plan_execute"
DESCRIPTION_OFFLINE = (
    "Splits a goal into up to `max_tasks` steps, optionally waits for you to approve or edit the plan, "
    "then carries the steps out in parallel and summarizes them. Runs offline with deterministic "
    "text processing (no model configured)."
)
DESCRIPTION_MODEL = (
    "Asks the configured model for up to `max_tasks` steps toward a goal, optionally waits for you to "
    "approve or edit the plan, then has the model carry the steps out in parallel and joins the results."
)

# fmt: off
STOPWORDS = frozenset({
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "do", "does", "each", "for", "from", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "make", "more", "not", "of", "on", "only", "or", "other", "our", "out", "over",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "through", "to", "up", "use", "using", "via", "was", "we", "were", "what",
    "when", "which", "will", "with", "would", "you", "your"
})
# fmt: on

TOP_KEYWORDS_PER_TASK = 3
TOP_KEYWORDS_SUMMARY = 5

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_ITEM_PREFIX = re.compile(r"^\s*(?:[-*+•]|\(?\d{1,3}[.)]|step\s+\d{1,3}[.:)])\s+", re.IGNORECASE)
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?])\s+|;|,\s*then\s+|\s+and\s+then\s+", re.IGNORECASE)
_LEADING_CONNECTOR = re.compile(
    r"^(?:(?:first(?:ly)?|second(?:ly)?|then|next|finally|lastly|afterwards|after that|and)\b[,:]?\s*)+",
    re.IGNORECASE,
)
_TRAILING_PUNCT = " \t.,;:!"

Goal = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class PlanExecuteInput(BaseModel):
    """Input of the `plan_execute` workflow."""

    model_config = ConfigDict(extra="forbid", title="plan_execute")

    goal: Goal = Field(
        description="What to achieve; sentences, 'then' clauses or a numbered list become steps."
    )
    max_tasks: int = Field(5, ge=1, le=20, description="Most steps the planner may produce.")
    max_parallel: int = Field(3, ge=1, le=8, description="How many steps may run at the same time.")
    require_approval: bool = Field(
        False, description="Pause after planning until someone approves (or edits) the plan."
    )


class PlanExecuteState(TypedDict, total=False):
    """Graph state: the input fields, the plan, per-step results and the summary."""

    goal: str
    max_tasks: int
    max_parallel: int
    require_approval: bool
    plan: list[str]
    results: Annotated[list[dict[str, Any]], operator.add]
    summary: dict[str, Any]


class WorkerInput(TypedDict):
    """What one `worker` step receives through its `Send`."""

    task: str
    index: int
    goal: str
    max_parallel: int


def run_config(input: dict) -> dict:
    """No extra run config: `max_parallel` is enforced inside `worker` (orchestrator.workflows.limits)."""
    return {}


# --- offline text processing -------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-cased words of `text` (letters and digits; inner apostrophes and hyphens kept)."""
    return [w.lower() for w in _WORD.findall(text)]


def keyword_counts(text: str, n: int) -> list[tuple[str, int]]:
    """The `n` most frequent non-stopwords of 3+ letters; ties go to the longer, then the earlier word."""
    counts = Counter(w for w in words(text) if len(w) > 2 and w not in STOPWORDS and not w.isdigit())
    return _ranked(counts)[:n]


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    # Counter keeps first-occurrence order and sorted() is stable, so earlier words win full ties.
    return sorted(counts.items(), key=lambda item: (-item[1], -len(item[0])))


def _clean_clause(clause: str) -> str:
    clause = _LEADING_CONNECTOR.sub("", clause.strip()).strip().rstrip(_TRAILING_PUNCT).strip()
    return clause[:1].upper() + clause[1:]


def split_clauses(goal: str) -> list[str]:
    """Split a goal into distinct clauses: lines (bullets and numbering stripped), then
    sentences, semicolons, ", then" and " and then"; leading connectors such as "first" or
    "then" and trailing punctuation are removed, and repeats (ignoring case) are dropped."""
    clauses: list[str] = []
    seen: set[str] = set()
    for line in goal.splitlines():
        for part in _CLAUSE_SPLIT.split(_ITEM_PREFIX.sub("", line)):
            clause = _clean_clause(part)
            if clause and clause.casefold() not in seen:
                seen.add(clause.casefold())
                clauses.append(clause)
    return clauses


def plan_offline(goal: str, max_tasks: int) -> list[str]:
    """The offline planner: the goal's clauses, capped at `max_tasks`; a one-clause goal becomes
    "Research: <key terms>", "Draft: <clause>", "Review: <clause>" (just the clause if max_tasks is 1);
    a goal with no words left after cleaning counts as one clause, the goal itself."""
    clauses = split_clauses(goal) or [goal.strip()]
    if len(clauses) > 1:
        return clauses[:max_tasks]
    clause = clauses[0]
    if max_tasks == 1:
        return [clause]
    terms = [w for w, _ in keyword_counts(clause, TOP_KEYWORDS_PER_TASK)]
    steps = [f"Research: {', '.join(terms) if terms else clause}", f"Draft: {clause}", f"Review: {clause}"]
    return steps[:max_tasks]


def _join_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def work_offline(task: str, index: int) -> dict[str, Any]:
    """The offline worker: word count, top keywords with counts, a sha1 digest prefix of the
    task text, and a one-line "done" sentence naming the keywords."""
    top = keyword_counts(task, TOP_KEYWORDS_PER_TASK)
    covered = _join_words([w for w, _ in top])
    output = f"Step {index + 1} done: {task}" + (f" (covered {covered})." if covered else ".")
    return {
        "index": index,
        "task": task,
        "words": len(words(task)),
        "keywords": [{"word": w, "count": c} for w, c in top],
        "digest": hashlib.sha1(task.encode()).hexdigest()[:10],
        "output": output,
    }


def summarize_offline(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate worker results (in step order): counts, merged top keywords, the per-step lines."""
    merged: Counter[str] = Counter()
    for result in results:
        for kw in result["keywords"]:
            merged[kw["word"]] += kw["count"]
    lines = [r["output"] for r in results]
    return {
        "tasks": len(results),
        "total_words": sum(r["words"] for r in results),
        "keywords": [w for w, _ in _ranked(merged)[:TOP_KEYWORDS_SUMMARY]],
        "lines": lines,
        "text": "\n".join(lines),
    }


# --- model-backed steps ------------------------------------------------------------------


def _text(response: Any) -> str:
    return response if isinstance(response, str) else str(response.text)


def parse_steps(text: str, max_tasks: int) -> list[str]:
    """Steps from a model's numbered or bulleted list: one per non-empty line, numbering
    stripped, repeats dropped, capped at `max_tasks`."""
    steps: list[str] = []
    for line in text.splitlines():
        step = _ITEM_PREFIX.sub("", line).strip().strip("*").strip()
        if step and step not in steps:
            steps.append(step)
    return steps[:max_tasks]


async def plan_with_model(model: BaseChatModel, goal: str, max_tasks: int) -> list[str]:
    """Ask the model for a numbered list of at most `max_tasks` steps; the goal itself if it gives none."""
    response = await model.ainvoke(
        [
            SystemMessage(
                f"You are a planner. Reply with a numbered list of at most {max_tasks} short, concrete "
                "steps that achieve the user's goal, one step per line, and nothing else."
            ),
            HumanMessage(goal),
        ]
    )
    return parse_steps(_text(response), max_tasks) or [goal]


async def work_with_model(model: BaseChatModel, task: str, index: int, goal: str) -> dict[str, Any]:
    """Ask the model to carry out one step; its reply is the step's output."""
    response = await model.ainvoke(
        [
            SystemMessage(
                f"You carry out one step of a plan toward this goal: {goal}\n"
                "Do the step and reply with its result only."
            ),
            HumanMessage(task),
        ]
    )
    return {"index": index, "task": task, "output": _text(response)}


def summarize_model(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Join the model's per-step outputs in step order."""
    lines = [f"Step {r['index'] + 1} ({r['task']}): {r['output']}" for r in results]
    return {"tasks": len(results), "lines": lines, "text": "\n\n".join(lines)}


# --- approval ----------------------------------------------------------------------------


def approved_plan(value: Any, proposed: list[str], max_tasks: int | None = None) -> list[str]:
    """The plan to execute from an approval's resume value: a list of task strings, a dict
    {"plan": [...]}, a string with one task per line, or None/True to keep the proposed plan.

    The approved list is executed as given (empty entries dropped), at most `max_tasks` steps
    (the run's limit, which an edited plan obeys as the planner does); an empty list runs no
    steps. Raises InputError for any other value."""
    if value is None or value is True:
        return list(proposed)
    if isinstance(value, dict) and "plan" in value:
        value = value["plan"]
    if isinstance(value, str):
        value = [_ITEM_PREFIX.sub("", line) for line in value.splitlines()]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InputError(
            'Answer the plan approval with a list of task strings or {"plan": [...]}.',
            {"plan": "must be a list of task strings"},
        )
    plan = [t.strip() for t in value if t.strip()]
    if max_tasks is not None and len(plan) > max_tasks:
        raise InputError(
            f"The plan has {len(plan):,} steps and this run takes at most {max_tasks} (its max_tasks); "
            "remove steps, or launch a run with a larger max_tasks.",
            {"plan": f"must have at most {max_tasks} steps"},
        )
    return plan


def check_approval(answer: Any, question: Any, input: Mapping[str, Any] | None) -> Any:
    """The approval's answer checked before it is accepted, as the `approve` node will read it,
    against the run's `max_tasks` (WorkflowSpec.check_answer); the answer as given."""
    proposed = question.get("plan") if isinstance(question, dict) else None
    approved_plan(answer, proposed if isinstance(proposed, list) else [], _max_tasks(input))
    return answer


def _max_tasks(values: Mapping[str, Any] | None) -> int:
    limit = (values or {}).get("max_tasks")
    if isinstance(limit, int) and not isinstance(limit, bool):
        return limit
    return int(PlanExecuteInput.model_fields["max_tasks"].default)


# --- the graph ---------------------------------------------------------------------------


def _fan_out(state: PlanExecuteState) -> list[Send] | str:
    plan = state.get("plan") or []
    if not plan:
        return "summarize"
    limit = state.get("max_parallel") or 1
    return [
        Send("worker", {"task": t, "index": i, "goal": state["goal"], "max_parallel": limit})
        for i, t in enumerate(plan)
    ]


def _after_planner(state: PlanExecuteState) -> list[Send] | str:
    return "approve" if state.get("require_approval") else _fan_out(state)


async def _approve(state: PlanExecuteState) -> dict:
    answer = interrupt({"plan": state["plan"], "goal": state["goal"]})
    return {"plan": approved_plan(answer, state["plan"], _max_tasks(state))}


def build_plan_execute_graph(model: BaseChatModel | None = None) -> StateGraph:
    """Return the uncompiled `plan_execute` graph: planner -> [approve] -> worker (one per
    step) -> summarize; offline logic when `model` is None, else the model."""

    async def planner(state: PlanExecuteState) -> dict:
        if model is None:
            return {"plan": plan_offline(state["goal"], state["max_tasks"])}
        return {"plan": await plan_with_model(model, state["goal"], state["max_tasks"])}

    async def worker(state: WorkerInput, config: RunnableConfig) -> dict:
        async with slot(config, "worker", state["max_parallel"]):
            if model is None:
                result = work_offline(state["task"], state["index"])
            else:
                result = await work_with_model(model, state["task"], state["index"], state["goal"])
        return {"results": [result]}

    async def summarize(state: PlanExecuteState, config: RunnableConfig) -> dict:
        release(config, "worker")
        results = sorted(state.get("results", []), key=lambda r: r["index"])
        return {"summary": summarize_offline(results) if model is None else summarize_model(results)}

    graph = StateGraph(PlanExecuteState)
    graph.add_node("planner", planner)
    graph.add_node("approve", _approve)
    graph.add_node("worker", worker, input_schema=WorkerInput)
    graph.add_node("summarize", summarize)
    graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", _after_planner, ["approve", "worker", "summarize"])
    graph.add_conditional_edges("approve", _fan_out, ["worker", "summarize"])
    graph.add_edge("worker", "summarize")
    graph.add_edge("summarize", END)
    return graph
