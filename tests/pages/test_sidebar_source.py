"""The sidebar says where the PostgreSQL URI came from in the words `doctor` uses: `.env` for a URI
set in the `.env` file, not "environment" (issue 23), on both backends."""

from __future__ import annotations

import pytest

from orchestrator.config import OrchestratorConfig
from tests.apptest_helpers import open_page

FAKE_PASSWORD = "s3cret-in-dotenv"
FAKE_URI = f"postgresql://alice:{FAKE_PASSWORD}@db.example.invalid:5432/orchestrator_db"


def sidebar_texts(at) -> list[str]:
    return [str(m.value) for m in at.sidebar.markdown] + [str(c.value) for c in at.sidebar.caption]


def test_a_uri_from_dotenv_is_said_to_come_from_dotenv(
    config: OrchestratorConfig, clean_env: pytest.MonkeyPatch
) -> None:
    # clean_env: the cwd is the test's folder, where the app reads `.env`.
    clean_env.setenv("CHECKPOINT_MODE", str(config.checkpoint_mode))
    if config.checkpoint_mode == "sqlite":
        clean_env.setenv("SQLITE_PATH", str(config.sqlite_path))
        uri = FAKE_URI  # set but unused in SQLite mode: still said where it came from
    else:
        uri = str(config.postgres_uri)  # the database the app opens, from .env only
    with open(".env", "w") as dotenv:
        dotenv.write(f"POSTGRES_URI={uri}\n")
    assert OrchestratorConfig().uri_source == ".env"

    at = open_page("runs")
    assert not at.exception, [e.value for e in at.exception]
    texts = sidebar_texts(at)
    assert "**POSTGRES_URI:** .env" in texts, texts
    assert not any("**POSTGRES_URI:** environment" in t for t in texts)
    assert not any(FAKE_PASSWORD in t for t in texts)
    if config.checkpoint_mode == "postgres":
        assert not at.error, [e.value for e in at.error]  # the URI from .env is the one used
