"""What every page sets up the same way: the tab's icon is a file served with the app (no online
font service), on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streamlit as st

from orchestrator.operations import Orchestrator
from tests.apptest_helpers import open_page


def test_the_favicon_is_a_file_served_with_the_app(page_orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, Any]] = []
    real = st.set_page_config

    def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "set_page_config", recording)
    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    (config,) = asked
    icon = config["page_icon"]
    assert not str(icon).startswith(":material/")  # a Material icon is fetched from fonts.gstatic.com
    assert Path(icon).is_file() and Path(icon).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
