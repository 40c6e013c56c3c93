"""OrchestratorConfig: which database to use, and how the engine runs.

Every setting can be passed to the constructor, or left out and read from the environment,
where a `.env` file in the working directory fills what the process environment does not
set. A value passed to the constructor always wins. Every setting is checked when the config
is made: a bad one raises ConfigError with one sentence saying how to fix it.

    >>> from orchestrator.config import OrchestratorConfig
    >>> OrchestratorConfig().checkpoint_mode
    'sqlite'
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from sqlalchemy.engine import URL

from orchestrator.errors import ConfigError
from orchestrator.postgres_uri import SECRET_PARAMS, URI_EXAMPLE, masked_conninfo, parse_postgres_uri

VALID_MODES = ("sqlite", "postgres")
# Every environment variable (or `.env` line) a setting is read from.
ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "CHECKPOINT_MODE",
    "SQLITE_PATH",
    "POSTGRES_URI",
    "ORCHESTRATOR_WORKFLOWS",
    "ORCHESTRATOR_MODEL",
    "ORCHESTRATOR_CONCURRENCY",
    "ORCHESTRATOR_READ_ONLY",
    "ORCHESTRATOR_HEARTBEAT_SECONDS",
    "ORCHESTRATOR_STALE_AFTER_SECONDS",
    "ORCHESTRATOR_EMBEDDED_EXECUTOR",
    "ORCHESTRATOR_WORKERS_HIDDEN_AFTER_SECONDS",
    "ORCHESTRATOR_LOG_LEVEL",
    "ORCHESTRATOR_LOG_LINES_PER_TASK",
    "ORCHESTRATOR_LOG_COUNT_LEVEL",
    "ORCHESTRATOR_MODEL_PRICES",
    "ORCHESTRATOR_REDACT_KEYS",
)
# Bounds of the engine's settings: a worker must heartbeat often enough without spinning a
# core, and a run may only count as orphaned after several heartbeats were missed.
MIN_HEARTBEAT_SECONDS = 0.05
MAX_HEARTBEAT_SECONDS = 600.0
STALE_HEARTBEATS = 3
MAX_CONCURRENCY = 1000
# What a run's tasks log is kept from this level up (orchestrator.observe), at most so many lines
# per task (the cut marked by a last line saying how many were dropped).
# "OFF": nothing is caught (no handler on the root logger; the run's counts stay 0).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "OFF")
MAX_LOG_LINES_PER_TASK = 100_000
# Keys whose values a task's stored input and output never hold (orchestrator.observe.redact).
DEFAULT_REDACT_KEYS = (
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "token",
    "authorization",
    "private_key",
)
# A model's price, US dollars per million tokens: "input", "output" and (optional) "cached_input".
PRICE_KEYS = ("input", "output", "cached_input")

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

# Where the URI was set: the sidebar and `doctor` say ".env" for a value only the `.env` file has.
UriSource = Literal["config", "environment", ".env", "not set"]


def _read_env(env_file: str | None) -> dict[str, str]:
    """The process environment over the `.env` file (python-dotenv's precedence)."""
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def parse_bool(raw: str, name: str) -> bool:
    """A yes/no setting; anything but the usual words is an error, never silently "no"."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (or 1/0, yes/no, on/off), not {raw.strip()[:40]!r}.")


def _parse_int(raw: str, name: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.lstrip("+-").isdigit()) or len(text) > 12:
        raise ConfigError(f"{name} must be a whole number, not {text[:40]!r}.")
    return int(text)


def _parse_float(raw: Any, name: str) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be a number of seconds, not {str(raw).strip()[:40]!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number of seconds.")
    return value


def _flag(value: Any, name: str) -> bool:
    """A yes/no setting passed to the constructor: a bool, or one of parse_bool's words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_bool(value, name)
    raise ConfigError(f"{name} must be true or false, not {str(value)[:40]!r}.")


def _check_sqlite_path(path: str) -> str:
    if not path.strip():
        raise ConfigError("SQLITE_PATH is empty; set it to a database file such as orchestrator.db.")
    if "\x00" in path:
        raise ConfigError("SQLITE_PATH contains a NUL character; remove it.")
    if path.strip() == ":memory:" or path.startswith("file:"):
        raise ConfigError(
            "SQLITE_PATH must be a file path (not :memory: or a file: URI), so that every "
            "process sees the same runs; set it to a file such as orchestrator.db."
        )
    return path


def _log_level(raw: Any, name: str) -> str:
    word = str(raw).strip().upper()
    if word not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}, not {str(raw).strip()[:40]!r}.")
    return word


def _log_lines(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOG_LINES_PER_TASK:
        raise ConfigError(
            f"log_lines_per_task must be a whole number from 0 to {MAX_LOG_LINES_PER_TASK}; "
            "set ORCHESTRATOR_LOG_LINES_PER_TASK=1000, say."
        )
    return value


def _prices(value: Any, name: str) -> dict[str, dict[str, float]]:
    """{model: {"input": $, "output": $, "cached_input": $}} per million tokens, checked."""
    example = '{"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075}}'
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must map model names to prices, as in {example}.")
    prices: dict[str, dict[str, float]] = {}
    for model, price in value.items():
        if not isinstance(price, Mapping) or not {"input", "output"} <= set(price) <= set(PRICE_KEYS):
            raise ConfigError(
                f'{name}: the price of {str(model)[:60]!r} must give "input" and "output" '
                f'(and may give "cached_input"), US dollars per million tokens, as in {example}.'
            )
        checked: dict[str, float] = {}
        for key, amount in price.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < math.inf:
                raise ConfigError(
                    f"{name}: the {key} price of {str(model)[:60]!r} must be a number of dollars, 0 or more."
                )
            checked[key] = float(amount)
        prices[str(model)] = checked
    return prices


class OrchestratorConfig:
    """Settings for the package, the dashboard and the workers.

    Settings not passed are read from the environment (or `.env`): `ENVIRONMENT_VARIABLES`
    (ORCHESTRATOR_WORKFLOWS is a JSON object).
    """

    checkpoint_mode: str
    sqlite_path: str
    postgres_uri: str | None
    # Teams' own graphs: {"name": "package.module:build_graph"}.
    workflows: dict[str, str]
    # A "module:factory" returning a LangChain chat model for plan_execute; None = offline.
    model: str | None
    concurrency: int
    read_only: bool
    heartbeat_seconds: float
    # A running run whose heartbeat is older than this is taken as orphaned (its executor died).
    stale_after_seconds: float
    # Whether the dashboard runs an executor in its own process (off when workers run elsewhere).
    embedded_executor: bool
    # The workers page hides a worker offline for longer than this (it can show them all).
    workers_hidden_after_seconds: float
    # The lowest level of what tasks log that is kept (a name of LOG_LEVELS, or OFF), and the
    # lines kept per task.
    log_level: str
    log_lines_per_task: int
    # Lines from this level up are counted on the run's row: at ERROR and above in `errors`, the
    # others in `warnings` (default WARNING).
    log_count_level: str
    # Model name -> {"input": $, "output": $, "cached_input": $} per million tokens (no network).
    model_prices: dict[str, dict[str, float]]
    # Keys whose values are redacted in a task's stored input and output (words, as `api_key`).
    redact_keys: tuple[str, ...]
    env_file: str | None

    def __init__(
        self,
        checkpoint_mode: str | None = None,
        sqlite_path: str | os.PathLike[str] | None = None,
        postgres_uri: str | None = None,
        workflows: Mapping[str, str] | None = None,
        model: str | None = None,
        concurrency: int | None = None,
        read_only: bool | None = None,
        heartbeat_seconds: float | None = None,
        stale_after_seconds: float | None = None,
        embedded_executor: bool | None = None,
        workers_hidden_after_seconds: float | None = None,
        log_level: str | None = None,
        log_lines_per_task: int | None = None,
        log_count_level: str | None = None,
        model_prices: Mapping[str, Mapping[str, float]] | None = None,
        redact_keys: Sequence[str] | None = None,
        env_file: str | None = ".env",
    ):
        self.env_file = env_file
        env = self._env = _read_env(env_file)
        self._from_dotenv = frozenset(name for name in env if name not in os.environ)
        self.checkpoint_mode = (
            checkpoint_mode
            if checkpoint_mode is not None
            else env.get("CHECKPOINT_MODE", "sqlite").strip() or "sqlite"
        )
        self.sqlite_path = _check_sqlite_path(
            os.fspath(sqlite_path) if sqlite_path is not None else env.get("SQLITE_PATH", "orchestrator.db")
        )
        self.postgres_uri = postgres_uri or None
        self.workflows = (
            dict(workflows) if workflows is not None else self._json_env("ORCHESTRATOR_WORKFLOWS")
        )
        self.model = model if model is not None else (env.get("ORCHESTRATOR_MODEL") or None)
        self.concurrency = (
            concurrency
            if concurrency is not None
            else _parse_int(env.get("ORCHESTRATOR_CONCURRENCY", "4"), "ORCHESTRATOR_CONCURRENCY")
        )
        self.heartbeat_seconds = _parse_float(
            heartbeat_seconds
            if heartbeat_seconds is not None
            else env.get("ORCHESTRATOR_HEARTBEAT_SECONDS", "1"),
            "heartbeat_seconds" if heartbeat_seconds is not None else "ORCHESTRATOR_HEARTBEAT_SECONDS",
        )
        self.stale_after_seconds = _parse_float(
            stale_after_seconds
            if stale_after_seconds is not None
            else env.get("ORCHESTRATOR_STALE_AFTER_SECONDS", "30"),
            "stale_after_seconds" if stale_after_seconds is not None else "ORCHESTRATOR_STALE_AFTER_SECONDS",
        )
        self.read_only = (
            _flag(read_only, "read_only")
            if read_only is not None
            else parse_bool(env.get("ORCHESTRATOR_READ_ONLY", "false"), "ORCHESTRATOR_READ_ONLY")
        )
        self.embedded_executor = (
            _flag(embedded_executor, "embedded_executor")
            if embedded_executor is not None
            else parse_bool(
                env.get("ORCHESTRATOR_EMBEDDED_EXECUTOR", "true"), "ORCHESTRATOR_EMBEDDED_EXECUTOR"
            )
        )
        self.workers_hidden_after_seconds = _parse_float(
            workers_hidden_after_seconds
            if workers_hidden_after_seconds is not None
            else env.get("ORCHESTRATOR_WORKERS_HIDDEN_AFTER_SECONDS", "86400"),
            "workers_hidden_after_seconds"
            if workers_hidden_after_seconds is not None
            else "ORCHESTRATOR_WORKERS_HIDDEN_AFTER_SECONDS",
        )
        self.log_level = _log_level(
            log_level if log_level is not None else env.get("ORCHESTRATOR_LOG_LEVEL", "INFO"),
            "log_level" if log_level is not None else "ORCHESTRATOR_LOG_LEVEL",
        )
        self.log_lines_per_task = _log_lines(
            log_lines_per_task
            if log_lines_per_task is not None
            else _parse_int(
                env.get("ORCHESTRATOR_LOG_LINES_PER_TASK", "1000"), "ORCHESTRATOR_LOG_LINES_PER_TASK"
            )
        )
        self.log_count_level = _log_level(
            log_count_level
            if log_count_level is not None
            else env.get("ORCHESTRATOR_LOG_COUNT_LEVEL", "WARNING"),
            "log_count_level" if log_count_level is not None else "ORCHESTRATOR_LOG_COUNT_LEVEL",
        )
        if self.log_count_level == "OFF":
            raise ConfigError(
                "log_count_level must be a level (DEBUG, INFO, WARNING, ERROR or CRITICAL), not OFF."
            )
        self.model_prices = _prices(
            model_prices if model_prices is not None else self._json_env("ORCHESTRATOR_MODEL_PRICES"),
            "model_prices" if model_prices is not None else "ORCHESTRATOR_MODEL_PRICES",
        )
        raw_keys = (
            list(redact_keys)
            if redact_keys is not None
            else env.get("ORCHESTRATOR_REDACT_KEYS", ",".join(DEFAULT_REDACT_KEYS)).split(",")
        )
        self.redact_keys = tuple(k.strip() for k in raw_keys if isinstance(k, str) and k.strip())
        self._check_engine_settings()

    @property
    def log_level_number(self) -> int | None:
        """`log_level` as logging's number, or None when it is OFF."""
        return None if self.log_level == "OFF" else logging.getLevelNamesMapping()[self.log_level]

    def with_read_only(self) -> OrchestratorConfig:
        """The same config, read-only: for what only reads (the CLI's `runs`, `show`, `doctor`)."""
        clone = copy.copy(self)
        clone.read_only = True
        return clone

    def __repr__(self) -> str:
        where = self.sqlite_path if self.checkpoint_mode == "sqlite" else self.masked_uri()
        return f"OrchestratorConfig(checkpoint_mode={self.checkpoint_mode!r}, database={where!r})"

    def _json_env(self, name: str) -> dict[str, str]:
        raw = self._env.get(name)
        if not raw:
            return {}
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

    def _check_engine_settings(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ConfigError("concurrency must be a whole number; set ORCHESTRATOR_CONCURRENCY=4, say.")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigError(
                f"concurrency must be between 1 and {MAX_CONCURRENCY}; set ORCHESTRATOR_CONCURRENCY=1 or more."
            )
        hb, stale = self.heartbeat_seconds, self.stale_after_seconds
        if not (math.isfinite(hb) and MIN_HEARTBEAT_SECONDS <= hb <= MAX_HEARTBEAT_SECONDS):
            raise ConfigError(
                f"heartbeat_seconds must be between {MIN_HEARTBEAT_SECONDS} and {MAX_HEARTBEAT_SECONDS:g}; "
                "set ORCHESTRATOR_HEARTBEAT_SECONDS=1, say."
            )
        if not (math.isfinite(stale) and stale >= STALE_HEARTBEATS * hb):
            raise ConfigError(
                f"stale_after_seconds ({stale:g}) must be at least {STALE_HEARTBEATS} heartbeats "
                f"({STALE_HEARTBEATS * hb:g} s), or healthy runs would be taken for dead; "
                "raise ORCHESTRATOR_STALE_AFTER_SECONDS (default 30)."
            )

    # -- which database --------------------------------------------------------------------

    @property
    def uri_source(self) -> UriSource:
        """Where the PostgreSQL URI comes from: the config, the process environment, `.env`, or nowhere."""
        if self.postgres_uri:
            return "config"
        if self._env.get("POSTGRES_URI"):
            return ".env" if "POSTGRES_URI" in self._from_dotenv else "environment"
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
            self.postgres_params()
        self._check_engine_settings()

    def postgres_params(self) -> dict[str, str]:
        """The PostgreSQL URI's connection parameters, parsed by libpq as psycopg does."""
        uri = self.resolved_postgres_uri
        if not uri:
            raise ConfigError(
                "PostgreSQL mode requires POSTGRES_URI; set postgres_uri in the config or "
                f"POSTGRES_URI in .env (e.g. {URI_EXAMPLE})."
            )
        return parse_postgres_uri(uri)

    def postgres_conninfo(self) -> str:
        """The libpq connection string for psycopg (LangGraph's savers use it)."""
        from psycopg.conninfo import make_conninfo  # psycopg: only where PostgreSQL is used

        return make_conninfo("", **self.postgres_params())

    def postgres_url(self) -> URL:
        """The PostgreSQL URI as a SQLAlchemy URL on the psycopg 3 driver.

        SQLAlchemy hides the URL's password when it shows a URL (an engine's repr, a log line),
        but not a secret among its query parameters: those (sslpassword) are left out here and
        given to the driver by `postgres_secret_params()` instead."""
        params = {
            k: v for k, v in self.postgres_params().items() if k == "password" or k not in SECRET_PARAMS
        }
        port = params.pop("port", None)
        return URL.create(
            "postgresql+psycopg",
            username=params.pop("user", None),
            password=params.pop("password", None),
            host=params.pop("host", None),
            port=int(port) if port else None,
            database=params.pop("dbname", None),
            query=params,
        )

    def postgres_secret_params(self) -> dict[str, str]:
        """The URI's secret parameters that `postgres_url()` leaves out (for the driver's connect)."""
        return {k: v for k, v in self.postgres_params().items() if k in SECRET_PARAMS and k != "password"}

    def database_url(self) -> URL:
        """The SQLAlchemy URL of the active backend."""
        self.validate()
        if self.checkpoint_mode == "sqlite":
            return URL.create("sqlite", database=self.sqlite_path)
        return self.postgres_url()

    def masked_uri(self) -> str | None:
        """The PostgreSQL URI with every secret replaced by ***, or None when not set.

        A URI that cannot be parsed unambiguously is never echoed."""
        uri = self.resolved_postgres_uri
        if not uri:
            return None
        try:
            params = parse_postgres_uri(uri)
        except ConfigError:
            return "(not shown: POSTGRES_URI cannot be parsed)"
        return masked_conninfo(params)

    @property
    def display_name(self) -> str:
        """The database in words, without a password: the SQLite path or the masked URI."""
        if self.checkpoint_mode == "sqlite":
            return str(Path(self.sqlite_path).resolve())
        return self.masked_uri() or "(POSTGRES_URI not set)"
