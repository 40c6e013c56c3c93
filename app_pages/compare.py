"""Compare: 2 to 20 runs side by side (figures, inputs, final states, metrics), any two diffed key
by key, their metric series overlaid, and where two runs part."""

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.archive import compare_choices, compared_runs, store_of, tasks_of
from dashboard.formatting import compared_field_text, json_text, metric_text
from dashboard.state import cached_history, require_orchestrator
from orchestrator.compare import diff_json, divergence
from orchestrator.compare_fields import MAX_COMPARED, CompareRow, overlaid_series, side_by_side

MARK = "background-color: #fff3b0"
ROWS_SHOWN = 24

orch = require_orchestrator()
st.title("Compare runs")


def _picked() -> None:
    # A pick reruns the page with the browser's URL as it was: one still on its way from the
    # run before (or from the page left) must not undo the pick.
    st.session_state["compare_picked"] = True


# The URL leads when it changed from outside (a link, Compare selected), else the widget does: a
# second run picked here is not undone by the URL this page wrote for the first.
picked = st.session_state.pop("compare_picked", False)
if "compare_runs" not in st.session_state or (
    not picked and st.query_params.get("run_ids") not in (None, st.session_state.get("compare_url"))
):
    linked = [r for r in st.query_params.get("run_ids", "").split(",") if r]
    st.session_state["compare_runs"] = linked[:MAX_COMPARED]
recent = compare_choices()  # with an archive open, its runs too (archive:<id>)
chosen = st.multiselect(
    f"Runs (2 to {MAX_COMPARED}; type or paste an id)",
    list(dict.fromkeys(st.session_state["compare_runs"] + recent)),
    key="compare_runs",
    max_selections=MAX_COMPARED,
    accept_new_options=True,
    on_change=_picked,
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


def cell_texts(row: CompareRow) -> list[str]:
    if row["section"] == "run":
        return [metric_text(row["key"], value) for value in row["values"]]
    return [
        compared_field_text(value, present)
        for value, present in zip(row["values"], row["present"], strict=True)
    ]


st.subheader("Side by side")
table = side_by_side(runs)
only_diff = st.toggle("Only rows that differ", key="compare_only_diff")
shown = [row for row in table["rows"] if row["differs"] or not only_diff]
frame = pd.DataFrame([cell_texts(row) for row in shown], index=[row["label"] for row in shown], columns=names)
marks = pd.DataFrame(
    [[MARK if i in row["marked"] else "" for i in range(len(runs))] for row in shown],
    index=frame.index,
    columns=names,
)
# Tall enough for every row up to ROWS_SHOWN of them (a row is 35 px, the header too), then it scrolls.
height = 35 * (min(len(shown), ROWS_SHOWN) + 1) + 3
st.dataframe(frame.style.apply(lambda _: marks, axis=None), key="compare_table", height=height)
differing = sum(row["differs"] for row in table["rows"])
st.caption(
    f"{differing} of {len(table['rows'])} rows differ. Highlighted: a value most of the runs do not "
    "hold (on a tie, the earliest run's is taken as the usual one); – : the run has no such field."
    + (f" {table['fields_left_out']} more field rows are not shown." if table["fields_left_out"] else "")
)

series = overlaid_series(
    names, [store_of(a).metric_series(run["run_id"]) for run, a in zip(runs, archived, strict=True)]
)
if series:
    st.subheader("Metrics over their steps")
    st.altair_chart(charts.metric_series_by_run(series, names), key="compare_metric_series")

st.subheader("Two runs, key by key")
pick = st.columns(2)
left = pick[0].selectbox("Left run", range(len(runs)), format_func=names.__getitem__, key="compare_left")
right = pick[1].selectbox(
    "Right run", range(len(runs)), index=1, format_func=names.__getitem__, key="compare_right"
)
if left == right:
    st.info("Choose two different runs to diff.")
for label, field, first, second in (
    ("Input", "input", runs[left]["input"], runs[right]["input"]),
    ("State snapshot", "state_snapshot", runs[left]["state_snapshot"], runs[right]["state_snapshot"]),
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
    columns = st.columns(2)
    columns[0].markdown("**Task durations by node**")
    columns[0].altair_chart(charts.node_durations(tasks, names), key="compare_durations")
    columns[1].markdown("**Tasks by node**")
    columns[1].altair_chart(charts.node_counts(tasks, names), key="compare_counts")

st.subheader("Divergence, step by step")
pair = (left, right)
histories = [
    cached_history(runs[i]["run_id"], (runs[i]["status"], runs[i]["tasks_total"]), archived=archived[i])
    for i in pair
]
result = divergence(histories[0], histories[1], runs[left]["workflow"], runs[right]["workflow"])
st.caption(f"{names[left]} against {names[right]}")
for child, parent, child_name, parent_name in (
    (runs[right], runs[left], names[right], names[left]),
    (runs[left], runs[right], names[left], names[right]),
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
                f"run {left + 1} wrote": ", ".join(s["left_writers"]),
                f"run {right + 1} wrote": ", ".join(s["right_writers"]),
            }
            for s in result["steps"]
        ],
        hide_index=True,
        key="compare_steps",
    )
