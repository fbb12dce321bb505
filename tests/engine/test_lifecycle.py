from __future__ import annotations

import asyncio

import pytest

from sidecar.domain.errors import ElasticsearchError

from .fakes import FakeService, make_engine, make_model, settle


async def test_close_fails_queued_and_running_requests_and_later_ones() -> None:
    engine, _ = make_engine(batch_window_ms=1_000)
    service = FakeService()
    service.gate = asyncio.Event()
    running = asyncio.create_task(engine.infer(service, make_model(), ["busy"]))
    await service.called.wait()
    queued = asyncio.create_task(engine.infer(service, make_model(), ["a"]))
    await settle()

    await engine.close()

    for task in (running, queued):
        with pytest.raises(ElasticsearchError) as caught:
            await task
        assert (caught.value.status, caught.value.reason) == (503, "The inference engine is shutting down")
    with pytest.raises(ElasticsearchError):
        await engine.infer(service, make_model(), ["b"])
    assert service.calls == [["busy"]]


async def test_close_cancels_running_calls() -> None:
    engine, _ = make_engine()
    service = FakeService()
    service.gate = asyncio.Event()
    running = asyncio.create_task(engine.infer(service, make_model(), ["a"]))
    await service.called.wait()

    await engine.close()

    with pytest.raises(ElasticsearchError) as caught:
        await running
    assert caught.value.status == 503
    assert service.cancelled == 1
