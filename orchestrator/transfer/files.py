"""Runs files in memory, for the dashboard: an export as bytes the browser downloads, and an
uploaded file previewed (what it holds, what importing it would change) before it is imported.

The work is `export_runs` and `import_file`'s, on a temporary file; errors name the upload by the
name it came with, never the temporary path.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import OrchestratorConfig
from orchestrator.db import make_engine
from orchestrator.run_queries import RunFilter
from orchestrator.transfer.loader import LoadOutcome, OnConflict, compare
from orchestrator.transfer.moving import export_runs, import_file
from orchestrator.transfer.records import TransferFileError, read_records

GZIP_MAGIC = b"\x1f\x8b"


def export_bytes(config: OrchestratorConfig, filters: RunFilter | None = None) -> bytes:
    """The runs matching `filters`, with everything that belongs to them, as a gzipped runs file."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-export-") as tmp:
        path = Path(tmp) / "runs.jsonl.gz"
        export_runs(config, path, filters)
        return path.read_bytes()


@contextmanager
def _as_file(data: bytes, name: str) -> Iterator[Path]:
    """The upload as a file (named .gz when its bytes are gzip's); errors say `name`, not the path."""
    with tempfile.TemporaryDirectory(prefix="orchestrator-import-") as tmp:
        path = Path(tmp) / ("upload.jsonl.gz" if data.startswith(GZIP_MAGIC) else "upload.jsonl")
        path.write_bytes(data)
        try:
            yield path
        except TransferFileError as exc:
            raise TransferFileError(str(exc).replace(str(path), name)) from None


@dataclass
class ImportPreview:
    """What a runs file holds, and what importing it into a backend would do, run by run."""

    new: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # there already, the same: left alone
    conflicting: list[str] = field(default_factory=list)  # there already with other content
    checkpoints: int = 0
    writes: int = 0
    presets: int = 0

    @property
    def runs(self) -> int:
        return len(self.new) + len(self.unchanged) + len(self.conflicting)

    def sentence(self) -> str:
        held = (
            f"The file holds {self.runs:,} run{'s' * (self.runs != 1)} ({self.checkpoints:,} checkpoints, "
            f"{self.writes:,} pending writes, {self.presets:,} presets)"
        )
        return (
            f"{held}: {len(self.new):,} new, {len(self.unchanged):,} already here unchanged, "
            f"{len(self.conflicting):,} already here with other content."
        )


def preview_import(config: OrchestratorConfig, data: bytes, name: str) -> ImportPreview:
    """Read the whole upload (refused with its line number if corrupt, cut short or of a newer
    format) and compare each run with the backend's copy; nothing is written."""
    preview = ImportPreview()
    with _as_file(data, name) as path:
        engine = make_engine(config, read_only=True)
        try:
            for _number, record in read_records(path):
                kind = record["kind"]
                if kind == "run":
                    found = compare(engine, record)
                    run_id = record["row"]["run_id"]
                    {"new": preview.new, "same": preview.unchanged, "other": preview.conflicting}[found].append(
                        run_id
                    )
                elif kind == "checkpoint":
                    preview.checkpoints += 1
                elif kind == "writes":
                    preview.writes += len(record["writes"])
                elif kind == "preset":
                    preview.presets += 1
        finally:
            engine.dispose()
    return preview


def import_bytes(
    config: OrchestratorConfig, data: bytes, name: str, *, on_conflict: OnConflict | None = None
) -> LoadOutcome:
    """`import_file` of the upload (its checks, its all-or-nothing runs, the target settled)."""
    with _as_file(data, name) as path:
        return import_file(config, path, on_conflict=on_conflict)
