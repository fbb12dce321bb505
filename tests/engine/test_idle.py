"""The sidecar's event loop runs `call_when_idle` callbacks when it has nothing else to do, and a batch waiting
for its window goes then instead of at the window's end. Order-based checks: what ran before what."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sidecar.engine.idle import call_when_idle, new_event_loop, waiting

from .fakes import FakeService, make_engine, make_model, vectors

T = TypeVar("T")


def on_idle_aware_loop(main: Callable[[], Awaitable[T]]) -> T:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


def test_a_callback_runs_once_the_loop_has_nothing_ready() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        assert call_when_idle(loop, lambda: order.append("idle")) is True
        loop.call_soon(order.append, "ready work")
        await asyncio.sleep(0)  # the ready work runs on this turn; the loop then has nothing until the timer
        await asyncio.sleep(0.05)
        order.append("timer")
        return order

    assert on_idle_aware_loop(main) == ["ready work", "idle", "timer"]


def test_what_an_idle_callback_schedules_runs_at_once() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        call_when_idle(loop, lambda: loop.call_soon(order.append, "scheduled when idle"))
        await asyncio.sleep(0.2)
        order.append("after 0.2 s")
        return order

    assert on_idle_aware_loop(main) == ["scheduled when idle", "after 0.2 s"]


def test_a_failing_callback_does_not_stop_the_loop() -> None:
    def fail() -> None:
        raise RuntimeError("boom")

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        call_when_idle(loop, fail)
        call_when_idle(loop, lambda: order.append("the next callback"))
        await asyncio.sleep(0.05)
        order.append("the loop goes on")
        return order

    assert on_idle_aware_loop(main) == ["the next callback", "the loop goes on"]


async def test_on_another_loop_nothing_is_registered() -> None:
    assert call_when_idle(asyncio.get_running_loop(), lambda: None) is False


def test_a_waiting_batch_goes_when_the_loop_goes_idle_not_at_the_window_end() -> None:
    async def main() -> tuple[list[list[str]], list[str]]:
        engine, _ = make_engine(batch_window_ms=60_000)
        service = FakeService()
        service.gate = asyncio.Event()
        model = make_model()
        first = asyncio.create_task(engine.infer(service, model, ["first"]))
        await service.called.wait()  # a call of the model is in flight: the next batch would wait the window
        service.called.clear()
        second = asyncio.create_task(engine.infer(service, model, ["second"]))
        third = asyncio.create_task(engine.infer(service, model, ["third"]))
        async with asyncio.timeout(5):  # far less than the 60 s window
            await service.called.wait()
        service.gate.set()
        results = await asyncio.gather(first, second, third)
        assert results == [vectors(["first"]), vectors(["second"]), vectors(["third"])]
        return service.calls, ["merged" if len(call) > 1 else "alone" for call in service.calls]

    calls, kinds = on_idle_aware_loop(main)
    assert calls == [["first"], ["second", "third"]]  # requests of the same turn still merge
    assert kinds == ["alone", "merged"]


def test_a_loop_that_never_goes_idle_holds_one_hook_not_every_batch() -> None:
    """Under saturation the loop always has something ready: the hooks wait, and must not pile up (each would keep
    its batch and the batch's results alive until the load stops)."""

    async def main() -> tuple[int, list[int]]:
        engine, _ = make_engine(batch_window_ms=60_000, max_merged_inputs=2)
        service = FakeService()
        service.gate = asyncio.Event()
        model = make_model()
        loop = asyncio.get_running_loop()

        def keep_the_loop_busy() -> None:
            nonlocal spinner
            spinner = loop.call_soon(keep_the_loop_busy)  # something is always ready: select never blocks

        spinner = loop.call_soon(keep_the_loop_busy)
        first = asyncio.create_task(engine.infer(service, model, ["first"]))
        await service.called.wait()  # a call is in flight: new batches would wait for the window or for idle
        full = [asyncio.create_task(engine.infer(service, model, [f"a{n}", f"b{n}"])) for n in range(50)]
        await asyncio.sleep(0)
        hooks_while_busy = waiting(loop)
        service.gate.set()
        await asyncio.gather(first, *full)
        spinner.cancel()
        return hooks_while_busy, sorted(len(call) for call in service.calls)

    hooks, call_sizes = on_idle_aware_loop(main)
    assert hooks == 1
    assert call_sizes == [1] + [2] * 50  # each full batch went at once, without waiting for idle


async def test_on_another_loop_a_waiting_batch_waits_for_its_window() -> None:
    engine, _ = make_engine(batch_window_ms=200)
    service = FakeService()
    service.gate = asyncio.Event()
    model = make_model()
    first = asyncio.create_task(engine.infer(service, model, ["first"]))
    await service.called.wait()
    service.called.clear()
    second = asyncio.create_task(engine.infer(service, model, ["second"]))
    await asyncio.sleep(0.05)
    assert service.calls == [["first"]]  # still waiting: nothing goes early on a plain loop
    service.gate.set()
    await asyncio.gather(first, second)
    assert service.calls == [["first"], ["second"]]
