from __future__ import annotations

import random

import pytest

from sidecar.domain.errors import ElasticsearchError, ProviderError
from sidecar.engine.retry import RetryPolicy

from .fakes import FakeClock, FakeService, make_engine, make_model, sample, vectors


def rate_limited(retry_after: float | None = None) -> ProviderError:
    return ProviderError("Received a rate limit status code", status=429, retryable=True, retry_after=retry_after)


def test_backoff_is_full_jitter_below_a_doubling_bound() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, timeout=30.0)
    rng = random.Random(7)
    for failures, bound in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (50, 5.0)]:
        delays = [policy.backoff(failures, rng) for _ in range(200)]
        assert all(0.0 <= delay <= bound for delay in delays)
        assert max(delays) > bound * 0.8


async def test_retryable_errors_are_retried_and_retry_after_is_honoured() -> None:
    clock = FakeClock()
    engine, metrics = make_engine(clock)
    service = FakeService(failures=[rate_limited(retry_after=3.0), rate_limited()])

    assert await engine.infer(service, make_model(), ["a"]) == vectors(["a"])

    assert len(service.calls) == 3
    assert len(clock.sleeps) == 2
    assert clock.sleeps[0] >= 3.0
    assert clock.sleeps[1] <= 2.0
    assert sample(metrics, "sidecar_provider_retries_total", service="fake") == 2
    assert sample(metrics, "sidecar_provider_calls_total", service="fake", outcome="error") == 2
    assert sample(metrics, "sidecar_provider_calls_total", service="fake", outcome="success") == 1


async def test_budget_exhaustion_raises_the_last_error() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock, retry_timeout=10.0)
    service = FakeService(failures=[rate_limited() for _ in range(1000)])

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"])

    reason = "Received a rate limit status code for request from inference entity id [my-model] status [429]"
    assert caught.value.body() == {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": reason}],
            "type": "status_exception",
            "reason": reason,
        },
        "status": 429,
    }
    assert sum(clock.sleeps) <= 10.0 + 1e-9
    assert len(service.calls) == len(clock.sleeps) + 1 > 2


async def test_retry_after_beyond_the_budget_fails_at_once() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock, retry_timeout=10.0)
    service = FakeService(failures=[rate_limited(retry_after=60.0)])

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"])

    assert caught.value.status == 429
    assert clock.sleeps == []
    assert len(service.calls) == 1


async def test_non_retryable_errors_are_raised_at_once() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock)
    failure = ProviderError("Received a server error status code", status=500)
    service = FakeService(failures=[failure])

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"])

    assert caught.value.status == 400
    assert caught.value.reason == (
        "Received a server error status code for request from inference entity id [my-model] status [500]"
    )
    assert clock.sleeps == []
    assert len(service.calls) == 1


async def test_elasticsearch_errors_pass_through_unchanged() -> None:
    engine, _ = make_engine()
    failure = ElasticsearchError(409, "status_exception", "deployment is not started")
    service = FakeService(failures=[failure])

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["a"])

    assert caught.value is failure


async def test_content_too_large_is_final_here() -> None:
    engine, _ = make_engine()
    too_large = ProviderError("Received an input validation error response", status=413, content_too_large=True)
    service = FakeService(failures=[too_large])

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, make_model(), ["abcdef"])

    assert caught.value.status == 413
    assert len(service.calls) == 1


async def test_a_wrong_result_count_is_an_illegal_state() -> None:
    engine, _ = make_engine()

    class Short(FakeService):
        async def infer(self, model, inputs):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(Short(), make_model(), ["a"])

    assert (caught.value.status, caught.value.error_type) == (500, "illegal_state_exception")
