"""Workers: every executor that recorded itself, online or not, its heartbeat, the workflows it can
run and its runs in progress."""

import streamlit as st

from dashboard.formatting import MISSING, time_column
from dashboard.looks import icon
from dashboard.state import require_orchestrator

orch = require_orchestrator()
st.title("Workers")


@st.fragment(run_every=5)
def live_workers() -> None:
    workers = orch.workers()
    online = [w for w in workers if w["online"]]
    left, middle, right = st.columns(3)
    left.metric("Online", len(online))
    middle.metric("Offline", len(workers) - len(online))
    right.metric("Runs in progress", sum(w["running"] for w in online))
    if not workers:
        st.info(
            "No worker has recorded itself yet: the dashboard's executor and `python -m orchestrator worker` "
            "appear here once they start.",
            icon=icon("dns"),
        )
        return
    st.dataframe(
        [
            {
                "online": "online" if w["online"] else "offline",
                "worker": w["worker"],
                "heartbeat_at": w["heartbeat_at"],
                "running": w["running"],
                "concurrency": w["concurrency"],
                "workflows": sorted(w["workflows"]),
                "broken": sorted((w["broken"] or {}).keys()) or None,
            }
            for w in workers
        ],
        column_config={
            "online": st.column_config.TextColumn("State", width="small"),
            "worker": st.column_config.TextColumn("Worker"),
            "heartbeat_at": time_column("Last heartbeat"),
            "running": st.column_config.NumberColumn("Runs in progress"),
            "concurrency": st.column_config.NumberColumn("Concurrency"),
            "workflows": st.column_config.ListColumn("Workflows it can run", width=280),
            "broken": st.column_config.ListColumn("Cannot load"),
        },
        hide_index=True,
        placeholder=MISSING,
        key="workers_table",
    )
    st.caption(
        f"A worker is online while its heartbeat is younger than {orch.config.stale_after_seconds:g} s "
        "(by the database's clock) and it has not stopped. Each claims only runs of the workflows it can run."
    )
    for w in workers:
        for name, reason in (w["broken"] or {}).items():
            st.warning(f"Worker `{w['worker']}` cannot load **{name}**: {reason}", icon=icon("extension_off"))


live_workers()
