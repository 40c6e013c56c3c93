"""python -m bench.page_loads: the dashboard's pages loaded in Chromium, one after another, with
Streamlit's full garbage collection after each script run (its default, `runner.postScriptGC`)
and without it (`.streamlit/config.toml`). Figures only: nothing here fails on a slow page.

A dashboard is started with `streamlit run` on a fresh SQLite file holding the demo data set
(scripts/demo_data.py), once per setting; one Chromium tab loads the runs page, the overview,
compare, workers, launch and a filtered runs page in turn, each until it is drawn. Printed per
setting: the median and 90th-percentile load, the server's CPU seconds over the loads (from
/proc), and its resident memory after every quarter of them (memory that grew without the
collection would show there).

    python -m bench.page_loads                 # 120 loads per setting
    python -m bench.page_loads --loads 60
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.config import OrchestratorConfig
from scripts.browser import launch_chromium, missing_browser, new_context, wait_until_drawn
from scripts.dashboard_server import DashboardServer
from scripts.demo_data import seed_demo

PATHS = ["/", "/overview", "/compare", "/workers", "/launch", "/?status=failed&sort=tasks_total"]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _measure(playwright: Any, database: Path, post_script_gc: bool, loads: int) -> str:
    env = {
        "CHECKPOINT_MODE": "sqlite",
        "SQLITE_PATH": str(database),
        "STREAMLIT_RUNNER_POST_SCRIPT_GC": str(post_script_gc).lower(),
    }
    with tempfile.TemporaryDirectory() as folder, DashboardServer(Path(folder), env) as server:
        browser = launch_chromium(playwright)
        try:
            page = new_context(browser).new_page()
            page.goto(server.url + "/")  # the first load compiles and caches: not counted
            wait_until_drawn(page)
            pid = server.pid
            cpu_before, times, memory = _cpu_seconds(pid), [], []
            for i in range(loads):
                start = time.perf_counter()
                page.goto(server.url + PATHS[i % len(PATHS)])
                wait_until_drawn(page)
                times.append(time.perf_counter() - start)
                if (i + 1) % max(1, loads // 4) == 0:
                    memory.append(_rss_mb(pid))
            cpu = _cpu_seconds(pid) - cpu_before
        finally:
            browser.close()
    p90 = statistics.quantiles(times, n=10)[-1]
    return (
        f"  postScriptGC={str(post_script_gc).lower():5}  median load {statistics.median(times):.3f} s"
        f"   p90 {p90:.3f} s   server CPU {cpu:5.1f} s for {loads} loads"
        f"   RSS MB {' -> '.join(map(str, memory))}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_loads", description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=120, help="page loads per setting (default 120)")
    args = parser.parse_args(argv)
    if reason := missing_browser():
        raise SystemExit(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        database = Path(folder) / "demo.db"
        seed_demo(OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(database), env_file=None))
        print(f"Dashboard page loads in Chromium, SQLite demo data set, {args.loads} loads per setting:")
        for post_script_gc in (True, False):
            print(_measure(playwright, database, post_script_gc, args.loads), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
