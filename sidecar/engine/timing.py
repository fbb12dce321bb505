"""Clock and sleep seams, injectable so tests run on a fake clock, and ES's rendering of durations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

monotonic: Clock = time.monotonic
sleep: Sleep = asyncio.sleep

_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "m"), (1.0, "s"), (1e-3, "ms"), (1e-6, "micros"))


def format_time_value(seconds: float) -> str:
    """ES `TimeValue.toString()`: the largest unit the value reaches, one decimal at most (`30s`, `1.5m`, `500ms`)."""
    if seconds <= 0:
        return "0s"
    for size, suffix in _UNITS:
        if seconds >= size:
            value = round(seconds / size, 1)
            text = f"{value:.1f}".removesuffix(".0")
            return text + suffix
    return f"{round(seconds * 1e9)}nanos"
