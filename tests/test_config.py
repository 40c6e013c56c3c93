"""OrchestratorConfig: where the PostgreSQL URI comes from, and the start-up error messages.

Only the connection-error cases need a PostgreSQL server; the rest touch no database.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database, make_engine
from orchestrator.errors import ConfigError, DatabaseError
from tests.conftest import PASSWORD_ROLE, RIGHT_PASSWORD, WRONG_PASSWORD
from tests.helpers import closed_port

CONFIG_URI = "postgresql://from_config:pw1@config-host:5432/config_db"
ENV_URI = "postgresql://from_env:pw2@env-host:5432/env_db"
DOTENV_URI = "postgresql://from_dotenv:pw3@dotenv-host:5432/dotenv_db"
# conftest's clean_env: no setting from the caller's shell, and no stray .env (tmp_path is the cwd).
# About setting a database up: each test starts from an empty one (tests/conftest.py).
pytestmark = [pytest.mark.usefixtures("clean_env"), pytest.mark.empty_database]


def write_env(tmp_path: Path, **values: str) -> str:
    path = tmp_path / "settings.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


# -- precedence -----------------------------------------------------------------------------


def test_constructor_uri_beats_environment_and_dotenv(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTGRES_URI", ENV_URI)
    env_file = write_env(tmp_path, POSTGRES_URI=DOTENV_URI)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=CONFIG_URI, env_file=env_file)
    assert cfg.resolved_postgres_uri == CONFIG_URI
    assert cfg.uri_source == "config"
    assert cfg.postgres_url().host == "config-host"


def test_environment_uri_beats_dotenv(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTGRES_URI", ENV_URI)
    env_file = write_env(tmp_path, POSTGRES_URI=DOTENV_URI)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", env_file=env_file)
    assert cfg.resolved_postgres_uri == ENV_URI
    assert cfg.uri_source == "environment"


def test_dotenv_uri_is_used_when_nothing_else_is_set_and_reported_as_dotenv(tmp_path):
    env_file = write_env(tmp_path, POSTGRES_URI=DOTENV_URI)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", env_file=env_file)
    assert cfg.resolved_postgres_uri == DOTENV_URI
    assert cfg.uri_source == ".env"


def test_dotenv_in_working_directory_is_read_by_default(tmp_path):
    (tmp_path / ".env").write_text(f"POSTGRES_URI={DOTENV_URI}\nCHECKPOINT_MODE=postgres\n")
    cfg = OrchestratorConfig()
    assert cfg.checkpoint_mode == "postgres"
    assert cfg.resolved_postgres_uri == DOTENV_URI


def test_uri_source_is_not_set_without_any_uri():
    cfg = OrchestratorConfig(env_file=None)
    assert cfg.uri_source == "not set"
    assert cfg.resolved_postgres_uri is None
    assert cfg.masked_uri() is None


def test_checkpoint_mode_comes_from_dotenv(tmp_path):
    env_file = write_env(tmp_path, CHECKPOINT_MODE="postgres", POSTGRES_URI=DOTENV_URI)
    assert OrchestratorConfig(env_file=env_file).checkpoint_mode == "postgres"


def test_checkpoint_mode_from_environment_beats_dotenv(monkeypatch, tmp_path):
    monkeypatch.setenv("CHECKPOINT_MODE", "sqlite")
    env_file = write_env(tmp_path, CHECKPOINT_MODE="postgres")
    assert OrchestratorConfig(env_file=env_file).checkpoint_mode == "sqlite"


def test_checkpoint_mode_defaults_to_sqlite_without_environment():
    cfg = OrchestratorConfig()
    assert cfg.checkpoint_mode == "sqlite"
    assert cfg.sqlite_path == "orchestrator.db"
    assert cfg.postgres_uri is None


def test_missing_env_file_is_ignored(tmp_path):
    cfg = OrchestratorConfig(env_file=str(tmp_path / "no-such.env"))
    assert cfg.checkpoint_mode == "sqlite"
    assert cfg.uri_source == "not set"


# -- URIs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://user:secret@db.example:5433/orchestrator_db",
        "postgres://user:secret@db.example:5433/orchestrator_db",
    ],
)
def test_postgres_uri_schemes_map_to_psycopg_driver(uri):
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    for url in (cfg.postgres_url(), cfg.database_url()):
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port, url.database, url.username, url.password) == (
            "db.example",
            5433,
            "orchestrator_db",
            "user",
            "secret",
        )


def test_masked_uri_hides_the_password():
    cfg = OrchestratorConfig(
        checkpoint_mode="postgres",
        postgres_uri="postgres://user:s3cr3t-value@db.example:5432/orchestrator_db",
        env_file=None,
    )
    masked = cfg.masked_uri()
    assert "s3cr3t-value" not in masked
    assert masked == "postgresql://user:***@db.example:5432/orchestrator_db"
    assert "s3cr3t-value" not in cfg.display_name


def test_sqlite_database_url_uses_the_sqlite_path(tmp_path):
    path = tmp_path / "sub" / "runs.db"
    cfg = OrchestratorConfig(sqlite_path=str(path), env_file=None)
    url = cfg.database_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(path)


# -- configuration errors ---------------------------------------------------------------------


def assert_raises_everywhere(cfg: OrchestratorConfig, error: type[Exception]) -> list[str]:
    """The error from validate(), make_engine + check_database, and startup; their messages."""
    messages = []
    with pytest.raises(error) as info:
        cfg.validate()
    messages.append(str(info.value))
    with pytest.raises(error) as info:
        check_database(make_engine(cfg))
    messages.append(str(info.value))
    with pytest.raises(error) as info:
        asyncio.run(startup(cfg))
    messages.append(str(info.value))
    return messages


def test_unknown_checkpoint_mode_names_the_valid_modes():
    cfg = OrchestratorConfig(checkpoint_mode="x", env_file=None)
    for message in assert_raises_everywhere(cfg, ConfigError):
        assert "Unknown checkpoint_mode: 'x'" in message
        assert '"sqlite"' in message and '"postgres"' in message


def test_unknown_checkpoint_mode_from_dotenv_is_reported(tmp_path):
    cfg = OrchestratorConfig(env_file=write_env(tmp_path, CHECKPOINT_MODE="mysql"))
    with pytest.raises(ConfigError, match="Unknown checkpoint_mode: 'mysql'"):
        cfg.validate()


def test_postgres_mode_without_uri_says_how_to_set_it():
    cfg = OrchestratorConfig(checkpoint_mode="postgres", env_file=None)
    for message in assert_raises_everywhere(cfg, ConfigError):
        assert "PostgreSQL mode requires POSTGRES_URI" in message
        assert "postgres_uri" in message
        assert ".env" in message


def test_uri_with_another_scheme_is_a_config_error():
    cfg = OrchestratorConfig(
        checkpoint_mode="postgres", postgres_uri="mysql://u:topsecret@h/db", env_file=None
    )
    with pytest.raises(ConfigError) as info:
        cfg.validate()
    assert "topsecret" not in str(info.value)


# -- connection errors (a real server) -------------------------------------------------------


def uri_on_test_server(postgres_admin: str, **parts) -> str:
    return make_url(postgres_admin).set(**parts).render_as_string(hide_password=False)


def test_missing_database_names_it_and_gives_create_database(postgres_admin):
    name = f"orchestrator_missing_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_admin)
    # A password in the URI must never show; the trusted admin login ignores it.
    password = admin.password or "not-the-real-pw-7f3a"
    uri = uri_on_test_server(postgres_admin, database=name, password=password)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    for message in assert_raises_everywhere_db(cfg):
        assert f'database "{name}" does not exist' in message
        assert f"CREATE DATABASE {name};" in message
        assert password not in message


def assert_raises_everywhere_db(cfg: OrchestratorConfig) -> list[str]:
    messages = []
    with pytest.raises(DatabaseError) as info:
        check_database(make_engine(cfg))
    messages.append(str(info.value))
    with pytest.raises(DatabaseError) as info:
        asyncio.run(startup(cfg))
    messages.append(str(info.value))
    return messages


def test_unreachable_server_names_host_and_port():
    password = "unreachable-secret-pw"
    port = closed_port()
    uri = f"postgresql://someone:{password}@127.0.0.1:{port}/orchestrator_db"
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    for message in assert_raises_everywhere_db(cfg):
        assert f"127.0.0.1:{port}" in message
        assert password not in message
        assert "does not answer" in message


def test_wrong_password_is_refused_without_showing_any_password(password_role):
    right = make_url(password_role)
    uri = right.set(password=WRONG_PASSWORD).render_as_string(hide_password=False)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    for message in assert_raises_everywhere_db(cfg):
        assert "refused the login" in message
        assert PASSWORD_ROLE in message
        assert f"{right.host}:{right.port or 5432}" in message
        assert WRONG_PASSWORD not in message
        assert RIGHT_PASSWORD not in message


def test_right_password_answers(password_role):
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=password_role, env_file=None)
    engine = make_engine(cfg)
    try:
        check_database(engine)  # raises DatabaseError when the login is refused
        with engine.connect() as conn:  # and the session is the role's, logged in with its password
            assert conn.execute(text("SELECT current_user")).scalar_one() == PASSWORD_ROLE
    finally:
        engine.dispose()


def test_a_user_the_server_does_not_know_is_named(postgres_admin):
    user = f"nobody_{uuid.uuid4().hex[:8]}"
    password = "missing-user-pw-91c2"
    uri = uri_on_test_server(postgres_admin, username=user, password=password)
    cfg = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    admin = make_url(postgres_admin)
    where = f"PostgreSQL at {admin.host}:{admin.port or 5432}"
    for message in assert_raises_everywhere_db(cfg):
        assert message == f"{where} has no user '{user}'; create it or fix the user in POSTGRES_URI."
        assert password not in message
