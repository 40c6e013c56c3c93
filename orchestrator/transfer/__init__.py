"""Moving runs between backends: `export_runs` to a portable file, `import_file` from one,
`migrate` from the configured backend to the other, `verify` that two hold the same runs.

- `records`: the file format (JSON Lines, a record kind per line, TransferFileError);
- `source`: runs read out of a backend as records (rows by SQLAlchemy, checkpoints by the saver);
- `loader`: records put into a backend (the saver's put / put_writes; a run whole or not at all);
- `verify`: both sides compared run by run;
- `moving`: the three operations, which open the backends from configs.
"""

from orchestrator.transfer.loader import LoadOutcome
from orchestrator.transfer.moving import (
    ExportOutcome,
    MigrationOutcome,
    export_runs,
    import_file,
    migrate,
    open_backend,
    target_config,
)
from orchestrator.transfer.records import FORMAT_VERSION, TransferFileError
from orchestrator.transfer.verify import Backend, Verification, verify

__all__ = [
    "FORMAT_VERSION",
    "Backend",
    "ExportOutcome",
    "LoadOutcome",
    "MigrationOutcome",
    "TransferFileError",
    "Verification",
    "export_runs",
    "import_file",
    "migrate",
    "open_backend",
    "target_config",
    "verify",
]
