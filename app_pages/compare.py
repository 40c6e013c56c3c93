"""Compare: 2 to 10 runs side by side, their inputs and states diffed, and where two runs part."""

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.archive import compare_choices, compared_runs, tasks_of
from dashboard.formatting import json_text, metric_text
from dashboard.state import cached_history, require_orchestrator
from orchestrator.compare import compare_table, diff_json, divergence

orch = require_orchestrator()
st.title("Compare runs")
# The URL leads when it changed from outside (a link, Compare selected), else the widget does: a
# second run picked here is not undone by the URL this page wrote for the first.
if "compare_runs" not in st.session_state or st.query_params.get("run_ids") not in (
    None,
    st.session_state.get("compare_url"),
):
    st.session_state["compare_runs"] = [r for r in st.query_params.get("run_ids", "").split(",") if r][:10]
recent = compare_choices()  # with an archive open, its runs too (archive:<id>)
chosen = st.multiselect(
    "Runs (2 to 10; type or paste an id)",
    list(dict.fromkeys(st.session_state["compare_runs"] + recent)),
    key="compare_runs",
    max_selections=10,
    accept_new_options=True,
)
st.query_params["run_ids"] = st.session_state["compare_url"] = ",".join(chosen)
runs, archived, missing = compared_runs(chosen)
if missing:
    st.warning(f"No run has the id {', '.join(f'`{m}`' for m in missing)}; it is left out.")
if len(runs) < 2:
    st.info("Choose at least two runs, here or with **Compare selected** on the Runs page.")
    st.stop()
names = [
    f"{i + 1}: {run['run_id'][:8]}{' (archive)' * a}"
    for i, (run, a) in enumerate(zip(runs, archived, strict=True))
]

st.subheader("Side by side")
table = compare_table(runs)
only_diff = st.toggle("Only rows that differ", key="compare_only_diff")
# What differs is what a person sees differ (two times a few microseconds apart read the same).
texts = {row["metric"]: [metric_text(row["key"], v) for v in row["values"]] for row in table}
shown = [row for row in table if len(set(texts[row["metric"]])) > 1 or not only_diff]
frame = pd.DataFrame(
    [texts[row["metric"]] for row in shown], index=[row["metric"] for row in shown], columns=names
)
marks = pd.DataFrame(
    [["background-color: #fff3b0" if text != texts[m][0] else "" for text in texts[m]] for m in frame.index],
    index=frame.index,
    columns=names,
)
st.dataframe(frame.style.apply(lambda _: marks, axis=None), key="compare_table")
st.caption("Highlighted: the value differs from run 1's.")

st.subheader("Input and final state, key by key")
other = st.selectbox(
    "Diff run 1 against", range(1, len(runs)), format_func=names.__getitem__, key="compare_other"
)
for label, field, first, second in (
    ("Input", "input", runs[0]["input"], runs[other]["input"]),
    ("State snapshot", "state_snapshot", runs[0]["state_snapshot"], runs[other]["state_snapshot"]),
):
    changes = diff_json(first or {}, second or {})
    st.markdown(f"**{label}**: {len(changes)} difference{'s' * (len(changes) != 1)}")
    if changes:
        st.dataframe(
            pd.DataFrame(
                [{**c, "left": json_text(c["left"]), "right": json_text(c["right"])} for c in changes]
            ),
            hide_index=True,
            key=f"compare_diff_{field}",
        )

tasks = [
    {**task, "run": name}
    for run, name, a in zip(runs, names, archived, strict=True)
    for task in tasks_of(run, a)
]
if tasks:
    left, right = st.columns(2)
    left.markdown("**Task durations by node**")
    left.altair_chart(charts.node_durations(tasks, names), key="compare_durations")
    right.markdown("**Tasks by node**")
    right.altair_chart(charts.node_counts(tasks, names), key="compare_counts")

st.subheader("Divergence, step by step")
pair = (0, other)
histories = [
    cached_history(runs[i]["run_id"], (runs[i]["status"], runs[i]["tasks_total"]), archived=archived[i])
    for i in pair
]
result = divergence(histories[0], histories[1], runs[pair[0]]["workflow"], runs[pair[1]]["workflow"])
st.caption(f"{names[pair[0]]} against {names[pair[1]]}")
for child, parent, child_name, parent_name in (
    (runs[pair[1]], runs[pair[0]], names[pair[1]], names[pair[0]]),
    (runs[pair[0]], runs[pair[1]], names[pair[0]], names[pair[1]]),
):
    if child["parent_run_id"] == parent["run_id"]:
        st.info(
            f"Run {child_name} is a fork of run {parent_name} from step {child['parent_step']} "
            f"(checkpoint `{child['parent_checkpoint_id']}`): they share every checkpoint up to it "
            "and part after it.",
            icon=":material/call_split:",
        )
if not result["applies"]:
    st.info(result["reason"])
else:
    (st.success if result["first_divergent_step"] is None else st.warning)(result["summary"])
    st.dataframe(
        [
            {
                "step": s["step"],
                "equal": s["equal"],
                "differing": ", ".join(s["differing_channels"]),
                "run 1 wrote": ", ".join(s["left_writers"]),
                f"run {pair[1] + 1} wrote": ", ".join(s["right_writers"]),
            }
            for s in result["steps"]
        ],
        hide_index=True,
        key="compare_steps",
    )
