"""A download button whose file is made when it is clicked, and is still there when the browser
fetches it, however often the page's live parts refresh meanwhile.

Streamlit (1.67) runs a callable `data` of `st.download_button` when the button is clicked and
stores what it returns as a downloadable file that no session refers to. At the end of every
script run, fragment runs included, it sweeps the files no session refers to: the first sweep
marks a downloadable file, the second deletes it. The runs page has two live fragments that
refresh one after the other (every 2 s while runs go, every 10 s otherwise), so a refresh that
falls between the click and the browser's fetch of the file deletes it first: the browser gets
a 404 ("Download Button source error - 404") and the download fails (Playwright:
"Download.path: canceled"). On a loaded machine that fetch can come a second after the click.

`lazy_download_button` keeps the file it made referred to by the session that drew the button,
as the file of a button drawn with ready bytes is, so no sweep deletes it until that session's
next full run (which draws the button anew) or its end. A session holds one such file per
button: the next click's file takes the place of the last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import ScriptRunContext, add_script_run_ctx, get_script_run_ctx


def lazy_download_button(
    label: str, make: Callable[[], bytes], file_name: str, mime: str, *, key: str, icon: str | None = None
) -> None:
    """`st.download_button` that calls `make` only when clicked (no rerun), keeping its file
    for this session until the page is drawn anew."""
    ctx = get_script_run_ctx()

    def data() -> bytes:
        content = make()
        if ctx is not None and runtime.exists():
            keep_for_session(ctx, content, mime, file_name, coordinates=f"lazy_download:{key}")
        return content

    st.download_button(label, data, file_name, mime, key=key, icon=icon, on_click="ignore")


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
