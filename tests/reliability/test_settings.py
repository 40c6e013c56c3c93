"""Every setting is checked when the config is loaded: a bad one is one sentence, in the package,
the CLI and the dashboard, never a traceback or a silent default (issue #14, item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import ConfigError
from tests.apptest_helpers import main_texts, open_page
from tests.in_process_cli import assert_one_error_line, call_cli

REPO_ROOT = Path(__file__).resolve().parents[2]

# (environment variable, bad value, what the sentence names)
BAD_SETTINGS = [
    ("ORCHESTRATOR_STALE_AFTER_SECONDS", "-5", "stale_after_seconds"),
    ("ORCHESTRATOR_STALE_AFTER_SECONDS", "2", "stale_after_seconds"),  # under 3 heartbeats of 1 s
    ("ORCHESTRATOR_STALE_AFTER_SECONDS", "abc", "ORCHESTRATOR_STALE_AFTER_SECONDS"),
    ("ORCHESTRATOR_HEARTBEAT_SECONDS", "0", "heartbeat_seconds"),
    ("ORCHESTRATOR_HEARTBEAT_SECONDS", "-1", "heartbeat_seconds"),
    ("ORCHESTRATOR_HEARTBEAT_SECONDS", "abc", "ORCHESTRATOR_HEARTBEAT_SECONDS"),
    ("ORCHESTRATOR_HEARTBEAT_SECONDS", "nan", "ORCHESTRATOR_HEARTBEAT_SECONDS"),
    ("ORCHESTRATOR_HEARTBEAT_SECONDS", "inf", "ORCHESTRATOR_HEARTBEAT_SECONDS"),
    ("ORCHESTRATOR_CONCURRENCY", "abc", "ORCHESTRATOR_CONCURRENCY"),
    ("ORCHESTRATOR_CONCURRENCY", "0", "ORCHESTRATOR_CONCURRENCY"),
    ("ORCHESTRATOR_CONCURRENCY", "1.5", "ORCHESTRATOR_CONCURRENCY"),
    ("ORCHESTRATOR_CONCURRENCY", "99999999999999999999", "ORCHESTRATOR_CONCURRENCY"),
    ("ORCHESTRATOR_READ_ONLY", "y", "ORCHESTRATOR_READ_ONLY"),
    ("ORCHESTRATOR_READ_ONLY", "t", "ORCHESTRATOR_READ_ONLY"),
    ("ORCHESTRATOR_READ_ONLY", "enabled", "ORCHESTRATOR_READ_ONLY"),
    ("ORCHESTRATOR_EMBEDDED_EXECUTOR", "sometimes", "ORCHESTRATOR_EMBEDDED_EXECUTOR"),
    ("ORCHESTRATOR_WORKFLOWS", "{not json", "ORCHESTRATOR_WORKFLOWS"),
    ("ORCHESTRATOR_LOG_LEVEL", "LOUD", "ORCHESTRATOR_LOG_LEVEL"),
    ("ORCHESTRATOR_LOG_LINES_PER_TASK", "-1", "ORCHESTRATOR_LOG_LINES_PER_TASK"),
    ("ORCHESTRATOR_LOG_COUNT_LEVEL", "OFF", "log_count_level"),
    ("ORCHESTRATOR_LOG_RETENTION_DAYS", "-1", "ORCHESTRATOR_LOG_RETENTION_DAYS"),
    ("ORCHESTRATOR_LOG_RETENTION_DAYS", "30d", "ORCHESTRATOR_LOG_RETENTION_DAYS"),
    ("ORCHESTRATOR_MODEL_PRICES", '{"m": {"input": 1}}', "ORCHESTRATOR_MODEL_PRICES"),
    ("SQLITE_PATH", "", "SQLITE_PATH"),
    ("SQLITE_PATH", ":memory:", "SQLITE_PATH"),
]
BAD_URIS = [
    ("postgresql://u:pw-5k@db.example:abc/orchestrator_db", "port"),
    ("postgresql://u:pw-5k@db.example:0/orchestrator_db", "port"),
    ("postgresql://u:pw-5k@db.example:70000/orchestrator_db", "port"),
    ("mysql://u:pw-5k@db.example/orchestrator_db", "scheme"),
]
IDS = [f"{name}={value or 'empty'}" for name, value, _ in BAD_SETTINGS]


def assert_one_sentence(message: str, *fragments: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("."), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# -- the package --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "named"), BAD_SETTINGS, ids=IDS)
def test_a_bad_setting_is_one_sentence_when_the_config_is_loaded(clean_env, name, value, named):
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        OrchestratorConfig()
    assert_one_sentence(str(info.value), named)


@pytest.mark.parametrize(("uri", "named"), BAD_URIS)
def test_a_bad_postgres_uri_is_one_sentence_that_never_repeats_it(clean_env, uri, named):
    clean_env.setenv("CHECKPOINT_MODE", "postgres")
    clean_env.setenv("POSTGRES_URI", uri)
    config = OrchestratorConfig()
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert_one_sentence(str(info.value), "POSTGRES_URI", named)
    assert "pw-5k" not in str(info.value)
    assert "pw-5k" not in (config.masked_uri() or "") + repr(config)


@pytest.mark.parametrize("word", ["1", "true", "YES", " on "])
def test_read_only_words_that_mean_yes(clean_env, word):
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", word)
    assert OrchestratorConfig().read_only is True


@pytest.mark.parametrize("word", ["0", "false", "No", "off", ""])
def test_read_only_words_that_mean_no(clean_env, word):
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", word)
    assert OrchestratorConfig().read_only is False


@pytest.mark.parametrize(
    "arguments",
    [
        {"heartbeat_seconds": "abc"},
        {"heartbeat_seconds": True},
        {"stale_after_seconds": float("nan")},
        {"stale_after_seconds": 10**400},
        {"heartbeat_seconds": 10, "stale_after_seconds": 20},
        {"concurrency": "4"},
        {"concurrency": True},
        {"read_only": "enabled"},
        {"embedded_executor": 2},
        {"sqlite_path": ""},
        {"sqlite_path": "a\x00b.db"},
    ],
    ids=repr,
)
def test_bad_constructor_arguments_are_config_errors(clean_env, arguments):
    with pytest.raises(ConfigError) as info:
        OrchestratorConfig(env_file=None, **arguments)
    assert_one_sentence(str(info.value))


def test_stale_after_must_be_several_heartbeats(clean_env):
    config = OrchestratorConfig(heartbeat_seconds=2, stale_after_seconds=6, env_file=None)
    assert (config.heartbeat_seconds, config.stale_after_seconds) == (2.0, 6.0)
    with pytest.raises(ConfigError, match="at least 3 heartbeats"):
        OrchestratorConfig(heartbeat_seconds=2, stale_after_seconds=5.9, env_file=None)


def test_read_only_from_the_constructor_takes_the_same_words(clean_env):
    assert OrchestratorConfig(read_only="yes", env_file=None).read_only is True
    assert OrchestratorConfig(read_only="off", env_file=None).read_only is False


# -- the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "named"), BAD_SETTINGS, ids=IDS)
def test_the_cli_says_a_bad_setting_in_one_line(clean_env, tmp_path, name, value, named):
    clean_env.setenv("SQLITE_PATH", str(tmp_path / "cli.db"))
    clean_env.setenv(name, value)
    for command in (["doctor"], ["runs"], ["init"], ["show", "abc"]):
        assert_one_error_line(call_cli(*command), named)
    assert not (tmp_path / "cli.db").exists()


@pytest.mark.parametrize(("uri", "named"), BAD_URIS)
def test_the_cli_says_a_bad_uri_in_one_line(clean_env, uri, named):
    for command in (["doctor"], ["runs"], ["init"]):
        outcome = call_cli(*command, "--mode", "postgres", "--postgres-uri", uri)
        assert_one_error_line(outcome, "POSTGRES_URI", named)
        assert "pw-5k" not in outcome.out + outcome.err


def test_the_cli_process_says_bad_settings_in_one_line(tmp_path):
    """The real command, as a user runs it: no traceback for a setting that does not parse."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "POSTGRES", "CHECKPOINT"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    cases = [
        ({"ORCHESTRATOR_CONCURRENCY": "abc"}, ["doctor"], "ORCHESTRATOR_CONCURRENCY"),
        ({"ORCHESTRATOR_HEARTBEAT_SECONDS": "abc"}, ["runs"], "ORCHESTRATOR_HEARTBEAT_SECONDS"),
        (
            {"CHECKPOINT_MODE": "postgres", "POSTGRES_URI": "postgresql://u:pw-5k@h:abc/db"},
            ["doctor"],
            "port",
        ),
    ]
    procs = [
        (
            named,
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator", *args],
                cwd=tmp_path,
                env={**env, **extra},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for extra, args, named in cases
    ]
    for named, proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], err
        assert "pw-5k" not in out + err


# -- the dashboard ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "named"), BAD_SETTINGS, ids=IDS)
def test_the_dashboard_shows_a_bad_setting_as_one_banner(clean_env, tmp_path, name, value, named):
    clean_env.setenv("SQLITE_PATH", str(tmp_path / "dash.db"))
    clean_env.setenv(name, value)
    for page in ("runs", "run_detail", "overview"):
        at = open_page(page, run_id="abc")
        assert not at.exception, [e.value for e in at.exception]
        banners = main_texts(at, "error")
        assert len(banners) == 1, banners
        assert named in banners[0] and "\n" not in banners[0]
        assert named in " ".join(e.value for e in at.sidebar.error)
    assert not (tmp_path / "dash.db").exists()


def test_a_sqlite_file_locked_past_the_busy_timeout_is_said_as_locked(tmp_path: Path) -> None:
    """A write that waited out the busy timeout is "locked by another process", not a folder to check."""
    import sqlite3

    from sqlalchemy.engine import make_url

    from orchestrator.db import describe_connection_error

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            waiter.execute("INSERT INTO t VALUES (1)")
    finally:
        waiter.close()
        holder.close()
    said = str(describe_connection_error(raised.value, make_url(f"sqlite:///{path}")))
    assert "stayed locked by another process's write" in said and "folder" not in said, said
