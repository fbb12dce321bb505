"""One provider call as the engine makes it: rate limit, retries, metrics.

"Content too large" is the plugins' business (they retry once with truncated inputs, or, on a call shared by several
requests, leave it to the batcher, which sends each request on its own); here it is final like any other
non-retryable failure.

A `ProviderError` that is finally not retried leaves as `to_es_error(model_id)`; `ElasticsearchError`s raised by
the plugin pass through unchanged.
"""

from __future__ import annotations

import asyncio
import random
import time

from prometheus_client import Counter, Histogram

from sidecar.domain.errors import ProviderError
from sidecar.domain.model import Model
from sidecar.domain.results import Embedding
from sidecar.domain.service import InferenceService
from sidecar.engine.errors import rate_limit_queue_full, wrong_result_count
from sidecar.engine.rate_limit import RateLimitQueueFull, TokenBucket
from sidecar.engine.retry import RetryPolicy, call_with_retry
from sidecar.engine.timing import Clock, Sleep
from sidecar.observability.metrics import Metrics


class ProviderCaller:
    def __init__(
        self, metrics: Metrics, policy: RetryPolicy, *, clock: Clock, sleep: Sleep, rng: random.Random
    ) -> None:
        self._metrics = metrics
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._children: dict[tuple[str, str], tuple[Histogram, Counter, Counter]] = {}

    async def take_turn(self, service: InferenceService, model: Model, limiter: TokenBucket | None) -> None:
        """Wait until the model's rate limit allows one more call; 429 when too many calls wait already."""
        if limiter is None:
            return
        try:
            await limiter.acquire()
        except RateLimitQueueFull:
            self._metrics.rate_limited.labels(service=service.name).inc()
            raise rate_limit_queue_full(model.model_id) from None

    async def call(
        self, service: InferenceService, model: Model, texts: list[str], limiter: TokenBucket | None
    ) -> list[Embedding]:
        """The call whose first turn under `limiter` the caller has taken (`take_turn`); each retry takes its own."""
        try:
            return await self._with_retry(service, model, texts, limiter)
        except ProviderError as error:
            raise error.to_es_error(model.model_id) from error

    async def _with_retry(
        self, service: InferenceService, model: Model, texts: list[str], limiter: TokenBucket | None
    ) -> list[Embedding]:
        attempts = 0

        async def attempt() -> list[Embedding]:
            nonlocal attempts
            if attempts:
                await self.take_turn(service, model, limiter)
            attempts += 1
            return await self._attempt(service, model, texts)

        def count_retry(_: ProviderError) -> None:
            self._metrics.retries.labels(service=service.name).inc()

        return await call_with_retry(
            attempt, self._policy, clock=self._clock, sleep=self._sleep, rng=self._rng, on_retry=count_retry
        )

    async def _attempt(self, service: InferenceService, model: Model, texts: list[str]) -> list[Embedding]:
        outcome = "error"
        started = time.perf_counter()
        try:
            results = await service.infer(model, texts)
            if len(results) != len(texts):
                raise wrong_result_count(model.model_id, len(texts), len(results))
            outcome = "success"
            return results
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            seconds, calls, inputs = self._series(service.name, outcome)
            seconds.observe(time.perf_counter() - started)
            calls.inc()
            inputs.inc(len(texts))

    def _series(self, service: str, outcome: str) -> tuple[Histogram, Counter, Counter]:
        """The labelled children, looked up once: `labels()` takes a lock and builds a tuple on every call."""
        key = (service, outcome)
        found = self._children.get(key)
        if found is None:
            metrics = self._metrics
            found = (
                metrics.provider_seconds.labels(service=service, outcome=outcome),
                metrics.provider_calls.labels(service=service, outcome=outcome),
                metrics.provider_inputs.labels(service=service),
            )
            self._children[key] = found
        return found
