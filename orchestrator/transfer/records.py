"""The portable file of runs: JSON Lines, one record per line, the kind named by `kind`.

    header      format, version, the source's versions (first line)
    preset      a `presets` row that a run below names (before the first such run)
    run         a `runs` row with its rows of the per-run tables (ROW_TABLES): `run_tasks`,
                `run_answers` and (optional keys: a version-1 file has none) `run_edits`,
                `run_metrics`, `run_logs`, `run_model_calls`, `run_task_io`
    checkpoint  one checkpoint of the run's thread, any namespace: the saver's serde type and
                bytes (base64) of the checkpoint, its metadata (JSON), its parent's id
    writes      one task's pending writes on one checkpoint: [channel, serde type, base64]
    run_end     the run's record count (a run is whole only with it)
    end         how many runs the file holds (last line: a file cut short has none)

A run's records are contiguous: run, its checkpoints and writes, run_end. Rows are the tables'
columns, times as ISO 8601 UTC text, JSON columns as JSON. A table's autoincrement `id` is in
the file (the rows come in its order) but never loaded: the target numbers the rows itself.
A reader refuses a line it cannot read with the line's number (`TransferFileError`).

Version 2 added the optional run keys (an older reader would import such a file without them);
a version-1 file reads as runs without those rows.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Table

from orchestrator.db.schema import (
    UTCDateTime,
    presets,
    run_answers,
    run_edits,
    run_logs,
    run_metrics,
    run_model_calls,
    run_task_io,
    run_tasks,
    runs,
)
from orchestrator.errors import OrchestratorError

FORMAT = "orchestrator-runs"
FORMAT_VERSION = 2
# A run's rows in the per-run tables: (table, the run record's key, the order of its rows). A
# table ordered by an autoincrement `id` keeps that order, never the ids (`numbered`).
ROW_TABLES: tuple[tuple[Table, str, tuple[str, ...]], ...] = (
    (run_tasks, "tasks", ("task_id", "attempt")),
    (run_answers, "answers", ("interrupt_id",)),
    (run_edits, "edits", ("id",)),
    (run_metrics, "metrics", ("name", "step")),
    (run_logs, "logs", ("id",)),
    (run_model_calls, "model_calls", ("id",)),
    (run_task_io, "task_io", ("task_id", "attempt")),
)
# The run keys a file may leave out (written before those tables travelled): read as no rows.
OPTIONAL_RUN_KEYS = ("edits", "metrics", "logs", "model_calls", "task_io")
KINDS = ("header", "preset", "run", "checkpoint", "writes", "run_end", "end")
# What each record must hold (besides `kind`).
REQUIRED: dict[str, tuple[str, ...]] = {
    "header": ("format", "version"),
    "preset": ("row",),
    "run": ("row", *(key for _, key, _ in ROW_TABLES if key not in OPTIONAL_RUN_KEYS)),
    "checkpoint": ("run_id", "ns", "id", "parent_id", "checkpoint", "metadata"),
    "writes": ("run_id", "ns", "checkpoint_id", "task_id", "writes"),
    "run_end": ("run_id", "records"),
    "end": ("runs",),
}
VERSIONED_PACKAGES = (
    "orchestrator",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
)


class TransferFileError(OrchestratorError):
    """A file that is not a whole runs file of a version this package reads (says the line)."""


def package_versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


# -- rows --------------------------------------------------------------------------------------


def encode_row(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as JSON values: times as ISO text, the rest as they are (JSON columns are JSON)."""
    out: dict[str, Any] = {}
    for column in table.c:
        value = row.get(column.name)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat()
        out[column.name] = value
    return out


def decode_row(table: Table, data: Any, what: str) -> dict[str, Any]:
    """A row back from its JSON; ValueError (with the column) for a row that does not fit."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not an object")
    unknown = set(data) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{what} has columns this version does not know: {', '.join(sorted(unknown))}")
    row: dict[str, Any] = {}
    for column in table.c:
        value = data.get(column.name)
        if value is not None and isinstance(column.type, UTCDateTime):
            if not isinstance(value, str):
                raise ValueError(f"{what}.{column.name} is not a time")
            value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError(f"{what}.{column.name} has no time zone")
        if value is None and not column.nullable and column.default is None and not column.primary_key:
            raise ValueError(f"{what}.{column.name} is missing")
        row[column.name] = value
    return row


def numbered(table: Table) -> bool:
    """Whether the table's rows have an autoincrement `id` (left out when loading, comparing)."""
    return "id" in table.c and table.c.id.primary_key


def run_part(record: Mapping[str, Any], key: str) -> Any:
    """The run record's rows under `key` (an optional key left out: no rows)."""
    return record.get(key, []) if key in OPTIONAL_RUN_KEYS else record[key]


def typed(pair: tuple[str, bytes]) -> list[str]:
    """A serde (type, bytes) pair as JSON: [type, base64]."""
    return [pair[0], base64.b64encode(pair[1]).decode("ascii")]


def untyped(value: Any, what: str) -> tuple[str, bytes]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ValueError(f"{what} is not a [type, base64] pair")
    try:
        return value[0], base64.b64decode(value[1], validate=True)
    except (ValueError, TypeError):
        raise ValueError(f"{what} is not valid base64") from None


# -- files -------------------------------------------------------------------------------------


def _is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


def _open(path: Path, mode: str, *, gzipped: bool) -> IO[Any]:
    """The file as text (through gzip when `gzipped`); the caller closes it."""
    if gzipped:
        return cast(IO[Any], gzip.open(path, mode + "t", encoding="utf-8"))
    return open(path, mode, encoding="utf-8")


class RecordWriter:
    """Writes records, one JSON line each, to a file (gzip when its name ends in .gz)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.lines = 0

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.lines += 1


@contextmanager
def open_writer(path: str | Path) -> Iterator[RecordWriter]:
    """A writer to `path`, written to `path.partial` and renamed when whole (no half file stays)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        raw = _open(partial, "w", gzipped=_is_gzip(target))
    except OSError as exc:
        raise OrchestratorError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    try:
        with raw:
            yield RecordWriter(raw)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def read_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of every line of the file, checked; TransferFileError names the line.

    The first line must be a header of this format and a version this package reads, the last
    an `end` record; a run's records must be whole (run ... run_end) and in order.
    """
    source = Path(path)
    try:
        raw = _open(source, "r", gzipped=_is_gzip(source))
    except OSError as exc:
        raise TransferFileError(f"Cannot read {source}: {exc.strerror or exc}.") from None
    number = 0
    current: str | None = None
    seen_in_run = 0
    runs = 0
    ended = False
    try:
        with raw:
            for number, line in enumerate(raw, start=1):
                record = _parse(line, number, source)
                kind = record["kind"]
                if number == 1:
                    _check_header(record, number, source)
                elif kind == "header":
                    raise TransferFileError(f"{source} line {number}: a second header.")
                if ended:
                    raise TransferFileError(f"{source} line {number}: a record after the end record.")
                if kind in ("checkpoint", "writes", "run_end"):
                    if current is None or record["run_id"] != current:
                        raise TransferFileError(
                            f"{source} line {number}: a {kind} record outside its run's records."
                        )
                    seen_in_run += 1
                    if kind == "run_end":
                        if record["records"] != seen_in_run - 1:
                            raise TransferFileError(
                                f"{source} line {number}: run {current} should have "
                                f"{record['records']} records, the file has {seen_in_run - 1}."
                            )
                        current = None
                        runs += 1
                elif kind in ("run", "preset", "end") and current is not None:
                    raise TransferFileError(f"{source} line {number}: run {current} is not finished.")
                try:
                    check_content(record)
                except ValueError as exc:
                    raise TransferFileError(f"{source} line {number}: {exc}; the file is corrupt.") from None
                if kind == "run":
                    run_id = record["row"].get("run_id") if isinstance(record["row"], dict) else None
                    if not isinstance(run_id, str) or not run_id:
                        raise TransferFileError(f"{source} line {number}: a run without a run_id.")
                    current, seen_in_run = run_id, 0
                if kind == "end":
                    if record["runs"] != runs:
                        raise TransferFileError(
                            f"{source} line {number}: the end record counts {record['runs']} runs, "
                            f"the file has {runs}."
                        )
                    ended = True
                yield number, record
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise TransferFileError(
            f"{source} line {number + 1}: cannot be read ({type(exc).__name__}); the file is cut short or corrupt."
        ) from None
    if number == 0:
        raise TransferFileError(f"{source} line 1: the file is empty.")
    if not ended:
        raise TransferFileError(
            f"{source} line {number + 1}: the end record is missing; the file is cut short."
        )


def check_content(record: dict[str, Any]) -> None:
    """ValueError (saying what) unless the record's rows fit the tables and its payloads are
    [type, base64] pairs."""
    kind = record["kind"]
    if kind == "preset":
        decode_row(presets, record["row"], "the preset")
    elif kind == "run":
        decode_row(runs, record["row"], "the run")
        for table, key, _ in ROW_TABLES:
            rows = run_part(record, key)
            if not isinstance(rows, list):
                raise ValueError(f"the run's {key} is not a list")
            for row in rows:
                decode_row(table, row, f"a row of the run's {key}")
    elif kind == "checkpoint":
        untyped(record["checkpoint"], "the checkpoint")
        if not isinstance(record["metadata"], dict):
            raise ValueError("the checkpoint's metadata is not an object")
        for key in ("run_id", "ns", "id"):
            if not isinstance(record[key], str):
                raise ValueError(f"the checkpoint's {key} is not text")
    elif kind == "writes":
        if not isinstance(record["writes"], list) or not isinstance(record["task_id"], str):
            raise ValueError("the writes are not a list")
        for write in record["writes"]:
            if not (isinstance(write, list) and len(write) == 3 and isinstance(write[0], str)):
                raise ValueError("a write is not [channel, type, base64]")
            untyped(write[1:], "a write")
    elif kind in ("run_end", "end"):
        count = record["records" if kind == "run_end" else "runs"]
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"the {kind} record's count is not a number")


def _parse(line: str, number: int, source: Path) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TransferFileError(
            f"{source} line {number}: not valid JSON ({exc.msg}); the file is corrupt."
        ) from None
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise TransferFileError(f"{source} line {number}: not a record of a kind this version reads.")
    missing = [key for key in REQUIRED[record["kind"]] if key not in record]
    if missing:
        raise TransferFileError(
            f"{source} line {number}: a {record['kind']} record without {', '.join(missing)}."
        )
    return record


def _check_header(record: dict[str, Any], number: int, source: Path) -> None:
    if record["kind"] != "header" or record.get("format") != FORMAT:
        raise TransferFileError(f"{source} line {number}: not an orchestrator runs file (no header).")
    got = record.get("version")
    if not isinstance(got, int) or got > FORMAT_VERSION or got < 1:
        raise TransferFileError(
            f"{source} line {number}: format version {got!r}; this orchestrator reads version {FORMAT_VERSION} "
            "and older: upgrade it to import this file."
        )


def header(source_backend: str, schema: str | None) -> dict[str, Any]:
    return {
        "kind": "header",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": {"backend": source_backend, "schema": schema, "packages": package_versions()},
    }
