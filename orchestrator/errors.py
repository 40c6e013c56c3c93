"""Errors a user can cause. Each message is one sentence that says what is wrong and how to fix it."""

from __future__ import annotations


class OrchestratorError(Exception):
    """An error a user can cause; its message is one sentence saying how to fix it."""


class ConfigError(OrchestratorError):
    """The configuration cannot be used (unknown mode, missing URI, bad path)."""


class DatabaseError(OrchestratorError):
    """The database does not answer, refuses the login, or does not exist."""


class InputError(OrchestratorError):
    """Invalid workflow input; `field_errors` maps a field path to its message."""

    def __init__(self, message: str, field_errors: dict[str, str] | None = None):
        super().__init__(message)
        self.field_errors = field_errors or {}


class RunNotFound(OrchestratorError):
    """No run has the given id."""


class InvalidOperation(OrchestratorError):
    """The operation does not apply to the run in its current status."""


class ReadOnlyError(OrchestratorError):
    """The orchestrator is in read-only mode and refuses changes."""


class AlreadyAnswered(InvalidOperation):
    """The interrupt (or the run's question) was answered before: the first answer wins."""
