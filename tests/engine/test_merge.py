from __future__ import annotations

import asyncio
import time

import pytest

from sidecar.domain.errors import ElasticsearchError, ProviderError
from sidecar.domain.model import Model
from sidecar.domain.results import Embedding
from sidecar.domain.service import InferenceService
from sidecar.engine.batcher import Batcher, BatchKey

from .fakes import FakeService, make_engine, make_model, sample, settle, vectors


async def test_concurrent_requests_share_one_provider_call_within_the_window() -> None:
    engine, metrics = make_engine(batch_window_ms=20)
    service = FakeService()
    model = make_model()
    requests = [[f"r{n}-a", f"r{n}-b"] for n in range(5)]

    started = time.monotonic()
    results = await asyncio.gather(*(engine.infer(service, model, inputs) for inputs in requests))
    elapsed = time.monotonic() - started

    assert len(service.calls) == 1
    assert sorted(service.calls[0]) == sorted(text for inputs in requests for text in inputs)
    assert results == [vectors(inputs) for inputs in requests]
    assert elapsed < 0.020 + 0.040
    assert sample(metrics, "sidecar_merged_requests_total", service="fake") == 5


async def test_a_full_batch_goes_at_once_without_waiting_for_the_window() -> None:
    engine, _ = make_engine(batch_window_ms=10_000)
    service = FakeService(limit=4)
    model = make_model()

    async with asyncio.timeout(1):
        results = await asyncio.gather(
            engine.infer(service, model, ["a", "b"]), engine.infer(service, model, ["c", "d"])
        )

    assert service.calls == [["a", "b", "c", "d"]]
    assert results == [vectors(["a", "b"]), vectors(["c", "d"])]


async def test_window_zero_merges_requests_of_the_same_loop_turn() -> None:
    engine, _ = make_engine(batch_window_ms=0)
    service = FakeService()
    model = make_model()

    results = await asyncio.gather(*(engine.infer(service, model, [f"x{n}"]) for n in range(3)))

    assert len(service.calls) == 1
    assert results == [vectors([f"x{n}"]) for n in range(3)]


async def test_overflowing_request_opens_another_batch() -> None:
    engine, _ = make_engine(batch_window_ms=5)
    service = FakeService(limit=3)
    model = make_model()

    results = await asyncio.gather(engine.infer(service, model, ["a", "b"]), engine.infer(service, model, ["c", "d"]))

    assert sorted(service.calls) == [["a", "b"], ["c", "d"]]
    assert results == [vectors(["a", "b"]), vectors(["c", "d"])]


async def test_shared_inputs_of_merged_requests_are_sent_once() -> None:
    engine, _ = make_engine(cache_enabled=False)
    service = FakeService()
    model = make_model()

    results = await asyncio.gather(engine.infer(service, model, ["a", "b"]), engine.infer(service, model, ["b", "c"]))

    assert service.calls == [["a", "b", "c"]]
    assert results == [vectors(["a", "b"]), vectors(["b", "c"])]


async def test_different_configurations_are_not_merged() -> None:
    engine, _ = make_engine()
    service = FakeService()

    await asyncio.gather(
        engine.infer(service, make_model(dimensions=10), ["a"]), engine.infer(service, make_model(dimensions=20), ["b"])
    )

    assert sorted(service.calls) == [["a"], ["b"]]


async def test_an_error_goes_to_every_merged_caller() -> None:
    engine, _ = make_engine(batch_window_ms=5)
    failure = ProviderError("Received an authentication error status code", status=401, upstream_message="bad key")
    service = FakeService(failures=[failure])
    model = make_model()

    outcomes = await asyncio.gather(
        *(engine.infer(service, model, [f"t{n}"]) for n in range(3)), return_exceptions=True
    )

    assert len(service.calls) == 1
    expected = {
        "error": {
            "root_cause": [
                {
                    "type": "status_exception",
                    "reason": "Received an authentication error status code for request from inference entity id "
                    "[my-model] status [401]. Error message: [bad key]",
                }
            ],
            "type": "status_exception",
            "reason": "Received an authentication error status code for request from inference entity id "
            "[my-model] status [401]. Error message: [bad key]",
        },
        "status": 401,
    }
    for outcome in outcomes:
        assert isinstance(outcome, ElasticsearchError)
        assert outcome.body() == expected


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    engine, _ = make_engine(batch_window_ms=1)
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()

    tasks = [asyncio.create_task(engine.infer(service, model, [f"t{n}"])) for n in range(3)]
    await service.called.wait()
    tasks[1].cancel()
    await settle()
    service.gate.set()

    assert await tasks[0] == vectors(["t0"])
    assert await tasks[2] == vectors(["t2"])
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert len(service.calls) == 1
    assert service.cancelled == 0


async def test_a_caller_cancelled_before_the_batch_goes_is_left_out() -> None:
    engine, _ = make_engine(batch_window_ms=10)
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()
    busy = asyncio.create_task(engine.infer(service, model, ["busy"]))
    await service.called.wait()

    leaving = asyncio.create_task(engine.infer(service, model, ["gone"]))
    staying = asyncio.create_task(engine.infer(service, model, ["kept"]))
    await settle()
    leaving.cancel()
    service.gate.set()

    assert await staying == vectors(["kept"])
    assert await busy == vectors(["busy"])
    assert service.calls == [["busy"], ["kept"]]


async def test_an_idle_model_does_not_wait_for_the_window() -> None:
    engine, _ = make_engine(batch_window_ms=10_000)
    service = FakeService()

    async with asyncio.timeout(1):
        assert await engine.infer(service, make_model(), ["alone"]) == vectors(["alone"])


async def test_requests_arriving_during_a_call_wait_for_the_window_and_merge() -> None:
    engine, _ = make_engine(batch_window_ms=30)
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()
    first = asyncio.create_task(engine.infer(service, model, ["first"]))
    await service.called.wait()

    later = [asyncio.create_task(engine.infer(service, model, [f"later{n}"])) for n in range(3)]
    await asyncio.sleep(0.005)
    service.gate.set()
    await asyncio.gather(first, *later)

    assert service.calls == [["first"], ["later0", "later1", "later2"]]


async def test_merging_stops_at_max_merged_inputs_but_one_request_keeps_its_whole_list() -> None:
    engine, _ = make_engine(batch_window_ms=0, max_merged_inputs=2)
    service = FakeService()
    model = make_model()

    await asyncio.gather(*(engine.infer(service, model, [f"x{n}"]) for n in range(5)))
    assert sorted(len(call) for call in service.calls) == [1, 2, 2]

    service.calls.clear()
    assert await engine.infer(service, model, ["a", "b", "c", "d"]) == vectors(["a", "b", "c", "d"])
    assert service.calls == [["a", "b", "c", "d"]]


async def test_the_call_is_cancelled_when_every_caller_has_gone() -> None:
    engine, _ = make_engine()
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()

    tasks = [asyncio.create_task(engine.infer(service, model, [f"t{n}"])) for n in range(2)]
    await service.called.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await settle()

    assert service.cancelled == 1


async def test_a_batch_whose_callers_left_before_it_started_takes_no_one_else() -> None:
    calls: list[list[str]] = []

    async def run(
        _key: BatchKey, _service: InferenceService, _model: Model, texts: list[str], _shared: bool
    ) -> list[Embedding]:
        calls.append(texts)
        return list(vectors(texts))

    batcher = Batcher(0.0, run, lambda _service, _requests: None, max_merged=3)
    service, model, key = FakeService(), make_model(), ("my-model", "fingerprint")
    gone = batcher.submit(key, service, model, ["gone"], 10, object())
    (task,) = batcher._running  # an idle key's batch is due at once: its task exists, and, the race under test,
    task.cancel()  # is cancelled before its first step
    await settle()
    assert gone.exception() is not None  # its caller is told (the engine is closing), not left waiting

    kept = batcher.submit(key, service, model, ["kept"], 10, object())

    assert await asyncio.wait_for(kept, 1.0) == vectors(["kept"])
    assert calls == [["kept"]]


async def test_a_request_right_after_a_refused_call_gets_its_own_answer() -> None:
    async def run(
        _key: BatchKey, _service: InferenceService, _model: Model, texts: list[str], _shared: bool
    ) -> list[Embedding]:
        return list(vectors(texts))

    refusal = ElasticsearchError(429, "status_exception", "Rate limit exceeded")

    async def refuse(_key: BatchKey, _service: InferenceService, _model: Model) -> None:
        raise refusal

    batcher = Batcher(0.0, run, lambda _service, _requests: None, max_merged=4, gate=refuse)
    service, model, key = FakeService(), make_model(), ("my-model", "fingerprint")
    first = batcher.submit(key, service, model, ["a"], 10, object())
    await asyncio.sleep(0)  # the batch is due: its task runs next turn
    later: list[asyncio.Future[list[Embedding]]] = []
    # Queued behind the task's first step, so it runs in the same turn as the refusal, before anything else.
    asyncio.get_running_loop().call_soon(lambda: later.append(batcher.submit(key, service, model, ["b"], 10, object())))
    await settle()

    assert first.exception() is refusal
    assert later[0].exception() is refusal  # refused in its own right, not failed along with a batch that is over


async def test_a_rejected_input_fails_only_the_request_that_sent_it() -> None:
    rejected = ProviderError("Received an input validation error response", status=400, upstream_message="no 'bad'")

    class Rejecting(FakeService):
        async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
            self.calls.append(list(inputs))
            if "bad" in inputs:
                raise rejected
            return vectors(inputs)

    engine, _ = make_engine(batch_window_ms=5)
    service, model = Rejecting(), make_model()

    bad, good = await asyncio.gather(
        engine.infer(service, model, ["bad"]), engine.infer(service, model, ["good"]), return_exceptions=True
    )

    assert good == vectors(["good"])
    assert isinstance(bad, ElasticsearchError) and bad.status == 400 and bad.__cause__ is rejected
    assert service.calls == [["bad", "good"], ["bad"], ["good"]]


async def test_a_failure_that_is_everybodys_is_not_sent_again() -> None:
    for failure in (
        ProviderError("Received a rate limit status code", status=429),
        ProviderError("Received a server error status code", status=503),
        ProviderError("Received an authentication error status code", status=401),
    ):
        engine, _ = make_engine(batch_window_ms=5, retry_timeout=0.0)
        service = FakeService(failures=[failure])

        outcomes = await asyncio.gather(
            *(engine.infer(service, make_model(), [f"t{n}"]) for n in range(2)), return_exceptions=True
        )

        assert service.calls == [["t0", "t1"]]
        assert all(isinstance(outcome, ElasticsearchError) for outcome in outcomes)


async def test_each_request_sent_on_its_own_takes_its_own_turn() -> None:
    calls: list[tuple[list[str], bool]] = []
    turns = 0
    too_large = ProviderError("Received a content too large status code", status=413, content_too_large=True)

    async def run(
        _key: BatchKey, _service: InferenceService, _model: Model, texts: list[str], shared: bool
    ) -> list[Embedding]:
        calls.append((texts, shared))
        if shared:
            raise ElasticsearchError(400, "status_exception", "too large") from too_large
        return list(vectors(texts))

    async def gate(_key: BatchKey, _service: InferenceService, _model: Model) -> None:
        nonlocal turns
        turns += 1

    batcher = Batcher(0.0, run, lambda _service, _requests: None, max_merged=8, gate=gate, alone=lambda _: True)
    service, model, key = FakeService(), make_model(), ("my-model", "fingerprint")
    one = batcher.submit(key, service, model, ["a", "b"], 10, "request-1")
    two = batcher.submit(key, service, model, ["b", "c"], 10, "request-2")

    assert await asyncio.wait_for(asyncio.gather(one, two), 1.0) == [vectors(["a", "b"]), vectors(["b", "c"])]
    assert calls == [(["a", "b", "c"], True), (["a", "b"], False), (["b", "c"], False)]
    assert turns == 3
