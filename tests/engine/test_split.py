from __future__ import annotations

import asyncio

from sidecar.engine.splitter import chunked, run_bounded

from .fakes import FakeService, make_engine, make_model, vectors


def test_chunked() -> None:
    assert chunked(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert chunked(["a"], 0) == [["a"]]


async def test_large_input_is_split_and_reassembled_in_order() -> None:
    engine, _ = make_engine()
    service = FakeService(limit=3)
    inputs = [f"text {i}" for i in range(10)]

    results = await engine.infer(service, make_model(), inputs)

    assert results == vectors(inputs)
    assert sorted(len(call) for call in service.calls) == [1, 3, 3, 3]
    assert sorted(text for call in service.calls for text in call) == sorted(inputs)


async def test_pieces_in_flight_are_bounded_per_request() -> None:
    engine, _ = make_engine(max_batch_concurrency=3)
    service = FakeService(limit=1, delay=0.005)
    inputs = [f"t{i}" for i in range(10)]

    results = await engine.infer(service, make_model(), inputs)

    assert results == vectors(inputs)
    assert len(service.calls) == 10
    assert service.max_in_flight == 3


async def test_duplicate_inputs_are_sent_once() -> None:
    engine, _ = make_engine(cache_enabled=False)
    service = FakeService()

    results = await engine.infer(service, make_model(), ["a", "b", "a", "a"])

    assert results == vectors(["a", "b", "a", "a"])
    assert service.calls == [["a", "b"]]


async def test_empty_input_makes_no_call() -> None:
    engine, _ = make_engine()
    service = FakeService()
    assert await engine.infer(service, make_model(), []) == []
    assert service.calls == []


async def test_failed_piece_abandons_the_others() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[list]] = []

    def submit(chunk: list[str]) -> asyncio.Future[list]:
        future: asyncio.Future[list] = loop.create_future()
        futures.append(future)
        return future

    async def fail_first() -> None:
        await asyncio.sleep(0)
        futures[0].set_exception(RuntimeError("boom"))

    task = asyncio.ensure_future(run_bounded([["a"], ["b"], ["c"]], submit, 2))
    await fail_first()
    try:
        await task
    except RuntimeError as error:
        assert str(error) == "boom"
    else:
        raise AssertionError("expected the failure")
    assert len(futures) == 2
    assert futures[1].cancelled()
