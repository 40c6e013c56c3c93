"""A process with an embedded executor ends quietly (the dashboard stopped with Ctrl-C): the
executor stops before the interpreter shuts its thread pools down, so its loop never logs
"cannot schedule new futures after interpreter shutdown" (issue 23)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    # Registered before concurrent.futures is imported, so it runs after its shutdown hook: the
    # half second in which a still-running executor loop would meet the closed thread pool.
    threading._register_atexit(lambda: time.sleep(0.5))
    sys.path.insert(0, sys.argv[2])
    import logging
    logging.basicConfig(level=logging.WARNING)
    from orchestrator import executor
    from orchestrator.config import OrchestratorConfig
    from orchestrator.executor import Executor
    from orchestrator.operations import Orchestrator
    # The grace on the way out, shortened from 2 s: the run (6 s of work) is released after it.
    executor.EXIT_GRACE_SECONDS = 0.2
    config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=sys.argv[1], env_file=None)
    orch = Orchestrator(config)
    run_id = orch.launch("simulate", {"tasks": 20, "delay_ms": 300})
    Executor(config, engine=orch.engine, registry=orch.registry, poll_seconds=0.001).start()
    # Until the run is going: its first tasks are started.
    while orch.get_run(run_id)["tasks_total"] < 2:
        time.sleep(0.02)
    print(run_id)
    # The main thread ends here, as Streamlit's does after Ctrl-C.
    """
)


def test_a_process_with_an_executor_ends_without_a_traceback(tmp_path: Path) -> None:
    script = tmp_path / "ends.py"
    script.write_text(SCRIPT)
    db = tmp_path / "ends.db"
    done = subprocess.run(
        [sys.executable, str(script), str(db), str(ROOT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "cannot schedule new futures" not in done.stderr, done.stderr
    # The run it held is released on the way out, to be resumed by the next executor.
    from orchestrator.config import OrchestratorConfig
    from orchestrator.operations import Orchestrator

    orch = Orchestrator(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(db), env_file=None))
    try:
        assert orch.get_run(done.stdout.strip())["status"] in ("queued", "interrupted", "succeeded")
    finally:
        orch.engine.dispose()
