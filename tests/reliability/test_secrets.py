"""No password is ever shown: every form a PostgreSQL URI can hold one in, through every output
(the CLI's commands, a worker's start, the sidebar, error messages, logs, reprs) (issue #14, item 7).

The server trusts every role but one (conftest's `password_role`), so most URIs here log in
whatever password they carry: what is checked is that it never comes out again.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database, describe_connection_error, make_engine
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.operations import Orchestrator
from orchestrator.postgres_uri import parse_postgres_uri
from tests.apptest_helpers import open_page
from tests.conftest import RIGHT_PASSWORD, WRONG_PASSWORD
from tests.helpers import cli_env, closed_port
from tests.in_process_cli import call_cli
from tests.test_dashboard import rendered_dump, visible_text

SECRET = "Sup3r-s3cret"  # never in any output
TAIL = "tail-of-pw"  # what follows an unencoded '@' in a password (libpq would take it for the host)


def uri_forms(server: str, database: str) -> dict[str, str]:
    """Every way to write a password into POSTGRES_URI, on the test server's `database`."""
    url = make_url(server)
    host, port, user = url.host, url.port or 5432, url.username or "postgres"
    return {
        "userinfo": f"postgresql://{user}:{SECRET}@{host}:{port}/{database}",
        "query": f"postgresql://{user}@{host}:{port}/{database}?password={SECRET}",
        "percent-encoded": f"postgresql://{user}:{quote(SECRET + '@/:?', safe='')}@{host}:{port}/{database}",
        "sslpassword": f"postgresql://{user}@{host}:{port}/{database}?sslpassword={SECRET}&sslmode=disable",
        "both": f"postgres://{user}:{SECRET}@{host}:{port}/{database}?password={SECRET}",
    }


def refused_forms(server: str, database: str) -> dict[str, str]:
    """Forms that cannot be read unambiguously (or are no URI): refused, never echoed."""
    url = make_url(server)
    host, port, user = url.host, url.port or 5432, url.username or "postgres"
    return {
        "unencoded @": f"postgresql://{user}:{SECRET}@{TAIL}@{host}:{port}/{database}",
        "unencoded /": f"postgresql://{user}:{SECRET}/{TAIL}@{host}:{port}/{database}",
        "key=value": f"host={host} port={port} user={user} password={SECRET} dbname={database}",
        "another scheme": f"mysql://{user}:{SECRET}@{host}/{database}",
    }


def assert_no_secret(text: str) -> None:
    for secret in (SECRET, quote(SECRET, safe=""), TAIL, RIGHT_PASSWORD, WRONG_PASSWORD):
        assert secret not in text, f"{secret!r} shown in: {text[:500]}"


@pytest.fixture
def database(postgres_uri: str) -> str:
    return str(make_url(postgres_uri).database)


# -- parsing and masking ------------------------------------------------------------------------


@pytest.mark.parametrize("form", list(uri_forms("postgresql://postgres@127.0.0.1:5432/x", "x")))
def test_every_uri_form_parses_to_the_password_and_masks_it(form):
    uri = uri_forms("postgresql://postgres@127.0.0.1:5432/x", "orchestrator_db")[form]
    params = parse_postgres_uri(uri)
    assert SECRET in (params.get("password", "") + params.get("sslpassword", ""))
    assert params["host"] == "127.0.0.1" and params["dbname"] == "orchestrator_db"
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    shown = [config.masked_uri() or "", config.display_name, repr(config), str(config.postgres_url())]
    shown.append(repr(config.postgres_url()))
    assert_no_secret("\n".join(shown))
    assert "***" in config.masked_uri()
    # The masked URI reads back as the same parameters, the secrets as ***.
    masked = parse_postgres_uri(config.masked_uri())
    assert {k: v for k, v in masked.items() if v != "***"} == {
        k: v for k, v in params.items() if k not in ("password", "sslpassword")
    }


@pytest.mark.parametrize("form", list(refused_forms("postgresql://postgres@127.0.0.1:5432/x", "x")))
def test_an_ambiguous_uri_is_refused_without_echoing_it(form):
    uri = refused_forms("postgresql://postgres@127.0.0.1:5432/x", "orchestrator_db")[form]
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    with pytest.raises(ConfigError) as info:
        config.validate()
    message = str(info.value)
    assert "POSTGRES_URI" in message and "\n" not in message
    assert_no_secret(
        message + repr(info.value) + str(config.masked_uri()) + repr(config) + config.display_name
    )
    assert "cannot be parsed" in str(config.masked_uri())


def test_a_user_name_with_an_encoded_at_is_masked_readably():
    uri = "postgresql://me%40corp:pw%40x@db.example:5432/orchestrator_db"
    config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
    assert config.masked_uri() == "postgresql://me%40corp:***@db.example:5432/orchestrator_db"


# -- every output, on a real server -------------------------------------------------------------


@pytest.mark.parametrize("form", ["userinfo", "query", "percent-encoded", "sslpassword", "both"])
def test_no_command_shows_the_password(postgres_admin, database, form, clean_env, caplog):
    uri = uri_forms(postgres_admin, database)[form]
    caplog.set_level(logging.DEBUG)
    args = ["--mode", "postgres", "--postgres-uri", uri]
    outputs = []
    for command in (
        ["init"],
        ["doctor"],
        ["runs"],
        ["show", "nope"],
        ["run", "simulate", "--input", '{"tasks": 1}'],
    ):
        outcome = call_cli(*command, *args)
        assert "Traceback" not in outcome.err
        outputs += [outcome.out, outcome.err]
    assert "***" in outputs[2]  # doctor shows the URI, masked
    assert "database:       answers" in outputs[2]
    run_id = outputs[8].split("run_id: ")[1].split()[0]
    outcome = call_cli("show", run_id, *args)
    assert outcome.code == 0, outcome
    outputs += [outcome.out, outcome.err]
    outputs += [record.getMessage() for record in caplog.records]
    orch = Orchestrator(OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None))
    try:
        outputs += [repr(orch.config), repr(orch.engine), str(orch.engine.url), repr(orch.engine.pool)]
    finally:
        orch.engine.dispose()
    assert_no_secret("\n".join(outputs))


@pytest.mark.parametrize("form", ["userinfo", "query", "sslpassword"])
def test_a_worker_start_does_not_show_the_password(postgres_admin, database, form, tmp_path):
    uri = uri_forms(postgres_admin, database)[form]
    assert call_cli("init", "--mode", "postgres", "--postgres-uri", uri).code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "worker", "--grace", "0"],
        cwd=tmp_path,
        env=cli_env(CHECKPOINT_MODE="postgres", POSTGRES_URI=uri),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # until the worker says it serves (or exits)
            lines.append(line)
            if "serving" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = "".join(lines) + rest
    assert any("serving" in line for line in lines), output
    assert "Traceback" not in output
    assert_no_secret(output)


@pytest.mark.parametrize(
    "form", ["userinfo", "query", "percent-encoded", "sslpassword", "unencoded @", "key=value"]
)
def test_the_sidebar_never_shows_the_password(postgres_admin, database, form, clean_env):
    uri = {**uri_forms(postgres_admin, database), **refused_forms(postgres_admin, database)}[form]
    clean_env.setenv("CHECKPOINT_MODE", "postgres")
    clean_env.setenv("POSTGRES_URI", uri)
    for page in ("runs", "overview"):
        at = open_page(page)
        assert not at.exception, [e.value for e in at.exception]
        assert_no_secret(visible_text(at) + rendered_dump(at))
        if form in refused_forms(postgres_admin, database):
            assert "POSTGRES_URI" in " ".join(e.value for e in at.main.error)
        else:
            assert "**Database:** :green[:material/check_circle:] answers" in [
                m.value for m in at.sidebar.markdown
            ]


@pytest.mark.parametrize("form", ["unencoded @", "unencoded /", "key=value"])
def test_the_cli_refuses_an_ambiguous_uri_without_echoing_it(postgres_admin, database, form):
    uri = refused_forms(postgres_admin, database)[form]
    for command in (["doctor"], ["init"], ["runs"], ["show", "x"]):
        outcome = call_cli(*command, "--mode", "postgres", "--postgres-uri", uri)
        assert outcome.code == 1 and "POSTGRES_URI" in outcome.err, outcome
        assert_no_secret(outcome.out + outcome.err)


def test_connection_errors_never_show_the_password(postgres_admin, clean_env):
    """A missing database, a server that does not answer: the sentence names host and port only."""
    admin = make_url(postgres_admin)
    port = closed_port()
    cases = {
        "missing database": uri_forms(postgres_admin, "no_such_db_secrets")["query"],
        "server down": f"postgresql://someone:{SECRET}@127.0.0.1:{port}/orchestrator_db",
        "server down, sslpassword": f"postgresql://someone@127.0.0.1:{port}/db?sslpassword={SECRET}",
    }
    for name, uri in cases.items():
        config = OrchestratorConfig(checkpoint_mode="postgres", postgres_uri=uri, env_file=None)
        with pytest.raises(OrchestratorError) as info:
            check_database(make_engine(config))
        message = str(info.value)
        assert_no_secret(message + repr(info.value))
        assert (f"{admin.host}:" if name == "missing database" else f"127.0.0.1:{port}") in message, name
        outcome = call_cli("doctor", "--mode", "postgres", "--postgres-uri", uri)
        assert outcome.code == 1, outcome
        assert_no_secret(outcome.out + outcome.err)
    described = describe_connection_error(
        RuntimeError("x"),
        OrchestratorConfig(
            checkpoint_mode="postgres", postgres_uri=cases["server down"], env_file=None
        ).postgres_url(),
    )
    assert_no_secret(str(described))


def test_argparse_never_echoes_a_mistyped_uri_flag():
    outcome = call_cli("doctor", "--postgres-url", f"postgresql://u:{SECRET}@h/db")
    assert outcome.code == 2 and outcome.err.startswith("error: "), outcome
    assert len(outcome.err.strip().splitlines()) == 1
    assert_no_secret(outcome.err + outcome.out)
