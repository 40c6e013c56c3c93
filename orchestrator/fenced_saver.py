"""A checkpoint saver that writes only while its executor still holds the run, and waits out a
short database outage instead of giving the run up.

An executor that was paused (SIGSTOP, a long GC, a VM migration) or cut off from the database
may have lost its run to another executor by the time it goes on. LangGraph's savers have no
notion of who holds a thread, so this wrapper checks the claim before every checkpoint and
every task write it passes on to the real saver, and raises `ClaimLost` instead when the claim
is gone: the run stops without a step written twice. Reads pass straight through.

A write that finds the database away shuts the executor's `WriteGate` (no task begins new work
meanwhile) and tries again, for as long as the gate's patience (the stale window) allows; the
first write that succeeds opens it. After each write it tells the run's recorder what is saved,
so a task is recorded as ended only once its result is saved.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from orchestrator.errors import OrchestratorError
from orchestrator.outage import WriteGate, backoff, is_transient
from orchestrator.validation import storable_text

T = TypeVar("T")


def _nothing(*_: Any) -> None:
    return None


# PostgreSQL's SQLSTATEs for JSON text it cannot hold: a NUL (untranslatable_character) and a
# lone surrogate (invalid_text_representation).
_REFUSED_TEXT = ("22P05", "22P02")


def unsavable_text(checkpoint: Checkpoint, exc: BaseException) -> OrchestratorError | None:
    """The error to fail a run with when PostgreSQL refused its checkpoint for the text of a
    channel (None: another failure). LangGraph's PostgreSQL saver keeps a channel whose value is
    text in the checkpoint's own JSONB, which holds no NUL and no lone surrogate; SQLite's saver
    keeps the checkpoint serialized (a NUL is kept; LangGraph's serializer writes a lone
    surrogate as `?`, on both backends, wherever it is)."""
    if getattr(exc, "sqlstate", None) not in _REFUSED_TEXT:
        return None
    channels = sorted(
        f"`{name}`"
        for name, value in checkpoint["channel_values"].items()
        if isinstance(value, str) and storable_text(value) != value
    )
    if not channels:
        return None
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return OrchestratorError(
        f"The run's state could not be saved: the text in {', '.join(channels)} holds a NUL "
        "character (\\u0000) or a lone surrogate, which LangGraph's PostgreSQL saver cannot store "
        f"(it keeps a channel's text in PostgreSQL's JSONB); remove it from that text. PostgreSQL said: {said}"
    )


class FencedSaver(BaseCheckpointSaver[Any]):
    """Wrap `saver`; `guard()` is awaited before each write and raises when the claim is lost.

    With a `gate`, a write that finds the database away waits and tries again while the gate is
    patient. `on_writes_saved(task_id)` and `on_checkpoint_saved()` are called after each write
    that succeeded."""

    def __init__(
        self,
        saver: BaseCheckpointSaver[Any],
        guard: Callable[[], Awaitable[None]],
        *,
        gate: WriteGate | None = None,
        on_writes_saved: Callable[[str], None] = _nothing,
        on_checkpoint_saved: Callable[[], None] = _nothing,
    ):
        super().__init__(serde=saver.serde)
        self.saver, self.guard, self.gate = saver, guard, gate
        self.on_writes_saved, self.on_checkpoint_saved = on_writes_saved, on_checkpoint_saved

    async def _write(self, write: Callable[[], Awaitable[T]]) -> T:
        """`write()` after the claim is checked; while the database is away (and the gate is
        patient), the gate is shut and the write tried again after its backoff, or sooner, once
        another write or the gate's probe got through."""
        failures = 0
        while True:
            began = time.monotonic()
            try:
                await self.guard()
                result = await write()
            except Exception as exc:
                if self.gate is None or not is_transient(exc):
                    raise
                self.gate.failed()
                if not self.gate.patient():
                    raise
                failures += 1
                await self.gate.reopened(backoff(failures))
                continue
            if self.gate is not None:
                self.gate.succeeded(began)
            return result

    @property
    def config_specs(self) -> list[Any]:
        return self.saver.config_specs

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.saver.aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in self.saver.alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        try:
            saved = await self._write(lambda: self.saver.aput(config, checkpoint, metadata, new_versions))
        except Exception as exc:
            clearer = unsavable_text(checkpoint, exc)
            if clearer is None:
                raise
            raise clearer from exc
        self.on_checkpoint_saved()
        return saved

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._write(lambda: self.saver.aput_writes(config, writes, task_id, task_path))
        self.on_writes_saved(task_id)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.saver.adelete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self.saver.aget_delta_channel_history(config=config, channels=channels)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.saver.get_next_version(current, channel)
