"""Every value a person or a caller can give stops at the package's boundary with one sentence, or
gives an empty result; nothing reaches the database to fail there, and no table changes
(issue #14, item 6). Crafted cases first, then hypothesis over every CLI flag, URL parameter
and package query, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from orchestrator.checkpointer import startup
from orchestrator.config import OrchestratorConfig
from orchestrator.errors import InputError, RunNotFound
from orchestrator.operations import Orchestrator
from orchestrator.rows import RunPage
from orchestrator.run_queries import SORT_COLUMNS, RunFilter
from orchestrator.runs import RunStore
from orchestrator.status import ALL_STATUSES
from orchestrator.validation import MAX_COUNT, MAX_JSON_DEPTH, MAX_SEARCH_CHARS, parse_json
from tests.apptest_helpers import main_texts, open_page, reset_streamlit
from tests.conftest import missing_tool
from tests.helpers import closed_port
from tests.in_process_cli import Outcome, assert_one_error_line, call_cli, database_args
from tests.reliability.conftest import checksum
from tests.test_store import py_matches

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = str(2**63)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def seeded_store(store: RunStore) -> RunStore:
    """Three runs with tags and input to search, one with task rows."""
    base = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    for n, (tags, input) in enumerate(
        [(["nightly"], {"tasks": 3, "goal": "café 100%_x"}), (["adhoc"], {"tasks": 1}), ([], {"k": [1, 2]})]
    ):
        store.create_run("simulate", input, tags, created_at=base + dt.timedelta(hours=n))
    return store


def assert_sentence(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message
    assert len(message) < 600, message


# -- the package --------------------------------------------------------------------------------

BAD_FILTERS: list[dict[str, Any]] = [
    {"tasks_total_min": 2**63},
    {"tasks_total_min": 2**31},
    {"tasks_failed_max": -1},
    {"tasks_completed_min": True},
    {"tasks_completed_max": 1.5},
    {"created_from": dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))},
    {"created_to": dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5)))},
    {"created_from": dt.datetime(1969, 12, 31)},
    {"created_to": "2026-01-01"},
    {"text": "x" * 100_000},
    {"text": "a\x00b"},
    {"text": "\ud800"},
    {"statuses": ["nope"]},
    {"statuses": "failed"},
    {"workflows": ["a\x00"]},
    {"workflows": [""]},
    {"launched_by": "x" * 1000},
]


BAD_PAGING: list[dict[str, Any]] = [
    {"limit": 2**63},
    {"limit": 2**31},
    {"limit": 0},
    {"offset": -1},
    {"offset": 2**31},
    {"sort": "nope"},
    {"sort": ["created_at"]},
    {"filters": {"text": "x"}},
]


def test_filters_and_paging_past_the_limits_are_one_sentence(seeded_store: RunStore, unchanged):
    for filters in BAD_FILTERS:
        with pytest.raises(InputError) as info:
            seeded_store.query_runs(RunFilter(**filters))
        assert_sentence(str(info.value))
    for paging in BAD_PAGING:
        with pytest.raises(InputError) as info:
            seeded_store.query_runs(**paging)
        assert_sentence(str(info.value))


def test_values_at_the_limits_work(seeded_store: RunStore, unchanged):
    edge = RunFilter(
        tasks_total_min=0,
        tasks_total_max=MAX_COUNT,
        created_from=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        created_to=dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        text="x" * MAX_SEARCH_CHARS,
    )
    assert seeded_store.query_runs(edge, limit=MAX_COUNT, offset=MAX_COUNT).total == 0
    assert seeded_store.query_runs(RunFilter(text="café 100%_")).total == 1
    assert (
        seeded_store.query_runs(RunFilter(created_from=dt.datetime(2026, 1, 5, 13))).total == 2
    )  # naive: UTC
    local = dt.datetime(2026, 1, 5, 14, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # 13:00 UTC
    assert seeded_store.query_runs(RunFilter(created_from=local)).total == 2


def test_an_impossible_run_id_is_not_found(seeded_store: RunStore, unchanged):
    for run_id in ("a\x00b", "x" * 100_000, "", "\ud800"):
        assert seeded_store.get_run(run_id) is None
        assert seeded_store.get_runs([run_id]) == []
        assert seeded_store.get_tasks(run_id) == []
        assert seeded_store.latest_tasks([run_id]) == {run_id: []}


def test_operations_on_an_impossible_run_id_are_one_sentence(config: OrchestratorConfig, unchanged):
    orch = Orchestrator(config)
    try:
        for call in (
            lambda: orch.get_run("a\x00b"),
            lambda: orch.cancel("a\x00b"),
            lambda: orch.resume("x" * 100_000),
            lambda: orch.approve("a\x00b", [1]),
            lambda: orch.rerun("a\x00b"),
        ):
            with pytest.raises(RunNotFound) as info:
                call()
            assert "No run has the id" in str(info.value)
            assert_sentence(str(info.value))
        assert orch.delete("a\x00b") is False
        for call in (
            lambda: orch.launch("simulate", {"tasks": 1}, ["a\x00"]),
            lambda: orch.launch("simulate", nested(MAX_JSON_DEPTH + 1)),
            lambda: orch.launch("simulate", {"tasks": 1}, launched_by="x\x00"),
        ):
            with pytest.raises(InputError) as info:
                call()
            assert_sentence(str(info.value))
    finally:
        orch.engine.dispose()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        "NaN",
        '{"x": Infinity}',
        "1e400",
        "9" * 5000,
        " " * 2_000_000,
        "{",
        "a\x00",
    ],
    ids=lambda r: r[:12] + f"…({len(r)})",
)
def test_json_past_the_limits_is_one_sentence(raw: str):
    with pytest.raises(InputError) as info:
        parse_json(raw, "--input")
    assert_sentence(str(info.value))
    assert str(info.value).startswith("--input ")


def test_json_within_the_limits_parses():
    expected: Any = []
    for _ in range(MAX_JSON_DEPTH - 1):
        expected = [expected]
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "--input") == expected
    assert parse_json('{"s": "[[[[{{{{\\"", "n": 1.5}', "--input") == {"s": '[[[[{{{{"', "n": 1.5}


# -- the CLI, crafted -----------------------------------------------------------------------------

RUNS_FLAGS_BAD = [
    ["--min-tasks", BIG],
    ["--max-failed", str(2**31)],
    ["--min-completed", "-1"],
    ["--max-tasks", "1.5"],
    ["--limit", BIG],
    ["--limit", "0"],
    ["--offset", str(2**31)],
    ["--since", "0001-01-01T00:00:00+01:00"],
    ["--until", "9999-12-31T23:00:00-05:00"],
    ["--since", "1960-01-01"],
    ["--since", "yesterday"],
    ["--search", "x" * 100_000],
    ["--search", "a\x00b"],
    ["--status", "nope"],
    ["--workflow", "a\x00"],
    ["--sort", "nope"],
    ["--nope"],
]


def test_runs_flags_past_the_limits_are_one_line(config: OrchestratorConfig, engine: Engine, unchanged):
    for flags in RUNS_FLAGS_BAD:
        assert_one_error_line(call_cli("runs", *flags, *database_args(config)))


def test_runs_flags_at_the_limits_work(config: OrchestratorConfig, seeded_store: RunStore, unchanged):
    outcome = call_cli(
        "runs",
        "--min-tasks", "0",
        "--max-tasks", str(MAX_COUNT),
        "--since", "1970-01-01",
        "--until", "9999-12-31T23:59:59",
        "--limit", str(MAX_COUNT),
        "--search", "café 100%",
        "--json",
        *database_args(config),
    )  # fmt: skip
    assert outcome.code == 0 and not outcome.err, outcome
    assert '"total": 1' in outcome.out


OTHER_COMMANDS_BAD = [
    ["show", "a\x00b"],
    ["show", "x" * 100_000],
    ["cancel", "a\x00b"],
    ["delete", "a\x00b"],
    ["run", "simulate", "--input", "[" * 100_000],
    ["run", "simulate", "--input", '{"tasks": NaN}'],
    ["run", "simulate", "--input", "{}", "--tag", "a\x00"],
    ["approve", "abc", "--value", "[" * 50_000 + "]" * 50_000],
    ["reject", "abc", "--reason", "a\x00"],
    ["logs", "a\x00b"],
    ["logs", "abc", "--search", "a\x00"],
    ["logs", "abc", "--search", "x" * 1000],
    ["logs", "abc", "--level", "x" * 1000],
    ["worker", "--concurrency", BIG],
    ["worker", "--concurrency", "0"],
    ["worker", "--grace", "nan"],
    ["worker", "--grace", "-1"],
]


def test_other_commands_past_the_limits_are_one_line(config: OrchestratorConfig, engine: Engine, unchanged):
    for command in OTHER_COMMANDS_BAD:
        outcome = call_cli(*command, *database_args(config))
        if command[0] == "delete":
            assert outcome.code == 0 and outcome.out.strip() == "delete: nothing to delete", outcome
        else:
            assert_one_error_line(outcome)


# -- the database's state, crafted ----------------------------------------------------------------


def test_a_usage_mistake_names_the_help_to_read():
    line = assert_one_error_line(call_cli("nope"), "invalid choice: 'nope'")
    assert line.endswith("; see python -m orchestrator --help.")
    line = assert_one_error_line(call_cli("runs", "--limit"), "expected one argument")
    assert line.endswith("; see python -m orchestrator runs --help.")
    # An unknown argument echoed back with a character that breaks lines (found by hypothesis).
    for breaking in ("\x85", "\u2028", "\x00", "\n"):
        line = assert_one_error_line(call_cli("cancel", f"-{breaking}"), "unrecognized arguments")
        assert repr(breaking)[1:-1] in line, line


def test_sqlite_path_that_is_a_folder(tmp_path: Path):
    for command in (["runs"], ["show", "x"], ["doctor"], ["init"], ["run", "simulate"]):
        assert_one_error_line(call_cli(*command, "--sqlite-path", str(tmp_path)), "is a folder")


def test_sqlite_file_that_is_not_a_database(tmp_path: Path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    before = path.read_bytes()
    for command in (["runs"], ["show", "x"], ["doctor"], ["init"], ["run", "simulate"]):
        assert_one_error_line(call_cli(*command, "--sqlite-path", str(path)), "is not a SQLite database")
    assert path.read_bytes() == before


@pytest.mark.empty_database
def test_a_database_without_tables(config: OrchestratorConfig):
    if config.checkpoint_mode == "sqlite":
        Path(config.sqlite_path).touch()  # an empty SQLite database
    for command in (["runs"], ["show", "x"]):
        assert_one_error_line(call_cli(*command, *database_args(config)), "no orchestrator tables yet")


def test_postgres_missing_database_and_server_down(postgres_admin: str):
    missing = postgres_admin.rsplit("/", 1)[0] + "/no_such_db_boundaries"
    down = f"postgresql://someone@127.0.0.1:{closed_port()}/orchestrator_db"
    for uri, phrase in ((missing, "does not exist"), (down, "does not answer")):
        for command in (["runs"], ["show", "x"], ["doctor"], ["init"]):
            assert_one_error_line(call_cli(*command, "--mode", "postgres", "--postgres-uri", uri), phrase)


def read_only_prefix(target: Path) -> list[str]:
    """A command prefix that runs the rest with `target` (a file or a folder) read-only.

    As root, file modes do not stop a write, so `target` is bind-mounted read-only in a private
    mount namespace of that one command (nothing changes outside it); otherwise chmod does it.
    """
    if os.geteuid() != 0:
        target.chmod(0o555 if target.is_dir() else 0o444)
        return []
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        missing_tool("running as root without the right to make a mount namespace (unshare -m)")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(target)]


def cli_processes(
    commands: dict[str, list[str]], cwd: Path, prefix: tuple[str, ...] = ()
) -> dict[str, Outcome]:
    """Real `python -m orchestrator` processes, started together (each spends a second importing)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "POSTGRES", "CHECKPOINT"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    procs = {
        name: subprocess.Popen(
            [*prefix, sys.executable, "-m", "orchestrator", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    outcomes = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        outcomes[name] = Outcome(proc.returncode, out, err)
    return outcomes


@pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces and file modes as on Linux")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_sqlite_file_or_folder(tmp_path: Path, what: str):
    """Writing is refused in one sentence; reading a read-only file works; nothing changes."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "orchestrator.db"
    config = OrchestratorConfig(checkpoint_mode="sqlite", sqlite_path=str(path), env_file=None)
    engine = asyncio.run(startup(config))
    RunStore(engine).create_run("simulate", {"tasks": 1}, ["ro"])
    engine.dispose()
    before = path.read_bytes()
    prefix = read_only_prefix(path if what == "file" else folder)
    database = ["--sqlite-path", str(path)]
    try:
        results = cli_processes(
            {
                "runs": ["runs", "--json", *database],
                "doctor": ["doctor", *database],
                "run": ["run", "simulate", "--input", '{"tasks": 1}', *database],
                "init": ["init", *database],
            },
            tmp_path,
            tuple(prefix),
        )
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert_one_error_line(results["run"], "read-only")
    if what == "file":  # SQLite reads it, keeping its WAL index beside it in the writable folder
        assert results["runs"].code == 0 and '"total": 1' in results["runs"].out, results["runs"]
        assert results["doctor"].code == 0 and "runs:           1" in results["doctor"].out, results["doctor"]
        # init has nothing to create in a database that is set up: it may succeed, writing nothing.
        assert results["init"].code == 0 or assert_one_error_line(results["init"], "read-only")
    else:  # a WAL database cannot be read where its index cannot be made: one sentence says so
        for name in ("runs", "doctor", "init"):
            assert_one_error_line(results[name], "read-only")
    assert path.read_bytes() == before


def test_a_handful_of_real_processes(tmp_path: Path):
    """The same sentences from the real command (argv cannot carry a NUL byte); the checks
    before the database are the same on both backends, so SQLite stands for both here."""
    path = tmp_path / "real.db"
    engine = asyncio.run(startup(OrchestratorConfig(sqlite_path=str(path), env_file=None)))
    before = checksum(engine)
    database = ["--sqlite-path", str(path)]
    commands = {
        "--min-tasks must be a whole number from 0 to 2147483647.": ["runs", "--min-tasks", BIG, *database],
        "--since must be between 1970-01-01": ["runs", "--since", "0001-01-01T00:00:00+01:00", *database],
        "search for at most 200": ["runs", "--search", "y" * 100_000, *database],
        "more than 32 deep": ["run", "simulate", "--input", "[" * 60_000, *database],
    }
    for phrase, outcome in cli_processes(commands, tmp_path).items():
        assert_one_error_line(outcome, phrase)
    assert checksum(engine) == before
    engine.dispose()


# -- the pages, crafted ---------------------------------------------------------------------------

CRAFTED_URLS: list[tuple[str, dict[str, str]]] = [
    ("runs", {"tasks_total_min": BIG}),
    ("runs", {"tasks_total_min": str(2**31)}),
    ("runs", {"tasks_failed_max": "9" * 30}),
    ("runs", {"tasks_completed_min": "-1"}),
    ("runs", {"page": BIG}),
    ("runs", {"page": str(MAX_COUNT)}),
    ("runs", {"size": "7"}),
    ("runs", {"created": "9999-12-31..9999-12-31"}),
    ("runs", {"created": "0001-01-01..0001-01-02"}),
    ("runs", {"created": "1969-12-31..1970-01-01"}),
    ("runs", {"created": "2026-13-01"}),
    ("runs", {"q": "x" * 100_000}),
    ("runs", {"q": "a\x00b"}),
    ("runs", {"workflow": "zzz,a\x00"}),
    ("runs", {"status": "nope,failed"}),
    ("runs", {"sort": "nope"}),
    ("runs", {"asc": "maybe"}),
    ("run_detail", {"run_id": "a\x00b"}),
    ("run_detail", {"run_id": "x" * 100_000}),
    ("compare", {"run_ids": "a\x00b,c"}),
    ("compare", {"run_ids": ",".join(["x" * 1000] * 50)}),
    ("launch", {"from_run": "a\x00"}),
]


@pytest.fixture
def app_orch(app_config: OrchestratorConfig, engine: Engine) -> Orchestrator:
    """The app's database, set up as the dashboard finds it, with a few runs."""
    orch = Orchestrator(app_config, engine=engine)
    asyncio.run(startup(app_config, engine))
    for tags in (["a"], ["b"]):
        orch.launch("simulate", {"tasks": 1}, tags)
    return orch


def assert_page_is_calm(at: Any) -> None:
    """No exception; at most one banner, of one sentence."""
    assert not at.exception, [e.value[:300] for e in at.exception]
    banners = main_texts(at, "error")
    assert len(banners) <= 1, banners
    for banner in banners:
        assert_sentence(banner)


def test_crafted_urls_are_one_banner_or_a_page(app_orch: Orchestrator, unchanged):
    for page, params in CRAFTED_URLS:
        reset_streamlit()
        at = open_page(page, **params)
        try:
            assert_page_is_calm(at)
        except AssertionError as exc:
            raise AssertionError(f"{page} {str(params)[:80]}: {exc}") from None


# -- hypothesis ---------------------------------------------------------------------------------

NUMBERISH = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", " ", "0", "2147483647", "2147483648", BIG, "1e3", "0x10", "٣", "1_000", "+5", "-0"]),
    st.text(max_size=12),
)
TIMEISH = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
    ).map(dt.datetime.isoformat),
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "1970-01-01", "2026-02-30"]),
    st.text(max_size=20),
)
TEXTISH = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="%_\\[]*?'\"\x00é", max_size=300),
    st.sampled_from(["a\x00b", "x" * 201, "x" * 200, "%", "_", "\\", "nightly"]),
)
RUNS_FLAGS = {
    **{f"--{b}-{c}": NUMBERISH for b in ("min", "max") for c in ("tasks", "completed", "failed")},
    "--limit": NUMBERISH,
    "--offset": NUMBERISH,
    "--since": TIMEISH,
    "--until": TIMEISH,
    "--search": TEXTISH,
    "--status": st.one_of(st.sampled_from(ALL_STATUSES), TEXTISH),
    "--workflow": TEXTISH,
    "--sort": st.one_of(st.sampled_from(list(SORT_COLUMNS)), TEXTISH),
}


@st.composite
def runs_argv(draw: st.DrawFn) -> list[str]:
    flags = draw(st.lists(st.sampled_from(sorted(RUNS_FLAGS)), max_size=5))
    argv = ["runs"]
    for flag in flags:
        argv += [flag, draw(RUNS_FLAGS[flag])]
    argv += draw(st.lists(st.sampled_from(["--json", "--asc"]), max_size=2, unique=True))
    return argv


def assert_cli_calm(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.out + outcome.err, outcome
    if outcome.code == 0:
        assert outcome.err == "", outcome
    else:
        assert_one_error_line(outcome)


def test_fuzz_runs_flags(config: OrchestratorConfig, seeded_store: RunStore):
    before = checksum(seeded_store.engine)

    @FUZZ
    @given(runs_argv())
    def check(argv: list[str]) -> None:
        assert_cli_calm(call_cli(*argv, *database_args(config)))

    check()
    assert checksum(seeded_store.engine) == before


def test_fuzz_json_and_ids_of_other_commands(config: OrchestratorConfig, seeded_store: RunStore, clean_env):
    """Commands that would write, read-only: what they parse is checked before anything refuses."""
    clean_env.setenv("ORCHESTRATOR_READ_ONLY", "true")
    before = checksum(seeded_store.engine)
    jsonish = st.one_of(
        st.text(max_size=60),
        st.recursive(st.just("1"), lambda inner: st.builds(lambda s: f"[{s}]", inner), max_leaves=60),
        st.integers(1, 3000).map(lambda n: "[" * n),
        st.sampled_from(["NaN", "-Infinity", "1e999", "9" * 4400, '{"tasks": 2}', "[]", "null"]),
    )
    command = st.one_of(
        st.tuples(st.just("run"), st.just("simulate"), st.just("--input"), jsonish),
        st.tuples(st.just("approve"), TEXTISH, st.just("--value"), jsonish),
        st.tuples(st.sampled_from(["show", "cancel", "resume", "rerun", "delete", "reject"]), TEXTISH),
    )

    @FUZZ
    @given(command)
    def check(argv: tuple[str, ...]) -> None:
        assert_cli_calm(call_cli(*argv, *database_args(config)))

    check()
    assert checksum(seeded_store.engine) == before


INTS = st.one_of(st.none(), st.integers(min_value=-(2**65), max_value=2**65), st.booleans(), st.floats())
TIMES = st.one_of(
    st.none(),
    st.datetimes(
        timezones=st.one_of(
            st.none(), st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
        )
    ),
)


def test_fuzz_package_queries(seeded_store: RunStore):
    before = checksum(seeded_store.engine)
    filters = st.builds(
        dict,
        statuses=st.lists(st.one_of(st.sampled_from(ALL_STATUSES), TEXTISH), max_size=3),
        workflows=st.lists(TEXTISH, max_size=3),
        tasks_total_min=INTS,
        tasks_total_max=INTS,
        tasks_completed_min=INTS,
        tasks_failed_max=INTS,
        created_from=TIMES,
        created_to=TIMES,
        text=TEXTISH,
        launched_by=st.one_of(st.none(), TEXTISH),
    )
    paging = st.fixed_dictionaries(
        {},
        optional={
            "sort": st.one_of(st.sampled_from(list(SORT_COLUMNS)), TEXTISH),
            "descending": st.booleans(),
            "limit": INTS.filter(lambda v: v is not None),
            "offset": INTS.filter(lambda v: v is not None),
        },
    )

    every_run = seeded_store.get_runs([r["run_id"] for r in seeded_store.query_runs(limit=10).rows])
    assert len(every_run) == 3

    @settings(FUZZ, max_examples=200)
    @given(filters, paging, st.lists(TEXTISH, max_size=3))
    def check(filter_args: dict[str, Any], page_args: dict[str, Any], run_ids: list[str]) -> None:
        try:
            page = seeded_store.query_runs(RunFilter(**filter_args), **page_args)
        except InputError as exc:
            assert_sentence(str(exc))
        else:
            assert isinstance(page, RunPage) and page.total >= len(page.rows)
            # The count is known: the Python reference of test_store says which of the three runs
            # match (for ASCII text, whose case both it and the databases fold alike).
            if filter_args["launched_by"] is None and filter_args["text"].isascii():
                want = sum(py_matches(row, RunFilter(**filter_args)) for row in every_run)
                assert page.total == want, (filter_args, page.total, want)
        assert all(seeded_store.get_run(r) is None for r in run_ids if r.strip() != r or "\x00" in r)
        seeded_store.get_runs(run_ids)
        seeded_store.latest_tasks(run_ids)

    check()
    assert checksum(seeded_store.engine) == before


URL_VALUES = st.one_of(
    NUMBERISH, TIMEISH, TEXTISH, st.sampled_from(["failed,nope", "..", "2026-01-01..", "true"])
)
URL_PARAMS = [
    "status", "workflow", "tasks_total_min", "tasks_total_max", "tasks_completed_min", "tasks_completed_max",
    "tasks_failed_min", "tasks_failed_max", "created", "q", "sort", "asc", "size", "page",
]  # fmt: skip


def test_fuzz_url_parameters(app_orch: Orchestrator):
    before = checksum(app_orch.engine)
    pages: dict[str, Callable[[st.DrawFn], dict[str, str]]] = {
        "runs": lambda draw: draw(st.dictionaries(st.sampled_from(URL_PARAMS), URL_VALUES, max_size=4)),
        "run_detail": lambda draw: {"run_id": draw(TEXTISH)},
        "compare": lambda draw: {"run_ids": ",".join(draw(st.lists(TEXTISH, max_size=4)))},
        "launch": lambda draw: {"from_run": draw(TEXTISH)},
    }

    @settings(FUZZ, max_examples=25)
    @given(st.sampled_from(sorted(pages)), st.data())
    def check(page: str, data: st.DataObject) -> None:
        params = pages[page](data.draw)
        reset_streamlit()
        assert_page_is_calm(open_page(page, **params))

    check()
    assert checksum(app_orch.engine) == before


def test_a_link_with_a_bad_count_and_a_nul_search_is_one_banner_naming_both(app_orch: Orchestrator):
    """Hypothesis found it: the count's sentence and the search's refusal were two banners."""
    reset_streamlit()
    at = open_page("runs", status="0", tasks_total_min="-1", q="\x00")
    assert_page_is_calm(at)
    (banner,) = [e.value for e in at.error]
    assert "`tasks_total_min` and `q` are not values this page takes" in banner
    # and a value the link holds but the package refuses is said in the same banner
    reset_streamlit()
    at = open_page("runs", status="0", workflow="0", tasks_total_min="-1", created="1969-01-01")
    assert_page_is_calm(at)
    (banner,) = [e.value for e in at.error]
    assert "`tasks_total_min` is not a value" in banner and "between 1970-01-01 and 9999-12-31" in banner
