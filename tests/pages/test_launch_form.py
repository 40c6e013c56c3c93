"""The Launch form's choice and list fields, its failure banner, and a logged-in user's launches
carrying their email (both backends)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from orchestrator.errors import DatabaseError
from orchestrator.operations import Orchestrator
from tests.apptest_helpers import APP, main_texts, open_page

WORKFLOWS = {"regional": "tests.pages.form_workflows:build_regional"}
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "not-a-real-secret",
    "client_id": "dashboard",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture
def regional(page_orch: Orchestrator, clean_env: pytest.MonkeyPatch) -> Orchestrator:
    """The app with the `regional` workflow registered (through ORCHESTRATOR_WORKFLOWS)."""
    clean_env.setenv("ORCHESTRATOR_WORKFLOWS", json.dumps(WORKFLOWS))
    return page_orch


def field(name: str) -> str:
    return f"launch_regional_new_regional_{name}"


def submit(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Launch"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def runs(orch: Orchestrator) -> list[dict[str, Any]]:
    return [dict(orch.get_run(r["run_id"])) for r in orch.store.query_runs(limit=100).rows]


def choose_regional(at: AppTest) -> AppTest:
    at.selectbox(key="launch_workflow").set_value("regional").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_choice_and_a_list_of_text_have_their_own_widgets(regional: Orchestrator) -> None:
    at = choose_regional(open_page("launch"))
    choice = at.selectbox(key=field("region"))
    assert choice.options == ["emea", "apac", "amer"] and choice.value == "emea"
    steps = at.text_area(key=field("steps"))
    # The model's default (a default_factory) is prefilled, and named in the help.
    assert steps.value == "collect\nreport"
    assert steps.help.startswith("One item per line. Left blank: collect, report.")
    assert at.number_input(key=field("weeks")).label == "Weeks"
    choice.set_value("apac")
    steps.input("collect\n\n  clean  \nreport\n")  # one item per line; blank lines left out
    submit(at)
    (run,) = runs(regional)
    assert (run["workflow"], run["status"]) == ("regional", "queued")
    assert run["input"] == {"region": "apac", "steps": ["collect", "clean", "report"], "weeks": 4}


def test_a_blank_list_takes_the_models_default_not_an_empty_list(regional: Orchestrator) -> None:
    at = choose_regional(open_page("launch"))
    at.text_area(key=field("steps")).input("  \n")
    submit(at)
    (run,) = runs(regional)
    assert run["input"]["steps"] == ["collect", "report"]


def test_a_fields_label_is_words_not_its_name(page_orch: Orchestrator) -> None:
    at = open_page("launch")  # simulate: delay_ms, fan_out, fail_rate
    labels = {n.label for n in at.number_input}
    assert {"Delay (ms)", "Fan out", "Fail rate"} <= labels, labels
    assert not {"Delay Ms", "Fan Out", "Fail Rate"} & labels


def test_a_list_past_its_bound_is_a_field_error(regional: Orchestrator) -> None:
    at = choose_regional(open_page("launch"))
    at.text_area(key=field("steps")).input("\n".join(f"step {n}" for n in range(6)))
    submit(at)
    assert runs(regional) == []
    errors = [e for e in main_texts(at, "error") if "cannot be launched" not in e]
    assert len(errors) == 1 and errors[0].startswith("Steps "), errors


def test_a_launch_that_fails_shows_one_banner_and_queues_nothing(
    regional: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kwargs: Any) -> list[str]:
        raise DatabaseError(
            "PostgreSQL at db:5432 does not answer; start the server or fix the host and port."
        )

    at = choose_regional(open_page("launch"))
    monkeypatch.setattr(Orchestrator, "launch_copies", down)
    submit(at)
    assert main_texts(at, "error") == [
        "PostgreSQL at db:5432 does not answer; start the server or fix the host and port."
    ]
    assert not main_texts(at, "success")  # no "Queued" confirmation
    monkeypatch.undo()
    assert runs(regional) == []


def test_a_logged_in_users_launches_carry_their_email(regional: Orchestrator) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}
    at.switch_page("app_pages/launch.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    choose_regional(at)
    submit(at)
    (run,) = runs(regional)
    assert run["launched_by"] == "ann@example.com"
    # "Your runs" are the user's, found from the database by their email in a new session
    again = AppTest.from_file(str(APP), default_timeout=60)
    again.secrets["auth"] = AUTH
    again.user = {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}
    again.switch_page("app_pages/launch.py")
    again.run()
    assert any(run["run_id"] in str(m.value) for m in again.main.markdown), "the run is not in Your runs"
