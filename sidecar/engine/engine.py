"""The inference engine between the HTTP handlers and the service plugins.

A request's inputs are looked up in the result cache one by one; the distinct misses are split to the service's
batch limit (at most `max_batch_concurrency` pieces in flight) and handed to the batcher, which merges them with
concurrent requests to the same model and configuration. Each merged provider call waits for the model's rate
limit, retries retryable failures and fills the cache. The whole request is bounded by its timeout.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import cast

from sidecar.domain.errors import ProviderError
from sidecar.domain.model import Model
from sidecar.domain.provider_call import provider_call
from sidecar.domain.results import Embedding
from sidecar.domain.service import InferenceService
from sidecar.engine import timing
from sidecar.engine.batcher import Batcher, BatchKey
from sidecar.engine.cache import ResultCache
from sidecar.engine.errors import engine_closed, request_timed_out
from sidecar.engine.provider import ProviderCaller
from sidecar.engine.rate_limit import TokenBucket, requests_per_minute
from sidecar.engine.replicas import ReplicaCounter, StaticReplicaCounter
from sidecar.engine.retry import RetryPolicy
from sidecar.engine.splitter import chunked, run_bounded
from sidecar.engine.timing import Clock, Sleep
from sidecar.observability.metrics import Metrics
from sidecar.settings import Settings


class InferenceEngine:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        replicas: ReplicaCounter | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`clock`, `sleep` and `rng` drive retry backoff and rate-limit waits; tests replace them."""
        self._settings = settings
        self._metrics = metrics
        self._replicas = replicas if replicas is not None else StaticReplicaCounter(1)
        self._clock = clock or timing.monotonic
        self._sleep = sleep or timing.sleep
        self._cache = (
            ResultCache(settings.cache_max_entries, settings.cache_max_bytes) if settings.cache_enabled else None
        )
        policy = RetryPolicy(settings.retry_initial_delay, settings.retry_max_delay, settings.retry_timeout)
        self._provider = ProviderCaller(
            metrics, policy, clock=self._clock, sleep=self._sleep, rng=rng or random.Random()
        )
        self._batcher = Batcher(
            settings.batch_window_ms / 1000.0,
            self._run_batch,
            self._count_merged,
            settings.max_merged_inputs,
            gate=self._take_turn,
            alone=_maybe_one_requests_fault,
        )
        self._limiters: dict[BatchKey, TokenBucket | None] = {}
        self._cache_hits = metrics.cache_lookups.labels(result="hit")
        self._cache_misses = metrics.cache_lookups.labels(result="miss")
        self._closed = False

    # `timeout` is ES's `?timeout=` request parameter, applied with asyncio.timeout below.
    async def infer(
        self,
        service: InferenceService,
        model: Model,
        inputs: list[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[Embedding]:
        if self._closed:
            raise engine_closed()
        if not inputs:
            return []
        seconds = self._settings.provider_timeout if timeout is None else timeout
        deadline = asyncio.timeout(None if math.isinf(seconds) else seconds)
        try:
            async with deadline:
                return await self._infer(service, model, inputs)
        except TimeoutError:
            if deadline.expired():
                raise request_timed_out(seconds) from None
            raise

    def forget(self, model_id: str) -> None:
        """The model was deleted or recreated: drop its cached results, open batches and rate limiters."""
        if self._cache is not None:
            self._cache.forget(model_id)
        self._batcher.forget(model_id)
        for key in [key for key in self._limiters if key[0] == model_id]:
            del self._limiters[key]

    async def close(self) -> None:
        """Fail what is still queued or running (503) and stop; later calls get the same error."""
        self._closed = True
        await self._batcher.close()
        if self._cache is not None:
            self._cache.clear()
        self._limiters.clear()

    async def _infer(self, service: InferenceService, model: Model, inputs: list[str]) -> list[Embedding]:
        model_id = model.model_id
        fingerprint = model.config.fingerprint
        results: list[Embedding | None] = [None] * len(inputs)
        misses: dict[str, list[int]] = {}
        cache = self._cache
        if cache is None:
            for i, text in enumerate(inputs):
                misses.setdefault(text, []).append(i)
        else:
            for i, text in enumerate(inputs):
                found = None if text in misses else cache.get(model_id, fingerprint, text)
                if found is None:
                    misses.setdefault(text, []).append(i)
                else:
                    results[i] = found
            missed = sum(len(positions) for positions in misses.values())
            if missed:
                self._cache_misses.inc(missed)
            if missed < len(inputs):
                self._cache_hits.inc(len(inputs) - missed)
        if misses:
            texts = list(misses)
            key = (model_id, fingerprint)
            limit = max(1, service.batch_limit(model))
            request = object()

            def submit(chunk: list[str]) -> asyncio.Future[list[Embedding]]:
                return self._batcher.submit(key, service, model, chunk, limit, request)

            computed = await run_bounded(chunked(texts, limit), submit, self._settings.max_batch_concurrency)
            for text, result in zip(texts, computed, strict=True):
                for i in misses[text]:
                    results[i] = result
        return cast(list[Embedding], results)

    async def _take_turn(self, key: BatchKey, service: InferenceService, model: Model) -> None:
        await self._provider.take_turn(service, model, self._limiter(key, service, model))

    async def _run_batch(
        self, key: BatchKey, service: InferenceService, model: Model, texts: list[str], shared: bool
    ) -> list[Embedding]:
        with provider_call(shared) as call:
            results = await self._provider.call(service, model, texts, self._limiter(key, service, model))
        if self._cache is not None and not call.truncated:
            model_id, fingerprint = key
            for text, result in zip(texts, results, strict=True):
                self._cache.put(model_id, fingerprint, text, result)
        return results

    def _limiter(self, key: BatchKey, service: InferenceService, model: Model) -> TokenBucket | None:
        try:
            return self._limiters[key]
        except KeyError:
            pass
        rpm = requests_per_minute(service, model)
        limiter = None
        if rpm is not None:
            limiter = TokenBucket(
                rpm, self._replicas, self._settings.rate_limit_queue, clock=self._clock, sleep=self._sleep
            )
        self._limiters[key] = limiter
        return limiter

    def _count_merged(self, service: InferenceService, requests: int) -> None:
        self._metrics.merged_requests.labels(service=service.name).inc(requests)


# Provider answers that one request's inputs may have caused; 401, 403, 404, 429 and 5xx are everybody's.
_INPUT_STATUSES = frozenset({400, 413, 422})


def _maybe_one_requests_fault(error: BaseException) -> bool:
    """Whether a merged call's failure is worth sending each of its requests on its own."""
    cause = error.__cause__
    return isinstance(cause, ProviderError) and (cause.content_too_large or cause.status in _INPUT_STATUSES)
