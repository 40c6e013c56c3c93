"""Journey (issue 23): the SQLite dashboard stopped with Ctrl-C while its embedded executor runs a
run shuts down quietly: no traceback, no "cannot schedule new futures after interpreter shutdown",
and the run it held is left to be resumed.

`streamlit run` as people start it; a page opened in Chromium starts the embedded executor (it
starts with the first session); then SIGINT, as Ctrl-C sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config import OrchestratorConfig
from orchestrator.operations import Orchestrator
from scripts.browser import new_context
from scripts.dashboard_server import DashboardServer
from tests.browser.conftest import STEP_MS
from tests.browser.test_journeys import open_page
from tests.helpers import wait_for


def test_ctrl_c_stops_the_sqlite_dashboard_quietly(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "orchestrator.db"
    config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(db), env_file=None)
    orch = Orchestrator(config)
    try:
        run_id = orch.launch("simulate", {"tasks": 40, "delay_ms": 500})
        server = DashboardServer(tmp_path, {"CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(db)}).start()
        # The tab stays open through Ctrl-C, as a person's does. Closed just before it, its
        # socket's close and the server's shutdown raced in Streamlit's own websocket endpoint
        # once in CI ("WebSocket is not connected", a traceback of Streamlit's, not ours).
        context = new_context(browser)
        try:
            tab = context.new_page()
            tab.set_default_timeout(STEP_MS)
            open_page(tab, server, "/", "Runs")  # the first session starts the embedded executor
            wait_for(lambda: orch.get_run(run_id)["status"] == "running", timeout=60, what="the run to start")
        finally:
            code = server.interrupt()
            context.close()
        log = server.log()
        assert code == 0, log
        for sign in ("Traceback", "cannot schedule new futures", "Exception"):
            assert sign not in log, log
        # The run it held is released, to be resumed by the next executor (or it finished).
        assert orch.get_run(run_id)["status"] in ("queued", "interrupted", "succeeded")
    finally:
        orch.engine.dispose()
