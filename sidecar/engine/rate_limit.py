"""Per-model request rate limits: a token bucket refilled at this replica's share of the model's limit.

The limit is `service_settings.rate_limit.requests_per_minute` (as in ES 8.14+), else the service class's
`default_requests_per_minute`, else none. Each replica takes `limit / live replicas`. The bucket holds at most one
second of requests (never less than one), so a burst cannot spend a minute's budget at once. Callers that find it
empty wait in FIFO order, at most `queue_limit` of them; one more is refused.
"""

from __future__ import annotations

import asyncio

from sidecar.domain.model import Model
from sidecar.domain.service import InferenceService
from sidecar.engine.replicas import ReplicaCounter
from sidecar.engine.timing import Clock, Sleep

_MIN_WAIT = 0.001


class RateLimitQueueFull(Exception):
    """Too many callers are already waiting for this model's rate limit."""


def requests_per_minute(service: InferenceService, model: Model) -> float | None:
    rate_limit = model.config.service_settings.get("rate_limit")
    if isinstance(rate_limit, dict):
        value = rate_limit.get("requests_per_minute")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    default = getattr(service, "default_requests_per_minute", None)
    if isinstance(default, int | float) and not isinstance(default, bool) and default > 0:
        return float(default)
    return None


class TokenBucket:
    def __init__(
        self,
        requests_per_minute: float,
        replicas: ReplicaCounter,
        queue_limit: int,
        *,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.queue_limit = queue_limit
        self._replicas = replicas
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._updated = clock()
        self._tokens = self.capacity()

    def rate(self) -> float:
        """Tokens per second for this replica."""
        return self.requests_per_minute / max(1, self._replicas.count()) / 60.0

    def capacity(self) -> float:
        return max(1.0, self.rate())

    @property
    def waiting(self) -> int:
        return self._waiting

    def try_acquire(self) -> bool:
        now = self._clock()
        rate = self.rate()
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._updated) * rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        if self._waiting == 0 and self.try_acquire():
            return
        if self._waiting >= self.queue_limit:
            raise RateLimitQueueFull
        self._waiting += 1
        try:
            async with self._lock:
                while not self.try_acquire():
                    await self._sleep(max(_MIN_WAIT, (1.0 - self._tokens) / self.rate()))
        finally:
            self._waiting -= 1
