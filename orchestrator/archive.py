"""An archive: another backend (an archived SQLite file, or a PostgreSQL database) opened read-only
beside the configured one, to browse its runs and compare them with live ones.

The dashboard's sidebar names one; this module decides what the name is, opens it read-only (the
read-only mode's own way: SQLite mode=ro, PostgreSQL read-only transactions, every write refused
by the stores) and says in one sentence why it cannot be opened. The location may hold a
password: it is never shown, only its `label`.

    >>> location = archive_location("old/orchestrator.db")
    >>> archive = open_archive(OrchestratorConfig(), location)
    >>> archive.store.count_runs()
    1200
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.config import OrchestratorConfig
from orchestrator.db import check_database, make_engine, schema_version
from orchestrator.db.migrate import database_label
from orchestrator.errors import ConfigError, DatabaseError, InputError
from orchestrator.operations import Orchestrator
from orchestrator.postgres_uri import URI_SCHEMES, masked_conninfo, parse_postgres_uri
from orchestrator.validation import is_run_id

# A run of the archive, where runs of both backends are named together (compare): `archive:<id>`.
ARCHIVE_PREFIX = "archive:"


@dataclass(frozen=True)
class ArchiveLocation:
    """Where an archive is: a SQLite file, or a PostgreSQL URI (`where` may hold its password)."""

    mode: Literal["sqlite", "postgres"]
    where: str = field(repr=False)
    label: str  # for people: the file's full path, or the URI with its password masked

    def __str__(self) -> str:
        return self.label


def archive_location(text: str) -> ArchiveLocation:
    """The archive a person typed: a PostgreSQL URI, or else the path of a SQLite file.

    Raises InputError (one sentence, never echoing a URI) for an empty text, a URI that does not
    parse, or a path with no file."""
    text = text.strip()
    if not text:
        raise InputError("Name an archive: the path of a SQLite file, or a PostgreSQL URI.")
    if "://" in text:
        if not text.lower().startswith(URI_SCHEMES):
            raise InputError(
                "An archive is a SQLite file's path or a postgresql:// URI; this is another kind of URI."
            )
        try:
            params = parse_postgres_uri(text)
        except ConfigError as exc:
            raise InputError(str(exc).replace("POSTGRES_URI", "The archive's URI", 1)) from None
        return ArchiveLocation("postgres", text, masked_conninfo(params))
    path = Path(text).expanduser()
    if path.is_dir():
        raise InputError(f"{str(path)[:200]!r} is a folder; give the path of an archived SQLite file.")
    if not path.is_file():
        raise InputError(
            f"No file at {str(path)[:200]!r}; give the path of an archived SQLite file (such as orchestrator.db)."
        )
    resolved = str(path.resolve())
    return ArchiveLocation("sqlite", resolved, resolved)


def archive_config(base: OrchestratorConfig, location: ArchiveLocation) -> OrchestratorConfig:
    """`base` pointed at the archive: read-only, no embedded executor."""
    config = copy.copy(base)
    config.checkpoint_mode = location.mode
    if location.mode == "sqlite":
        config.sqlite_path = location.where
    else:
        config.postgres_uri = location.where
    config.read_only = True
    config.embedded_executor = False
    try:
        config.validate()
    except ConfigError as exc:
        raise InputError(str(exc).replace("POSTGRES_URI", "The archive's URI", 1)) from None
    return config


def open_archive(base: OrchestratorConfig, location: ArchiveLocation) -> Orchestrator:
    """The archive as a read-only Orchestrator (its store, history and registry as usual).

    Raises DatabaseError in one sentence, without the password, when it does not answer, is no
    database, or holds no orchestrator tables."""
    config = archive_config(base, location)
    engine = make_engine(config, read_only=True)
    try:
        try:
            check_database(engine)
        except DatabaseError as exc:
            # The cause, without the fix meant for the configured database (SQLITE_PATH, init).
            cause = str(exc).split(";", 1)[0].rstrip(".")
            raise DatabaseError(f"{cause}; check the archive's path or URI.") from None
        if schema_version(engine) is None:
            raise DatabaseError(
                f"{database_label(engine)} holds no orchestrator runs (it has no runs table); "
                "choose a database the orchestrator wrote."
            )
        return Orchestrator(config, engine=engine)
    except BaseException:
        engine.dispose()
        raise


def run_ref(run_id: str, *, archived: bool) -> str:
    """How a run is named beside runs of the other backend: `archive:<id>` for the archive's."""
    return f"{ARCHIVE_PREFIX}{run_id}" if archived else run_id


def parse_run_ref(ref: str) -> tuple[bool, str]:
    """(whether it names the archive's run, its run id), for a `run_ref`."""
    if ref.startswith(ARCHIVE_PREFIX) and is_run_id(ref[len(ARCHIVE_PREFIX) :]):
        return True, ref[len(ARCHIVE_PREFIX) :]
    return False, ref
