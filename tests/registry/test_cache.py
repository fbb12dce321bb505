import asyncio
import contextlib

from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.task_type import TaskType
from sidecar.registry.cache import ModelCache


def make_model(model_id: str) -> Model:
    return Model(ModelConfig(model_id, TaskType.TEXT_EMBEDDING, "openai", {}, {}), {"api_key": "k"})


async def test_ttl_bounds_staleness_and_concurrent_misses_share_one_load() -> None:
    now = [0.0]
    loads: list[str] = []

    async def loader(model_id: str) -> Model:
        loads.append(model_id)
        await asyncio.sleep(0.01)
        return make_model(model_id)

    lookups: list[bool] = []
    cache = ModelCache(loader, ttl=5.0, on_lookup=lookups.append, clock=lambda: now[0])
    first = await asyncio.gather(*(cache.get("m") for _ in range(5)))
    assert loads == ["m"] and all(model is first[0] for model in first)
    now[0] = 4.9
    await cache.get("m")
    assert loads == ["m"]
    now[0] = 5.1
    await cache.get("m")
    assert loads == ["m", "m"]
    cache.invalidate("m")
    await cache.get("m")
    assert loads == ["m", "m", "m"]
    assert lookups == [False] * 5 + [True, False, False]


async def test_failed_loads_are_not_cached() -> None:
    calls = 0

    async def loader(model_id: str) -> Model:
        nonlocal calls
        calls += 1
        raise KeyError(model_id)

    cache = ModelCache(loader, ttl=5.0)
    for _ in range(2):
        with contextlib.suppress(KeyError):
            await cache.get("x")
    assert calls == 2
