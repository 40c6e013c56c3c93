"""A checkpoint saver that writes only while its executor still holds the run.

An executor that was paused (SIGSTOP, a long GC, a VM migration) or cut off from the database
may have lost its run to another executor by the time it goes on. LangGraph's savers have no
notion of who holds a thread, so this wrapper checks the claim before every checkpoint and
every task write it passes on to the real saver, and raises `ClaimLost` instead when the claim
is gone: the run stops without a step written twice. Reads pass straight through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)


class FencedSaver(BaseCheckpointSaver[Any]):
    """Wrap `saver`; `guard()` is awaited before each write and raises when the claim is lost."""

    def __init__(self, saver: BaseCheckpointSaver[Any], guard: Callable[[], Awaitable[None]]):
        super().__init__(serde=saver.serde)
        self.saver, self.guard = saver, guard

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
        await self.guard()
        return await self.saver.aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.guard()
        await self.saver.aput_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.saver.adelete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self.saver.aget_delta_channel_history(config=config, channels=channels)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.saver.get_next_version(current, channel)
