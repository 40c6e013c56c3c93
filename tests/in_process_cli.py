"""The CLI called in this process (`cli.main`), for tests that make many calls: an interpreter
start-up per call costs seconds."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from orchestrator import cli
from orchestrator.config import OrchestratorConfig


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def database_args(config: OrchestratorConfig) -> list[str]:
    if config.checkpoint_mode == "sqlite":
        return ["--mode", "sqlite", "--sqlite-path", str(config.sqlite_path)]
    return ["--mode", "postgres", "--postgres-uri", str(config.resolved_postgres_uri)]


def call_cli(*args: str) -> Outcome:
    """`python -m orchestrator ARGS` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse: --help, or a usage error
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_one_error_line(outcome: Outcome, *fragments: str) -> str:
    """A user's mistake: exit 1 (2 for a usage error), one `error: ` line on stderr, no traceback."""
    assert outcome.code in (1, 2), outcome
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: "), outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
