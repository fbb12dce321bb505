from __future__ import annotations

import asyncio

import pytest

from sidecar.domain.errors import ElasticsearchError, ProviderError
from sidecar.engine.rate_limit import RateLimitQueueFull, TokenBucket, requests_per_minute
from sidecar.engine.replicas import StaticReplicaCounter

from .fakes import FakeClock, FakeService, RateLimitedService, make_engine, make_model, sample, settle, vectors


def test_limit_comes_from_settings_then_service_default() -> None:
    assert requests_per_minute(RateLimitedService(), make_model()) == 60
    assert requests_per_minute(RateLimitedService(), make_model(rate_limit={"requests_per_minute": 120})) == 120
    assert requests_per_minute(FakeService(), make_model()) is None


def test_each_replica_takes_its_share() -> None:
    replicas = StaticReplicaCounter(2)
    bucket = TokenBucket(60, replicas, 10, clock=FakeClock(), sleep=FakeClock().sleep)
    assert bucket.rate() * 60 == pytest.approx(30)
    replicas.replicas = 3
    assert bucket.rate() * 60 == pytest.approx(20)


async def test_bucket_waits_for_the_next_token_in_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, StaticReplicaCounter(2), 10, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def take(n: int) -> None:
        await bucket.acquire()
        order.append(n)

    await asyncio.gather(*(take(n) for n in range(3)))

    assert order == [0, 1, 2]
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]
    assert clock.now == pytest.approx(1004.0)


async def test_bucket_refuses_beyond_the_queue() -> None:
    clock = FakeClock()
    clock.hold = asyncio.Event()
    bucket = TokenBucket(60, StaticReplicaCounter(1), 1, clock=clock, sleep=clock.sleep)
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await settle()

    with pytest.raises(RateLimitQueueFull):
        await bucket.acquire()

    clock.hold.set()
    await waiter
    assert bucket.waiting == 0


async def test_requests_queue_for_the_rate_limit_and_are_refused_when_the_queue_is_full() -> None:
    clock = FakeClock()
    engine, metrics = make_engine(clock, StaticReplicaCounter(2), rate_limit_queue=1)
    service = RateLimitedService(limit=1)  # a call holds one text: "c" cannot ride along with the waiting "b"
    model = make_model()

    assert await engine.infer(service, model, ["a"]) == vectors(["a"])
    assert clock.sleeps == []

    clock.hold = asyncio.Event()
    queued = asyncio.create_task(engine.infer(service, model, ["b"]))
    await settle(10)
    with pytest.raises(ElasticsearchError) as caught:
        await engine.infer(service, model, ["c"])

    reason = "Rate limit exceeded for inference entity id [my-model]: the request queue is full"
    assert caught.value.body() == {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": reason}],
            "type": "status_exception",
            "reason": reason,
        },
        "status": 429,
    }
    assert sample(metrics, "sidecar_rate_limited_requests_total", service="fake") == 1

    clock.hold.set()
    assert await queued == vectors(["b"])
    assert clock.sleeps == [pytest.approx(2.0)]  # 60 rpm shared by 2 replicas: one call every 2 s
    assert service.calls == [["a"], ["b"]]


async def test_merged_requests_spend_one_token() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock, StaticReplicaCounter(60), rate_limit_queue=0)
    service = RateLimitedService()  # 1 request per minute on this replica
    model = make_model()

    results = await asyncio.gather(*(engine.infer(service, model, [f"t{n}"]) for n in range(5)))

    assert results == [vectors([f"t{n}"]) for n in range(5)]
    assert len(service.calls) == 1


async def test_requests_ride_along_with_a_call_that_waits_for_its_turn() -> None:
    clock = FakeClock()
    engine, metrics = make_engine(clock, StaticReplicaCounter(2), rate_limit_queue=2, max_merged_inputs=2)
    service = RateLimitedService(limit=5)
    model = make_model()
    assert await engine.infer(service, model, ["a"]) == vectors(["a"])  # spends this second's token

    clock.hold = asyncio.Event()
    first = asyncio.create_task(engine.infer(service, model, ["b"]))
    await settle(10)
    late = [asyncio.create_task(engine.infer(service, model, [text])) for text in "cdefg"]
    await settle(10)
    clock.hold.set()

    assert await asyncio.gather(first, *late) == [vectors([text]) for text in "bcdefg"]
    # While a call waits, merging goes past max_merged_inputs up to the provider's limit (5), all on one token.
    assert service.calls == [["a"], ["b", "c", "d", "e", "f"], ["g"]]
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]
    assert sample(metrics, "sidecar_rate_limited_requests_total", service="fake") == 0


async def test_services_without_a_limit_never_wait() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock, StaticReplicaCounter(1000), rate_limit_queue=0)
    service = FakeService()
    for n in range(5):
        await engine.infer(service, make_model(), [f"t{n}"])
    assert clock.sleeps == []


async def test_forget_drops_the_limiter() -> None:
    clock = FakeClock()
    engine, _ = make_engine(clock, rate_limit_queue=0)
    service = RateLimitedService()
    await engine.infer(service, make_model(), ["a"])

    engine.forget("my-model")

    assert await engine.infer(service, make_model(), ["b"]) == vectors(["b"])
    assert clock.sleeps == []


async def test_each_retry_waits_for_its_own_turn() -> None:
    clock = FakeClock()
    engine, metrics = make_engine(clock, StaticReplicaCounter(2), rate_limit_queue=1)
    service = RateLimitedService(
        failures=[ProviderError("Received a server error status code", status=500, retryable=True)]
    )

    assert await engine.infer(service, make_model(), ["a"]) == vectors(["a"])

    # 30 calls a minute on this replica: the first attempt spent the token, so whatever the backoff's jitter (up
    # to 1 s), the retry goes when the next token is there, 2 s after the first.
    assert service.calls == [["a"], ["a"]]
    assert clock.now == pytest.approx(1002.0)
    assert sample(metrics, "sidecar_provider_retries_total", service="fake") == 1
