"""Workers: every executor that recorded itself, online or not, its heartbeat, the workflows it can
run and its runs in progress."""

import streamlit as st

from dashboard.formatting import MISSING, duration_text, time_column
from dashboard.looks import icon
from dashboard.state import require_orchestrator

orch = require_orchestrator()
st.title("Workers")


hidden_after = orch.config.workers_hidden_after_seconds
show_all = st.toggle(
    f"Show workers offline for more than {duration_text(hidden_after)}",
    key="workers_show_all",
    help="Set how long with ORCHESTRATOR_WORKERS_HIDDEN_AFTER_SECONDS (default one day).",
)


@st.fragment(run_every=5)
def live_workers() -> None:
    everyone = orch.workers()
    workers = everyone if show_all else orch.workers(hide_gone=True)
    online = [w for w in workers if w["online"]]
    left, middle, right = st.columns(3)
    left.metric("Online", len(online))
    middle.metric("Offline", len(everyone) - len(online))
    right.metric("Runs in progress", sum(w["running"] for w in online))
    if hidden := len(everyone) - len(workers):
        st.caption(
            f"{hidden} worker{'s' * (hidden != 1)} offline for more than {duration_text(hidden_after)} "
            f"{'are' if hidden != 1 else 'is'} hidden."
        )
    if not everyone:
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
                "seen": "now" if w["online"] else f"{duration_text(w['seen_seconds_ago'])} ago",
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
            "seen": st.column_config.TextColumn("Last seen", help="Since its last heartbeat"),
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
