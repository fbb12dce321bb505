from __future__ import annotations

import asyncio

import pytest

from sidecar.domain.errors import ElasticsearchError
from sidecar.engine.timing import format_time_value

from .fakes import FakeService, make_engine, make_model, settle


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30.0, "30s"),
        (90.0, "1.5m"),
        (0.5, "500ms"),
        (0.02, "20ms"),
        (3600.0, "1h"),
        (1.29, "1.2s"),
        (0.3, "300ms"),
        (1.05, "1s"),
        (0.0, "0s"),
    ],
)
def test_time_values_render_like_elasticsearch(seconds: float, text: str) -> None:
    assert format_time_value(seconds) == text


async def test_request_timeout_is_a_408_and_cancels_the_abandoned_call() -> None:
    engine, _ = make_engine()
    service = FakeService()
    service.gate = asyncio.Event()

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"], timeout=0.02)
    await settle()

    assert caught.value.body() == {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": "Request timed out after [20ms]"}],
            "type": "status_exception",
            "reason": "Request timed out after [20ms]",
        },
        "status": 408,
    }
    assert service.cancelled == 1


async def test_default_timeout_is_the_provider_timeout() -> None:
    engine, _ = make_engine(provider_timeout=0.01)
    service = FakeService()
    service.gate = asyncio.Event()

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"])

    assert caught.value.status == 408
    assert caught.value.reason == "Request timed out after [10ms]"


async def test_one_callers_timeout_leaves_a_merged_caller_waiting() -> None:
    engine, _ = make_engine(batch_window_ms=1)
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()

    patient = asyncio.create_task(engine.infer(service, model, ["b"], timeout=5))
    with pytest.raises(ElasticsearchError):
        await engine.infer(service, model, ["a"], timeout=0.01)
    service.gate.set()

    assert len(await patient) == 1
    assert service.cancelled == 0
