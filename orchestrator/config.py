"""OrchestratorConfig: which database to use, and how the engine runs.

Every field can be passed to the constructor, or left out and read from the environment,
where a `.env` file in the working directory fills what the process environment does not
set. A value passed to the constructor always wins.

    >>> from orchestrator.config import OrchestratorConfig
    >>> OrchestratorConfig().checkpoint_mode
    'sqlite'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from orchestrator.errors import ConfigError

VALID_MODES = ("sqlite", "postgres")

# The environment includes `.env`: the sidebar and `doctor` say "environment" for both.
UriSource = Literal["config", "environment", "not set"]


def _read_env(env_file: str | None) -> dict[str, str]:
    """The process environment over the `.env` file (python-dotenv's precedence)."""
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def _as_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class OrchestratorConfig:
    """Settings for the package, the dashboard and the workers.

    Environment variables (or `.env`) used for fields not passed: CHECKPOINT_MODE,
    SQLITE_PATH, POSTGRES_URI, ORCHESTRATOR_WORKFLOWS (JSON object), ORCHESTRATOR_MODEL,
    ORCHESTRATOR_CONCURRENCY, ORCHESTRATOR_READ_ONLY, ORCHESTRATOR_HEARTBEAT_SECONDS,
    ORCHESTRATOR_STALE_AFTER_SECONDS.
    """

    checkpoint_mode: str | None = None
    sqlite_path: str | None = None
    postgres_uri: str | None = None
    # Teams' own graphs: {"name": "package.module:build_graph"}.
    workflows: dict[str, str] | None = None
    # A "module:factory" returning a LangChain chat model for plan_execute; None = offline.
    model: str | None = None
    concurrency: int | None = None
    read_only: bool | None = None
    heartbeat_seconds: float | None = None
    # A running run whose heartbeat is older than this is taken as orphaned (its executor died).
    stale_after_seconds: float | None = None
    env_file: str | None = ".env"
    _env: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._env = _read_env(self.env_file)
        env = self._env
        if self.checkpoint_mode is None:
            self.checkpoint_mode = env.get("CHECKPOINT_MODE", "sqlite").strip() or "sqlite"
        if self.sqlite_path is None:
            self.sqlite_path = env.get("SQLITE_PATH", "orchestrator.db")
        if self.workflows is None:
            self.workflows = self._json_env("ORCHESTRATOR_WORKFLOWS", {})
        if self.model is None:
            self.model = env.get("ORCHESTRATOR_MODEL") or None
        if self.concurrency is None:
            self.concurrency = int(env.get("ORCHESTRATOR_CONCURRENCY", "4"))
        if self.heartbeat_seconds is None:
            self.heartbeat_seconds = float(env.get("ORCHESTRATOR_HEARTBEAT_SECONDS", "1"))
        if self.stale_after_seconds is None:
            self.stale_after_seconds = float(env.get("ORCHESTRATOR_STALE_AFTER_SECONDS", "30"))
        if self.read_only is None:
            self.read_only = _as_bool(env.get("ORCHESTRATOR_READ_ONLY", "false"))

    def _json_env(self, name: str, default: dict) -> dict:
        raw = self._env.get(name)
        if not raw:
            return default
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{name} is not valid JSON ({exc.msg}); set it to an object such as "
                '{"name": "package.module:build_graph"}.'
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a JSON object mapping names to import paths.")
        return value

    @property
    def uri_source(self) -> UriSource:
        """Where the PostgreSQL URI comes from: the config, the environment (or .env), or nowhere."""
        if self.postgres_uri:
            return "config"
        if self._env.get("POSTGRES_URI"):
            return "environment"
        return "not set"

    @property
    def resolved_postgres_uri(self) -> str | None:
        """`postgres_uri` if set, else POSTGRES_URI from the environment or `.env`."""
        return self.postgres_uri or self._env.get("POSTGRES_URI") or None

    def validate(self) -> None:
        """Raise ConfigError, in one sentence with the fix, when the config cannot be used."""
        if self.checkpoint_mode not in VALID_MODES:
            raise ConfigError(
                f"Unknown checkpoint_mode: {self.checkpoint_mode!r}; "
                'use "sqlite" (the default) or "postgres".'
            )
        if self.checkpoint_mode == "postgres":
            self.postgres_url()
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1; set ORCHESTRATOR_CONCURRENCY=1 or more.")

    def postgres_url(self) -> URL:
        """The PostgreSQL URI as a SQLAlchemy URL on the psycopg 3 driver."""
        uri = self.resolved_postgres_uri
        if not uri:
            raise ConfigError(
                "PostgreSQL mode requires POSTGRES_URI; set postgres_uri in the config or "
                "POSTGRES_URI in .env (e.g. postgresql://user:password@localhost:5432/orchestrator_db)."
            )
        return to_psycopg_url(uri)

    def database_url(self) -> URL:
        """The SQLAlchemy URL of the active backend."""
        self.validate()
        if self.checkpoint_mode == "sqlite":
            return URL.create("sqlite", database=str(self.sqlite_path))
        return self.postgres_url()

    def masked_uri(self) -> str | None:
        """The PostgreSQL URI with its password replaced by ***, or None when not set."""
        uri = self.resolved_postgres_uri
        if not uri:
            return None
        try:
            return to_psycopg_url(uri).set(drivername="postgresql").render_as_string(hide_password=True)
        except ConfigError:
            return "(not a valid URI)"

    @property
    def display_name(self) -> str:
        """The database in words, without a password: the SQLite path or the masked URI."""
        if self.checkpoint_mode == "sqlite":
            return str(Path(str(self.sqlite_path)).resolve())
        return self.masked_uri() or "(POSTGRES_URI not set)"


def to_psycopg_url(uri: str) -> URL:
    """Map `postgresql://` or `postgres://` (as users write them) to SQLAlchemy's psycopg 3 driver."""
    try:
        url = make_url(uri)
    except ArgumentError:
        raise ConfigError(
            "POSTGRES_URI is not a valid URI; write it as postgresql://user:password@host:5432/database."
        ) from None
    if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(
            f"POSTGRES_URI uses the scheme {url.drivername!r}; write it as "
            "postgresql://user:password@host:5432/database."
        )
    return url.set(drivername="postgresql+psycopg")


def libpq_conninfo(url: URL) -> str:
    """The URL as a libpq connection string for psycopg (used by LangGraph's savers)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
