"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

One SQLite dashboard server per module, on a free port, with its embedded executor. Skipped
with the reason when Chromium or Playwright is missing, unless ORCHESTRATOR_REQUIRE_BROWSER=1
(set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-test.txt)"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dashboard on SQLite at http://127.0.0.1:<port>, stopped after the module."""
    if reason := _missing():
        if os.environ.get("ORCHESTRATOR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; ORCHESTRATOR_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("browser")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CHECKPOINT_MODE": "sqlite", "SQLITE_PATH": str(folder / "orchestrator.db")}
    env.pop("POSTGRES_URI", None)
    log = (folder / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1200})
        tab.set_default_timeout(30_000)
        yield tab
        browser.close()


def test_launch_watch_and_find_the_run(server: str, page) -> None:
    """Launch simulate from the form, watch it finish live, find it on the filtered runs page."""
    page.goto(f"{server}/launch")
    page.get_by_text("Launch a run").wait_for()
    tasks = page.get_by_role("spinbutton", name="Tasks", exact=True)
    tasks.fill("12")
    tasks.press("Tab")
    page.get_by_role("button", name="Launch").click()
    queued = page.get_by_text(re.compile(r"Queued 1 run"))
    queued.wait_for()
    run_id = re.search(r"[0-9a-f]{32}", queued.inner_text()).group(0)
    page.get_by_text("14 of 14 tasks", exact=False).wait_for(timeout=60_000)

    page.goto(f"{server}/?status=succeeded&tasks_total_min=14&tasks_total_max=14")
    page.get_by_text("1 matching runs", exact=False).wait_for()
    assert "status=succeeded" in page.url
    page.goto(f"{server}/run_detail?run_id={run_id}")
    page.get_by_text("succeeded · simulate").wait_for()
    page.get_by_role("tab", name="Checkpoints").click()
    page.get_by_text("State at checkpoint").wait_for()
    body = page.inner_text("body")
    assert "Traceback" not in body
