"""Clock and sleep seams, injectable so tests run on a fake clock, and ES's rendering of durations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

monotonic: Clock = time.monotonic
sleep: Sleep = asyncio.sleep

_UNITS = (
    (86_400_000_000_000, "d"),
    (3_600_000_000_000, "h"),
    (60_000_000_000, "m"),
    (1_000_000_000, "s"),
    (1_000_000, "ms"),
    (1_000, "micros"),
)


def format_time_value(seconds: float) -> str:
    """ES `TimeValue.toString()`: the largest unit reached, one decimal cut off (`30s`, `1.5m`, `500ms`)."""
    nanos = round(seconds * 1e9)
    if nanos <= 0:
        return "0s"
    for size, suffix in _UNITS:
        if nanos >= size:
            whole, tenth = nanos // size, nanos % size * 10 // size
            return f"{whole}{suffix}" if tenth == 0 else f"{whole}.{tenth}{suffix}"
    return f"{nanos}nanos"
