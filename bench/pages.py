"""Whole pages: the runs page and the overview rendered by Streamlit's AppTest on a seeded
database, and the process's peak memory. One backend and size per process, so each peak is its own:

    python -m bench.pages --runs 1000000 --backend sqlite
    python -m bench.pages --runs 10000 --backend sqlite

Prints one JSON line: seconds per page (the first render of the process, which imports and
connects; a new session's first render in that warm process, with no cached data; the median of
the first session's later renders) and the peak resident memory in MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from bench import seed

ROOT = Path(__file__).resolve().parents[1]


def render(page: str, repeats: int) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.switch_page(f"app_pages/{page}.py")
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    later = []
    for _ in range(repeats):
        start = time.perf_counter()
        at.run()
        later.append(time.perf_counter() - start)
    # A second user's first view: a new session in a process that has imported and connected.
    # Its data is not cached yet (each session picks its own filters and period).
    st_cache_clear()
    fresh = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    fresh.switch_page(f"app_pages/{page}.py")
    start = time.perf_counter()
    fresh.run()
    new_session = time.perf_counter() - start
    return {
        "first_s": first,
        "new_session_s": new_session,
        "median_s": statistics.median(later),
        "max_s": max(later),
    }


def st_cache_clear() -> None:
    """Forget st.cache_data (the overview's figures): a new session's first view reads them."""
    import streamlit as st

    st.cache_data.clear()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="AppTest timing and peak memory of the runs page and the overview"
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.backend == "sqlite":
        engine, path = seed.sqlite_engine(args.runs)
        os.environ.update(CHECKPOINT_MODE="sqlite", SQLITE_PATH=str(path))
    else:
        engine, uri = seed.postgres_engine(args.runs)
        os.environ.update(CHECKPOINT_MODE="postgres", POSTGRES_URI=uri)
    engine.dispose()
    os.environ["ORCHESTRATOR_EMBEDDED_EXECUTOR"] = "0"
    os.chdir(ROOT)
    figures = {page: render(page, args.repeats) for page in ("runs", "overview")}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"backend": args.backend, "runs": args.runs, "pages": figures, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main()
