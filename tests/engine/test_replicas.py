from __future__ import annotations

from typing import Any

from sidecar.engine.replicas import EsReplicaCounter, StaticReplicaCounter, live_replicas


class FakeResponse:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


class FakeEs:
    """The slice of AsyncElasticsearch the replica counter uses: one index of documents."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.fail = False

    def options(self, **_: Any) -> FakeEs:
        return self

    async def index(self, *, index: str, id: str, document: dict[str, Any], refresh: bool) -> None:
        if self.fail:
            raise ConnectionError("cluster down")
        self.docs[id] = document

    async def search(self, *, index: str, query: dict[str, Any], size: int) -> FakeResponse:
        assert query == {"match_all": {}}
        hits = [{"_id": doc_id, "_source": doc} for doc_id, doc in list(self.docs.items())[:size]]
        return FakeResponse({"hits": {"hits": hits}})

    async def delete(self, *, index: str, id: str, refresh: bool = False) -> None:
        self.docs.pop(id, None)


def test_static_counter() -> None:
    assert StaticReplicaCounter(3).count() == 3
    assert StaticReplicaCounter(0).count() == 1


def test_live_replicas_counts_recent_heartbeats_and_lists_long_gone_ones() -> None:
    now = 1_000_000.0
    docs = [
        {"replica_id": "a", "seen_at": now - 5_000},
        {"replica_id": "b", "seen_at": now - 29_000},
        {"replica_id": "c", "seen_at": now - 31_000},  # missed three heartbeats
        {"replica_id": "d", "seen_at": now - 200_000},  # long gone
        {"replica_id": "e"},
    ]
    assert live_replicas(docs, "me", now, 10.0) == (3, ["d"])
    assert live_replicas([], "me", now, 10.0) == (1, [])


async def test_es_counter_writes_heartbeats_and_counts_live_replicas() -> None:
    es = FakeEs()
    now = [1000.0]
    first = EsReplicaCounter(es, ".sidecar-replicas", "one", 10.0, clock=lambda: now[0])  # type: ignore[arg-type]
    second = EsReplicaCounter(es, ".sidecar-replicas", "two", 10.0, clock=lambda: now[0])  # type: ignore[arg-type]
    es.docs["old"] = {"replica_id": "old", "seen_at": 1_000}

    await first.beat()
    await second.beat()
    await first.beat()

    assert es.docs["one"] == {"replica_id": "one", "seen_at": 1_000_000}
    assert "old" not in es.docs
    assert (first.count(), second.count()) == (2, 2)

    now[0] += 45.0
    await first.beat()
    assert first.count() == 1


async def test_es_counter_keeps_the_last_count_when_the_cluster_fails() -> None:
    es = FakeEs()
    counter = EsReplicaCounter(es, ".r", "one", 10.0)  # type: ignore[arg-type]
    es.docs["two"] = {"replica_id": "two", "seen_at": 10**15}
    await counter.beat()
    assert counter.count() == 2

    es.fail = True
    await counter.beat()
    assert counter.count() == 2


async def test_es_counter_start_and_close() -> None:
    es = FakeEs()
    counter = EsReplicaCounter(es, ".r", "one", 3600.0)  # type: ignore[arg-type]
    await counter.start()
    assert "one" in es.docs
    await counter.close()
    assert "one" not in es.docs
