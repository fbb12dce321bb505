"""How many sidecar replicas are alive, so that each takes its share of a model's rate limit.

`count()` is read on the hot path and never calls the cluster: `EsReplicaCounter` refreshes its figure in the
background. Every heartbeat it writes `{replica_id, seen_at}` (epoch milliseconds) into a hidden index and counts the
replicas seen within the last three heartbeats. The search fetches all documents and filters client-side (the
stand-in cluster has no `range` query); documents of replicas gone for ten heartbeats are deleted. The index is
created by the registry bootstrap (`IndexNames.replicas`), before the first heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from elasticsearch import AsyncElasticsearch

from sidecar.engine.timing import Clock

log = structlog.get_logger(__name__)

LIVE_HEARTBEATS = 3
PURGE_HEARTBEATS = 10
MAX_REPLICAS = 1000


class ReplicaCounter(ABC):
    @abstractmethod
    def count(self) -> int:
        """Live replicas, at least 1. Cheap: called per provider call."""


class StaticReplicaCounter(ReplicaCounter):
    def __init__(self, replicas: int = 1) -> None:
        self.replicas = max(1, replicas)

    def count(self) -> int:
        return self.replicas


def live_replicas(
    documents: Iterable[Mapping[str, Any]], own_id: str, now_ms: float, heartbeat_seconds: float
) -> tuple[int, list[str]]:
    """Replicas seen within LIVE_HEARTBEATS heartbeats (this one always counts) and the ids of long-gone ones."""
    live_after = now_ms - LIVE_HEARTBEATS * heartbeat_seconds * 1000
    purge_before = now_ms - PURGE_HEARTBEATS * heartbeat_seconds * 1000
    live = {own_id}
    gone = []
    for doc in documents:
        replica_id = doc.get("replica_id")
        seen_at = doc.get("seen_at")
        if not isinstance(replica_id, str) or not isinstance(seen_at, int | float) or isinstance(seen_at, bool):
            continue
        if seen_at >= live_after:
            live.add(replica_id)
        elif seen_at < purge_before and replica_id != own_id:
            gone.append(replica_id)
    return len(live), gone


class EsReplicaCounter(ReplicaCounter):
    def __init__(
        self,
        es_client: AsyncElasticsearch,
        index: str,
        replica_id: str,
        heartbeat_seconds: float,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.es = es_client
        self.index = index
        self.replica_id = replica_id
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._count = 1
        self._task: asyncio.Task[None] | None = None

    def count(self) -> int:
        return self._count

    async def start(self) -> None:
        """First heartbeat now (failures are logged, not raised), then one every `heartbeat_seconds`."""
        await self.beat()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="replica-heartbeat")

    async def close(self) -> None:
        """Stop beating and remove this replica's document, so the others take over its share at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.es.options(ignore_status=404).delete(index=self.index, id=self.replica_id, refresh=True)
        except Exception as exc:
            log.warning("replica_heartbeat_remove_failed", index=self.index, error=str(exc))

    async def beat(self) -> None:
        try:
            now_ms = self._clock() * 1000
            await self.es.index(
                index=self.index,
                id=self.replica_id,
                document={"replica_id": self.replica_id, "seen_at": int(now_ms)},
                refresh=True,
            )
            response = await self.es.search(index=self.index, query={"match_all": {}}, size=MAX_REPLICAS)
            documents = [hit.get("_source") or {} for hit in response["hits"]["hits"]]
            self._count, gone = live_replicas(documents, self.replica_id, now_ms, self.heartbeat_seconds)
            for replica_id in gone:
                await self.es.options(ignore_status=404).delete(index=self.index, id=replica_id)
        except Exception as exc:
            # Keep the last known count; the next heartbeat tries again.
            log.warning("replica_heartbeat_failed", index=self.index, error=str(exc))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.beat()
