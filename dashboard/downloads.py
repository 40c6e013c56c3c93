"""A download button whose file is made when it is clicked, and is still there when the browser
fetches it, however often the page runs meanwhile; the runs page's CSV buttons.

Streamlit (1.67) runs a callable `data` of `st.download_button` when the button is clicked and
stores what it returns as a downloadable file that no session refers to. At the end of every
script run, fragment runs included, it sweeps the files no session refers to: the first sweep
marks a downloadable file, the second deletes it. The runs page has live fragments that refresh
one after the other (every 2 s while runs go, every 10 s otherwise), so refreshes that fall
between the click and the browser's fetch of the file delete it first: the browser gets a 404
("Download Button source error - 404") and the download fails (Playwright: "Download.path:
canceled"). On a loaded machine that fetch can come a second or more after the click.

`lazy_download_button` keeps the file it made referred to by the session that drew the button,
as the file of a button drawn with ready bytes is: from the click on, and again in every full run
of the page (which starts by dropping the session's references) for `KEEP_SECONDS` after it was
made. A session holds one such file per button: the next click's file takes the place of the last.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import ScriptRunContext, add_script_run_ctx, get_script_run_ctx

from dashboard.run_filters import csv_export
from dashboard.state import cached_download_count
from orchestrator import runs_csv
from orchestrator.run_queries import RunFilter, checked_filter
from orchestrator.runs import RunStore

KEEP_SECONDS = 120.0  # far longer than any browser takes to fetch a file it was just told of

# (session id, button key) -> when the file was made, and how to register it again.
_made: dict[tuple[str, str], tuple[float, bytes, str, str]] = {}
_made_lock = threading.Lock()


def lazy_download_button(
    label: str, make: Callable[[], bytes], file_name: str, mime: str, *, key: str, icon: str | None = None
) -> None:
    """`st.download_button` that calls `make` only when clicked (no rerun), keeping its file
    for this session for `KEEP_SECONDS`, full runs of the page included."""
    ctx = get_script_run_ctx()
    coordinates = f"lazy_download:{key}"
    if ctx is not None and runtime.exists():
        keep_recent(ctx.session_id, key, coordinates)

    def data() -> bytes:
        content = make()
        if ctx is not None and runtime.exists():
            with _made_lock:
                _made[(ctx.session_id, key)] = (time.monotonic(), content, mime, file_name)
            keep_for_session(ctx, content, mime, file_name, coordinates)
        return content

    st.download_button(label, data, file_name, mime, key=key, icon=icon, on_click="ignore")


def keep_recent(session_id: str, key: str, coordinates: str) -> None:
    """In a full run (which began by dropping the session's references), refer again to the file
    this session's button made less than `KEEP_SECONDS` ago; forget older files and those of
    sessions that have ended."""
    instance = runtime.get_instance()
    now = time.monotonic()
    with _made_lock:
        for owner in [o for o, made in _made.items() if now - made[0] > KEEP_SECONDS]:
            del _made[owner]
        for owner in [o for o in _made if not instance.is_active_session(o[0])]:
            del _made[owner]
        made = _made.get((session_id, key))
    if made is not None:
        _, content, mime, file_name = made
        instance.media_file_mgr.add(
            content, mime, coordinates, file_name=file_name, is_for_static_download=True
        )


def keep_for_session(
    ctx: ScriptRunContext, content: bytes, mime: str, file_name: str, coordinates: str
) -> None:
    """Register `content` as a downloadable file of `ctx`'s session at `coordinates`.

    Streamlit stores a file once per content, mime type and name, so the file its click handler
    stores from the same bytes right after this is this one, now referred to. Streamlit calls the
    click handler on a worker thread of its own, with no session; the registration runs on a
    short thread that carries the session of the script run that drew the button."""

    def register() -> None:
        instance = runtime.get_instance()
        if instance.is_active_session(ctx.session_id):  # a closed tab's session is never cleared again
            instance.media_file_mgr.add(
                content, mime, coordinates, file_name=file_name, is_for_static_download=True
            )

    thread = threading.Thread(target=register, name="lazy-download-keep", daemon=True)
    add_script_run_ctx(thread, ctx)
    thread.start()
    thread.join()


def runs_csv_buttons(
    store: RunStore,
    filters: RunFilter,
    sort: str,
    descending: bool,
    *,
    counted_all: bool,
    columns: Sequence[str] = (),
) -> None:
    """The runs page's CSV: the first DOWNLOAD_LIMIT runs in the table's order; when the filter
    matches more (asked only when the page's own count was cut, `counted_all` False), a sentence
    that says so and a button for the whole file."""
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        lazy_download_button(
            "Download filtered runs (CSV)",
            csv_export(store, filters, sort, descending, limit=runs_csv.DOWNLOAD_LIMIT, columns=columns),
            "runs.csv",
            "text/csv",
            key="runs_csv",
            icon=":material/download:",
        )
    whole = None if counted_all else cached_download_count(dataclasses.astuple(checked_filter(filters)))
    if whole is None or whole.exact:
        return
    with row:
        lazy_download_button(
            "Download all matching runs (CSV)",
            csv_export(store, filters, sort, descending, limit=None, columns=columns),
            "runs-all.csv",
            "text/csv",
            key="runs_csv_all",
            icon=":material/download:",
        )
    limit = runs_csv.DOWNLOAD_LIMIT
    # More than the limit match, or (SQLite's count within a budget) at least some: not known.
    said = (
        f"the first {limit:,} runs of this filter's more than {limit:,}"
        if whole.value >= limit
        else f"at most the first {limit:,} runs of this filter"
    )
    row.caption(
        f"The CSV holds {said}, in the table's order; **Download all** holds every one "
        "(about 200 bytes a run)."
    )
