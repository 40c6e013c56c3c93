"""Moving runs between backends (orchestrator.transfer; the CLI's export, import, migrate).

The runs are real: made by the executor on the source backend (succeeded, failed, answered,
cancelled, interrupted, a fork), then exported and imported, or migrated, into the other
backend, and compared with `verify` (rows, checkpoints per namespace, latest state through
LangGraph). Each test gets fresh databases; the sources are made once per module and backend.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from orchestrator.checkpointer import open_sync_saver
from orchestrator.claims import ClaimStore
from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine, schema_version
from orchestrator.db.schema import run_edits, run_logs, run_metrics, run_model_calls, run_task_io, runs
from orchestrator.errors import ReadOnlyError
from orchestrator.executor import Executor
from orchestrator.history import checkpoint_history
from orchestrator.operations import Orchestrator
from orchestrator.run_notes import set_note
from orchestrator.run_queries import RunFilter
from orchestrator.runs import RunStore
from orchestrator.status import RunStatus
from orchestrator.transfer import export_runs, import_file, migrate, open_backend, verify
from orchestrator.transfer.loader import Loader, stored_run
from orchestrator.transfer.records import OPTIONAL_RUN_KEYS
from orchestrator.transfer.source import backend_records
from tests.helpers import wait_for, with_workflows
from tests.in_process_cli import assert_one_error_line, call_cli, database_args
from tests.processes import wait_status
from tests.rollup_check import assert_rollup_matches

WORKFLOWS = {
    "nested": "tests.transfer_workflows:build_nested",
    "gated": "tests.engine_workflows:build_gated",
    "questions": "tests.interrupt_workflows:build_two_questions",
    "chatty": "tests.observe_workflows:build_chatty",
    "scored": "tests.metric_workflows:build_scored",
}
APPROVAL_INPUT = {"goal": "Write the intro; write the body", "require_approval": True}


def _config(mode: str, where: str) -> OrchestratorConfig:
    place = {"sqlite_path": where} if mode == "sqlite" else {"postgres_uri": where}
    return with_workflows(
        OrchestratorConfig(checkpoint_mode=mode, env_file=None, **place),  # type: ignore[arg-type]
        WORKFLOWS,
        heartbeat_seconds=0.2,
        stale_after_seconds=30,
        concurrency=4,
    )


@pytest.fixture(scope="module")
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A factory of empty databases of either backend, dropped at the module's end."""
    made: list[str] = []

    def new(mode: str) -> OrchestratorConfig:
        if mode == "sqlite":
            return _config("sqlite", str(tmp_path_factory.mktemp("db") / "orchestrator.db"))
        admin = request.getfixturevalue("postgres_admin")
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _config("postgres", make_url(admin).set(database=name).render_as_string(hide_password=False))

    yield new
    if made:
        admin = request.getfixturevalue("postgres_admin")
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def execute(config: OrchestratorConfig, *run_ids: str) -> None:
    """Run an executor until every given run rests."""
    orch = Orchestrator(config)
    executor = Executor(config, engine=orch.engine, concurrency=4, poll_seconds=0.05)
    executor.start()
    try:
        for run_id in run_ids:
            wait_status(orch, run_id)
    finally:
        executor.stop(grace=1)
        orch.engine.dispose()


def make_runs(config: OrchestratorConfig, tmp_path: Path) -> dict[str, str]:
    """Runs of every resting status, made by the executor; their ids by what they are."""
    orch = Orchestrator(config)
    try:
        ids = {
            "succeeded": orch.launch("simulate", {"tasks": 3, "delay_ms": 0}, ["moved"]),
            "failed": orch.launch("simulate", {"tasks": 2, "delay_ms": 0, "fail_rate": 1.0}),
            "approved": orch.launch("plan_execute", APPROVAL_INPUT),
            "questions": orch.launch("questions", {"topic": "move"}),
            "cancelled": orch.launch("simulate", {"tasks": 1}),
            "nested": orch.launch("nested", {"topic": "move"}),
        }
        orch.cancel(ids["cancelled"])
        execute(config, *(ids[k] for k in ("succeeded", "failed", "approved", "questions", "nested")))
        orch.approve(ids["approved"], ["alpha task"], answered_by="ana")
        orch.approve(ids["nested"], answered_by="ana")
        pending = orch.pending_interrupts(ids["questions"])
        orch.reject(ids["questions"], "not now", interrupt_id=pending[0]["id"], answered_by="bo")
        history = checkpoint_history(config, ids["succeeded"])
        orch.save_preset("simulate", "small", {"tasks": 1}, description="a preset no run names")
        ids["fork"] = orch.fork(ids["succeeded"], history[len(history) // 2]["checkpoint_id"])
        execute(config, ids["approved"], ids["fork"], ids["nested"])
    finally:
        orch.engine.dispose()
    return ids


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def source(request: pytest.FixtureRequest, databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A backend holding runs the executor made (made once per module), and their ids."""
    config = databases(request.param)
    ids = make_runs(config, tmp_path_factory.mktemp("runs"))
    return config, ids


def other(mode: str) -> str:
    return "postgres" if mode == "sqlite" else "sqlite"


def verified(source_config: OrchestratorConfig, target_config: OrchestratorConfig) -> Any:
    with (
        open_backend(source_config, writable=False) as left,
        open_backend(target_config, writable=False) as right,
    ):
        return verify(left, right)


def counts(config: OrchestratorConfig) -> tuple[int, int]:
    """Runs, and checkpoints of all threads (through the saver)."""
    engine = make_engine(config)
    try:
        if schema_version(engine) is None:
            return 0, 0  # nothing was ever written here
        with engine.connect() as conn:
            n_runs = conn.scalar(select(func.count()).select_from(runs)) or 0
    finally:
        engine.dispose()
    with open_sync_saver(config) as saver:
        n_checkpoints = sum(1 for _ in saver.list(None))
    return n_runs, n_checkpoints


# -- export / import --------------------------------------------------------------------------


def test_export_import_round_trip_to_the_other_backend(source: Any, databases: Any, tmp_path: Path) -> None:
    config, ids = source
    statuses = {Orchestrator(config).get_run(r)["status"] for r in ids.values()}
    assert statuses == {"succeeded", "failed", "cancelled"}, statuses
    target = databases(other(config.checkpoint_mode))
    path = tmp_path / "runs.jsonl.gz"
    exported = export_runs(config, path, None)
    assert exported.runs == len(ids) and exported.checkpoints > 20
    with gzip.open(path, "rt") as f:
        kinds = [json.loads(line)["kind"] for line in f]
    assert kinds[0] == "header" and kinds[-1] == "end" and kinds.count("run") == len(ids)
    with gzip.open(path, "rt") as f:
        namespaces = {
            r["ns"] for r in map(json.loads, f) if r["kind"] == "checkpoint" and r["run_id"] == ids["nested"]
        }
    assert "" in namespaces and any(ns.startswith("inner:") for ns in namespaces), namespaces

    # The CLI takes the runs command's filters.
    only_failed = call_cli(
        "export", "--out", str(tmp_path / "failed.jsonl"), "--status", "failed", *database_args(config)
    )
    assert only_failed.code == 0 and "exported 1 runs" in only_failed.out, only_failed
    assert ids["failed"] in (tmp_path / "failed.jsonl").read_text()
    bad_filter = call_cli(
        "export", "--out", str(tmp_path / "x.jsonl"), "--min-tasks", "-1", *database_args(config)
    )
    assert_one_error_line(bad_filter, "--min-tasks")
    assert not (tmp_path / "x.jsonl").exists()

    loaded = import_file(target, path)
    assert sorted(loaded.imported) == sorted(ids.values())
    assert loaded.checkpoints == exported.checkpoints and loaded.writes == exported.writes
    check = verified(config, target)
    assert check.ok, check.differences
    assert check.runs == len(ids) and check.checkpoints == exported.checkpoints
    before = counts(target)

    again = import_file(target, path)  # a no-op
    assert again.imported == [] and sorted(again.unchanged) == sorted(ids.values())
    assert counts(target) == before
    engine = make_engine(target)
    try:
        assert_rollup_matches(engine)
        # The search index (SQLite's FTS table, kept by triggers) finds the imported runs.
        found = RunStore(engine).count_matching(RunFilter(text="moved"), cap=None).value
        assert (
            found >= 1
            and found == Orchestrator(config).store.count_matching(RunFilter(text="moved"), cap=None).value
        )
    finally:
        engine.dispose()


def _cut(path: Path, keep: float) -> Path:
    """A copy of a plain-text export with only the first `keep` share of its lines."""
    lines = path.read_text().splitlines(keepends=True)
    cut = path.with_name("cut.jsonl")
    cut.write_text("".join(lines[: int(len(lines) * keep)]))
    return cut


def test_a_cut_short_corrupt_or_newer_file_is_refused_with_its_line_and_nothing_imported(
    source: Any, databases: Any, tmp_path: Path
) -> None:
    config, _ids = source
    target = databases(other(config.checkpoint_mode))
    path = tmp_path / "runs.jsonl"
    export_runs(config, path)
    lines = path.read_text().splitlines(keepends=True)

    cut = _cut(path, 0.6)
    outcome = call_cli("import", str(cut), *database_args(target))
    assert_one_error_line(outcome, f"line {int(len(lines) * 0.6) + 1}", "cut short")
    assert counts(target) == (0, 0)

    # gzip cut in the middle of its bytes
    gz = tmp_path / "runs.jsonl.gz"
    export_runs(config, gz)
    data = gz.read_bytes()
    (tmp_path / "half.jsonl.gz").write_bytes(data[: len(data) // 2])
    outcome = call_cli("import", str(tmp_path / "half.jsonl.gz"), *database_args(target))
    assert_one_error_line(outcome, "line ", "cut short or corrupt")
    assert counts(target) == (0, 0)

    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines[:5]) + '{"kind": "checkpoint", "run_id"\n' + "".join(lines[6:]))
    assert_one_error_line(call_cli("import", str(broken), *database_args(target)), "line 6", "not valid JSON")
    at = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "checkpoint")
    damaged = json.loads(lines[at])
    damaged["checkpoint"][1] = "not base64!"
    bad_payload = tmp_path / "bad_payload.jsonl"
    bad_payload.write_text("".join(lines[:at]) + json.dumps(damaged) + "\n" + "".join(lines[at + 1 :]))
    outcome = call_cli("import", str(bad_payload), *database_args(target))
    assert_one_error_line(outcome, f"line {at + 1}", "not valid base64")
    newer = tmp_path / "newer.jsonl"
    head = json.loads(lines[0]) | {"version": 99}
    newer.write_text(json.dumps(head) + "\n" + "".join(lines[1:]))
    assert_one_error_line(call_cli("import", str(newer), *database_args(target)), "line 1", "version 99")
    with pytest.raises(ReadOnlyError):
        import_file(target.with_read_only(), path)
    assert counts(target) == (0, 0)


def test_a_run_there_with_other_content_is_reported_then_skipped_or_replaced(
    source: Any, databases: Any, tmp_path: Path
) -> None:
    config, ids = source
    target = databases(other(config.checkpoint_mode))
    path = tmp_path / "runs.jsonl"
    export_runs(config, path)
    assert import_file(target, path).runs == len(ids)
    engine = make_engine(target)
    try:
        with engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == ids["failed"]).values(tags=["changed here"]))
        outcome = call_cli("import", str(path), *database_args(target))
        assert_one_error_line(outcome, "1 run(s)", ids["failed"], "--on-conflict")
        skipped = call_cli("import", str(path), "--on-conflict", "skip", *database_args(target))
        assert skipped.code == 0 and f"skipped {ids['failed']}" in skipped.out
        assert Orchestrator(target).get_run(ids["failed"])["tags"] == ["changed here"]
        replaced = call_cli("import", str(path), "--on-conflict", "replace", *database_args(target))
        assert replaced.code == 0 and "replaced 1" in replaced.out, replaced
    finally:
        engine.dispose()
    check = verified(config, target)
    assert check.ok, check.differences


# -- migrate ------------------------------------------------------------------------------------


def test_migrate_copies_verifies_and_a_second_run_changes_nothing(source: Any, databases: Any) -> None:
    config, ids = source
    target = databases(other(config.checkpoint_mode))
    where = ["--postgres-uri", target.postgres_uri] if target.checkpoint_mode == "postgres" else []
    where = where or ["--sqlite-path", str(target.sqlite_path)]
    # The source is the configured backend; the flag names where the other one is.
    own = ["--mode", config.checkpoint_mode]
    own += ["--sqlite-path", str(config.sqlite_path)] if config.checkpoint_mode == "sqlite" else []
    own += ["--postgres-uri", str(config.postgres_uri)] if config.checkpoint_mode == "postgres" else []
    dry = call_cli("migrate", "--to", target.checkpoint_mode, "--dry-run", *own, *where)
    assert dry.code == 0 and f"would copy {len(ids)} runs" in dry.out, dry
    assert counts(target) == (0, 0)

    first = call_cli("migrate", "--to", target.checkpoint_mode, "--batch", "2", *own, *where)
    assert first.code == 0, first
    # Every preset moves, those no run names too.
    there = Orchestrator(target)
    assert [(p["workflow"], p["name"]) for p in there.presets.list()] == [("simulate", "small")]
    there.engine.dispose()
    assert f"copied {len(ids)} runs" in first.out and "0 differences" in first.out
    before = counts(target)
    second = call_cli("migrate", "--to", target.checkpoint_mode, *own, *where)
    assert (
        second.code == 0 and "copied 0 runs" in second.out and f"{len(ids)} were already there" in second.out
    )
    assert counts(target) == before == counts(config)


def test_migrate_names_a_run_that_differs_and_never_prints_the_password(
    source: Any, databases: Any, password_role: str
) -> None:
    config, ids = source
    password = make_url(password_role).password
    assert password
    if config.checkpoint_mode == "sqlite":
        # A target that refuses the password: one sentence, without it.
        wrong = make_url(password_role).set(password="hunter2-wrong", database="postgres")
        uri = wrong.render_as_string(hide_password=False)
        outcome = call_cli(
            "migrate", "--to", "postgres", "--postgres-uri", uri, "--sqlite-path", str(config.sqlite_path)
        )
        assert outcome.code == 1 and "hunter2-wrong" not in outcome.out + outcome.err, outcome
        dry = call_cli(
            "migrate", "--to", "postgres", "--dry-run", "--postgres-uri", password_role,
            "--sqlite-path", str(config.sqlite_path),
        )  # fmt: skip
        assert dry.code == 0 and ":***@" in dry.out and password not in dry.out + dry.err, dry
        return
    target = databases("sqlite")
    first = call_cli("migrate", "--to", "sqlite", "--sqlite-path", str(target.sqlite_path),
                     "--mode", "postgres", "--postgres-uri", str(config.postgres_uri))  # fmt: skip
    assert first.code == 0, first
    engine = make_engine(target)
    try:
        with engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == ids["succeeded"]).values(tasks_failed=7))
    finally:
        engine.dispose()
    check = verified(config, target)
    assert [d.split(":")[0] for d in check.differences] == [ids["succeeded"]]
    assert "tasks_failed" in check.differences[0]


def test_a_migration_stopped_half_way_ends_verified_when_run_again(source: Any, databases: Any) -> None:
    config, ids = source
    target = databases(other(config.checkpoint_mode))
    moved = 0

    def stop_at_the_third_run(n: int) -> None:
        nonlocal moved
        moved += n
        if moved == 3:
            raise KeyboardInterrupt  # as a person's Ctrl-C between two runs

    with pytest.raises(KeyboardInterrupt):
        migrate(config, target, progress=stop_at_the_third_run)
    assert counts(target)[0] == 3
    # A kill in the middle of the next run leaves some of its checkpoints and no row: what a
    # loader fed its first records and never finished leaves (a kill runs no clean-up).
    with open_backend(config, writable=False) as left, open_backend(target, writable=True) as right:
        records = backend_records(left.engine, left.saver)
        loader = Loader(right.engine, right.saver)
        for record in records:
            loader.feed(record)  # (the runs copied already are "unchanged": skipped)
            if record["kind"] == "checkpoint" and loader._run is not None:
                break  # the first checkpoint of a run with any (ids order runs; one may have none)
        records.close()
        half = loader._run
        whole = len(loader.outcome.imported)  # runs without checkpoints fed before it: complete
        assert half is not None and len(loader.outcome.unchanged) == 3
        assert stored_run(right.engine, half["row"]["run_id"]) is None
    assert counts(target)[1] > 0 and counts(target)[0] == 3 + whole
    again = migrate(config, target)
    assert len(again.load.unchanged) == 3 + whole and len(again.load.imported) == len(ids) - 3 - whole
    assert again.verification is not None and again.verification.ok, again.verification
    assert counts(target) == counts(config)


# -- a moved run goes on ----------------------------------------------------------------------


def test_an_interrupted_and_a_waiting_run_moved_to_postgres_finish_there(
    databases: Any, tmp_path: Path
) -> None:
    sqlite, postgres = databases("sqlite"), databases("postgres")
    sqlite.postgres_uri = postgres.postgres_uri
    orch = Orchestrator(sqlite)
    gated = orch.launch("gated", {"dir": str(tmp_path), "tasks": 4, "allow": 2, "delay_ms": 0, "fan_out": 4})
    waiting = orch.launch("plan_execute", APPROVAL_INPUT)
    executor = Executor(sqlite, engine=orch.engine, concurrency=4, poll_seconds=0.05)
    executor.start()
    wait_status(orch, waiting)
    wait_for(lambda: orch.get_run(gated)["tasks_completed"] == 3, what="plan and two steps of the gated run")
    executor.stop(grace=0)  # the gated run goes back to the queue, its steps checkpointed
    claims = ClaimStore(orch.engine)
    assert claims.claim_queued("gone-worker", 1, run_id=gated)  # a worker takes it, then dies
    with orch.engine.begin() as conn:
        old = orch.get_run(gated)["heartbeat_at"] - dt.timedelta(hours=1)
        conn.execute(update(runs).where(runs.c.run_id == gated).values(heartbeat_at=old))
    assert claims.mark_stale_interrupted(30) == [gated]
    assert orch.get_run(gated)["status"] == RunStatus.INTERRUPTED
    assert orch.get_run(waiting)["status"] == RunStatus.AWAITING_INPUT
    before = {r: [h["checkpoint_id"] for h in checkpoint_history(sqlite, r)] for r in (gated, waiting)}

    refused = call_cli(
        "migrate", "--to", "postgres", *database_args(sqlite), "--postgres-uri", str(postgres.postgres_uri)
    )
    assert_one_error_line(refused, "1 run(s) are still queued, running or waiting", "--include-active")
    moved = call_cli("migrate", "--to", "postgres", "--include-active", *database_args(sqlite),
                     "--postgres-uri", str(postgres.postgres_uri))  # fmt: skip
    assert moved.code == 0 and "0 differences" in moved.out, moved
    # The source copy of the waiting run is fenced and marked: no executor there takes it again.
    left = orch.get_run(waiting)
    assert left["status"] == RunStatus.CANCELLED and left["error"].startswith("Moved to ")
    orch.engine.dispose()

    there = Orchestrator(postgres)
    try:
        for run_id in (gated, waiting):
            history = [h["checkpoint_id"] for h in checkpoint_history(postgres, run_id)]
            assert history == before[run_id]
        assert there.get_run(waiting)["status"] == RunStatus.AWAITING_INPUT
        assert there.approve(waiting, ["alpha task"], answered_by="ana") == "queued"
        there.resume(gated)
        (tmp_path / "open").write_text("go")
        execute(postgres, gated, waiting)
        for run_id in (gated, waiting):
            run = there.get_run(run_id)
            assert run["status"] == RunStatus.SUCCEEDED, run["error"]
            history = [h["checkpoint_id"] for h in checkpoint_history(postgres, run_id)]
            assert history[: len(before[run_id])] == before[run_id] and len(history) > len(before[run_id])
        assert there.get_run(waiting)["state_snapshot"]["plan"] == ["alpha task"]
        # A fork of a moved run, from a checkpoint made before the move, runs there too.
        fork = there.fork(gated, before[gated][-1])
        execute(postgres, fork)
        assert there.get_run(fork)["status"] == RunStatus.SUCCEEDED
    finally:
        there.engine.dispose()


# -- the per-run tables beyond tasks and answers -----------------------------------------------

EXTRA_TABLES = (run_edits, run_metrics, run_logs, run_model_calls, run_task_io)


def extra_rows(config: OrchestratorConfig, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each extra table's rows of these runs, without autoincrement ids, in a fixed order."""
    engine = make_engine(config)
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        with engine.connect() as conn:
            for table in EXTRA_TABLES:
                order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
                rows = conn.execute(
                    select(table).where(table.c.run_id.in_(run_ids)).order_by(table.c.run_id, *order)
                )
                found[table.name] = [{k: v for k, v in r._mapping.items() if k != "id"} for r in rows]
    finally:
        engine.dispose()
    return found


@pytest.mark.parametrize("mode", ["sqlite", "postgres"])
def test_edits_metrics_logs_model_calls_and_task_io_travel_and_an_older_file_still_imports(
    mode: str, databases: Any, tmp_path: Path
) -> None:
    config = databases(mode)
    orch = Orchestrator(config)
    try:
        chatty = orch.launch("chatty", {"tasks": 2, "lines": 2, "calls": 1})
        scored = orch.launch("scored", {"points": 3})
        execute(config, chatty, scored)
        set_note(orch, chatty, "checked by hand", by="ana")
    finally:
        orch.engine.dispose()
    ids = [chatty, scored]
    before = extra_rows(config, ids)
    assert all(before[t.name] for t in EXTRA_TABLES), {k: len(v) for k, v in before.items()}
    target = databases(other(mode))
    # The target numbers its own rows: a log already there takes the ids the source's would have.
    there = Orchestrator(target)  # its schema
    try:
        with there.engine.begin() as conn:
            conn.execute(
                run_logs.insert().values(
                    run_id="elsewhere",
                    task_id="t",
                    node="n",
                    attempt=1,
                    at=dt.datetime.now(dt.UTC),
                    level=20,
                    logger="x",
                    message="first",
                )
            )
    finally:
        there.engine.dispose()

    path = tmp_path / "runs.jsonl"
    export_runs(config, path, None)
    loaded = import_file(target, path)
    assert sorted(loaded.imported) == sorted(ids)
    assert extra_rows(target, ids) == before
    check = verified(config, target)
    assert check.ok and check.runs == 2, check.differences
    again = import_file(target, path)
    assert again.imported == [] and sorted(again.unchanged) == sorted(ids)
    assert extra_rows(target, ids) == before

    # A log line changed on the target is a difference verify names (its id is not).
    engine = make_engine(target)
    try:
        with engine.begin() as conn:
            first = conn.scalar(select(func.min(run_logs.c.id)).where(run_logs.c.run_id == chatty))
            conn.execute(update(run_logs).where(run_logs.c.id == first).values(message="edited"))
    finally:
        engine.dispose()
    assert verified(config, target).differences == [f"{chatty}: its logs differ"]

    # Migrating to a fresh database of the other backend: the same rows, verified.
    fresh = databases(other(mode))
    moved = migrate(config, fresh)
    assert moved.verification is not None and moved.verification.ok, moved.verification
    assert sorted(moved.load.imported) == sorted(ids) and extra_rows(fresh, ids) == before

    # A file written before these rows travelled (version 1, without their keys) imports.
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["version"] = 1
    for record in lines:
        if record["kind"] == "run":
            for key in OPTIONAL_RUN_KEYS:
                del record[key]
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in lines))
    older = databases("sqlite")
    assert sorted(import_file(older, old).imported) == sorted(ids)
    assert extra_rows(older, ids) == {t.name: [] for t in EXTRA_TABLES}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"])
def test_an_import_leaves_the_tables_it_wrote_vacuumed_and_analysed(
    mode: str, databases: Any, tmp_path: Path
) -> None:
    """So the first pages after a move are as fast as on a settled database (bench.transfer's
    `pages` step has the figures): PostgreSQL's tables written vacuumed and analysed by the import
    itself (last_vacuum: a VACUUM that was asked for, not autovacuum's), only those; SQLite analysed."""
    from sqlalchemy import text

    source_config = databases(mode)
    orch = Orchestrator(source_config)
    created = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    orch.store.insert_many(
        [
            {"run_id": f"r{n}", "workflow": "simulate", "status": "succeeded", "created_at": created}
            for n in range(20)
        ]
    )
    orch.engine.dispose()
    path = tmp_path / "runs.jsonl"
    export_runs(source_config, path)
    target = databases(mode)
    assert import_file(target, path).runs == 20
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            if mode == "postgres":
                done = set(
                    conn.scalars(
                        text(
                            "SELECT relname FROM pg_stat_user_tables "
                            "WHERE last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
                        )
                    )
                )
                assert {"runs", "run_tasks", "rollup_status", "checkpoints", "checkpoint_writes"} <= done
                assert "workers" not in done and "alembic_version" not in done
            else:
                analysed = set(conn.scalars(text("SELECT tbl FROM sqlite_stat1")))
                assert "runs" in analysed
    finally:
        engine.dispose()
