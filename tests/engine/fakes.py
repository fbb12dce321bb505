"""Fakes for the engine tests: a provider, a clock with an instant sleep, settings and metrics helpers."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, ClassVar, cast

from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import Embedding, SparseEmbedding, TextEmbedding
from sidecar.domain.service import InferenceService, ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.engine import InferenceEngine
from sidecar.engine.replicas import ReplicaCounter
from sidecar.observability.metrics import Metrics
from sidecar.settings import Settings


def vector(text: str) -> TextEmbedding:
    digest = hashlib.sha256(text.encode()).digest()
    return TextEmbedding([float(len(text)), float(int.from_bytes(digest[:4], "big"))])


def vectors(texts: list[str]) -> list[Embedding]:
    return [vector(text) for text in texts]


def make_model(model_id: str = "my-model", **service_settings: Any) -> Model:
    settings = {"model_id": "text-embedding-3-small", **service_settings}
    return Model(ModelConfig(model_id, TaskType.TEXT_EMBEDDING, "fake", settings, {}), {"api_key": "secret"})


class FakeService(InferenceService):
    name = "fake"
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.TEXT_EMBEDDING, TaskType.SPARSE_EMBEDDING})

    def __init__(self, *, limit: int = 2048, delay: float = 0.0, failures: list[Exception] | None = None) -> None:
        super().__init__(cast(ServiceContext, None))
        self.limit = limit
        self.delay = delay
        self.failures = list(failures or [])
        self.calls: list[list[str]] = []
        self.called = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.sparse = False

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        raise NotImplementedError

    def batch_limit(self, model: Model) -> int:
        return self.limit

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        self.calls.append(list(inputs))
        self.called.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if self.failures:
            raise self.failures.pop(0)
        if self.sparse:
            return [SparseEmbedding({text: 1.0}) for text in inputs]
        return vectors(inputs)


class RateLimitedService(FakeService):
    default_requests_per_minute: ClassVar[int | None] = 60


class FakeClock:
    """A monotonic clock whose sleep advances it at once; `hold` makes sleeps block until released."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.hold: asyncio.Event | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.hold is not None:
            await self.hold.wait()
        self.now += seconds
        await asyncio.sleep(0)


def make_settings(**overrides: Any) -> Settings:
    defaults: dict[str, Any] = {"batch_window_ms": 0.0}
    return Settings(**{**defaults, **overrides})


def make_engine(
    clock: FakeClock | None = None, replicas: ReplicaCounter | None = None, **overrides: Any
) -> tuple[InferenceEngine, Metrics]:
    metrics = Metrics("test")
    clock = clock or FakeClock()
    engine = InferenceEngine(make_settings(**overrides), metrics, replicas, clock=clock, sleep=clock.sleep)
    return engine, metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def settle(turns: int = 5) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)
