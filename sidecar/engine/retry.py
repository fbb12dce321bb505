"""Retries of retryable provider failures: exponential backoff with full jitter inside a total time budget.

Like ES's `RetryableAction`: the n-th wait is uniform in [0, min(max_delay, initial_delay * 2**n)]. A provider's
`Retry-After` raises the wait to at least that; when it does not fit in what is left of the budget, the last error
is raised at once instead of sleeping into a certain failure.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sidecar.domain.errors import ProviderError
from sidecar.engine.timing import Clock, Sleep

T = TypeVar("T")

_MAX_EXPONENT = 32


@dataclass(frozen=True)
class RetryPolicy:
    initial_delay: float
    max_delay: float
    timeout: float

    def backoff(self, failures: int, rng: random.Random) -> float:
        bound = min(self.max_delay, self.initial_delay * 2 ** min(failures, _MAX_EXPONENT))
        return rng.uniform(0.0, bound)

    def next_delay(self, error: ProviderError, failures: int, remaining: float, rng: random.Random) -> float | None:
        """The wait before the next attempt, or None when the error is final."""
        if not error.retryable or remaining <= 0:
            return None
        delay = self.backoff(failures, rng)
        if error.retry_after is not None:
            if error.retry_after > remaining:
                return None
            delay = max(delay, error.retry_after)
        return min(delay, remaining)


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    clock: Clock,
    sleep: Sleep,
    rng: random.Random,
    on_retry: Callable[[ProviderError], None] | None = None,
) -> T:
    deadline = clock() + policy.timeout
    failures = 0
    while True:
        try:
            return await call()
        except ProviderError as error:
            delay = policy.next_delay(error, failures, deadline - clock(), rng)
            if delay is None:
                raise
            failures += 1
            if on_retry is not None:
                on_retry(error)
        await sleep(delay)
