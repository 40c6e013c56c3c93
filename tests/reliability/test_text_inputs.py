"""Text a person gives, on both backends: names (presets, tags, who launched) are one line, and no
text or JSON holds a NUL character (PostgreSQL's text and JSONB cannot hold one; SQLite would):
each is refused in one sentence before anything is stored."""

from __future__ import annotations

import pytest

from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError
from orchestrator.operations import Orchestrator
from tests.in_process_cli import assert_one_error_line, call_cli, database_args

NOT_ONE_LINE = [
    "two\nlines",
    "a\rb",
    "tab\there",
    "bell\x07",
    "nul\x00",
    "line\u2028separator",
    "\x1b[31mred",
]
ONE_LINE = "émission 2026 ✓ nightly"


def test_a_name_with_a_control_character_is_refused(config: OrchestratorConfig) -> None:
    orch = Orchestrator(config)
    try:
        for name in NOT_ONE_LINE:
            for call in (
                lambda name=name: orch.save_preset("simulate", name, {"tasks": 1}),
                lambda name=name: orch.launch("simulate", {"tasks": 1}, [name]),
                lambda name=name: orch.launch("simulate", {"tasks": 1}, launched_by=name),
                lambda name=name: orch.presets.get("simulate", name),
            ):
                with pytest.raises(InputError) as info:
                    call()
                assert "must be one line of 1 to 200 characters, without control characters" in str(
                    info.value
                )
                assert "\n" not in str(info.value)
        assert orch.presets.list() == [] and orch.store.count_runs() == 0
        orch.save_preset("simulate", ONE_LINE, {"tasks": 1})
        run_id = orch.launch("simulate", {"tasks": 1}, [ONE_LINE], preset=ONE_LINE, launched_by=ONE_LINE)
        assert orch.get_run(run_id)["tags"] == [ONE_LINE]
    finally:
        orch.engine.dispose()


def test_the_cli_refuses_names_and_text_with_control_characters(config: OrchestratorConfig) -> None:
    database = database_args(config)
    for command, phrase in (
        (
            ["presets", "save", "simulate", "two\nlines", "--input", '{"tasks": 1}'],
            "A preset name must be one line",
        ),
        (["run", "simulate", "--tag", "two\nlines"], "A tag must be one line"),
        (["run", "simulate", "--input", '{"tasks": 1, "x": "a\\u0000b"}'], "--input holds text with a NUL"),
        (
            ["run", "simulate", "--input", '{"tasks": 1}', "--config", '{"k\\u0000": 1}'],
            "--config holds text with a NUL",
        ),
        (
            ["presets", "save", "simulate", "p", "--input", '{"tasks": 1}', "--description", "x\x00"],
            "The preset's description must be text without NUL characters",
        ),
    ):
        assert_one_error_line(call_cli(*command, *database), phrase)
    orch = Orchestrator(config, migrate=False)
    try:
        assert orch.presets.list() == [] and orch.store.count_runs() == 0
    finally:
        orch.engine.dispose()
