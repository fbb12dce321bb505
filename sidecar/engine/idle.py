"""Work that waits for the event loop to have nothing else to do.

A merged call waits up to the batch window for more requests; when the process has nothing else to do meanwhile,
the wait buys no merging, only latency. The sidecar's event loop uses a selector that, before it would block for
I/O, runs the callbacks registered with `call_when_idle` and then polls instead of blocking, so that what they
scheduled runs at once. On any other loop (tests, a library's loop) `call_when_idle` does nothing and returns False.
"""

from __future__ import annotations

import asyncio
import selectors
import weakref
from collections.abc import Callable

from sidecar.observability.logging import get_logger

log = get_logger("sidecar.engine.idle")

_hooks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


class _IdleAwareSelector(selectors.DefaultSelector):
    def __init__(self, pending: list[Callable[[], None]]) -> None:
        super().__init__()
        self._pending = pending

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._pending and (timeout is None or timeout > 0):
            callbacks = self._pending[:]
            self._pending.clear()
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # one failing callback must not stop the event loop
                    log.exception("idle callback failed")
            timeout = 0
        events: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        return events


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An asyncio selector loop whose idle moments `call_when_idle` can use."""
    pending: list[Callable[[], None]] = []
    loop = asyncio.SelectorEventLoop(_IdleAwareSelector(pending))
    _hooks[loop] = pending
    return loop


def waiting(loop: asyncio.AbstractEventLoop) -> int:
    """How many callbacks wait for `loop` to go idle."""
    return len(_hooks.get(loop, ()))


def call_when_idle(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    """Run `callback` the next time `loop` has no ready callbacks and would wait for I/O or a timer."""
    pending = _hooks.get(loop)
    if pending is None:
        return False
    pending.append(callback)
    return True
