"""Models for the inference path, cached for `model_cache_ttl` seconds.

The TTL is the bound on staleness across replicas: a model deleted through one replica stops being
served by every other replica at most that long afterwards. Concurrent misses share one load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sidecar.domain.model import Model

Loader = Callable[[str], Awaitable[Model]]
OnLookup = Callable[[bool], None]


class ModelCache:
    def __init__(
        self,
        loader: Loader,
        ttl: float,
        on_lookup: OnLookup = lambda hit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._ttl = ttl
        self._on_lookup = on_lookup
        self._clock = clock
        self._entries: dict[str, tuple[float, Model]] = {}
        self._loading: dict[str, asyncio.Future[Model]] = {}

    async def get(self, model_id: str) -> Model:
        entry = self._entries.get(model_id)
        if entry is not None and entry[0] > self._clock():
            self._on_lookup(True)
            return entry[1]
        self._on_lookup(False)
        pending = self._loading.get(model_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Model] = asyncio.get_running_loop().create_future()
        self._loading[model_id] = future
        try:
            model = await self._loader(model_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here so that a load nobody else awaited is not reported
            raise
        else:
            if self._ttl > 0:
                self._entries[model_id] = (self._clock() + self._ttl, model)
            future.set_result(model)
            return model
        finally:
            del self._loading[model_id]

    def invalidate(self, model_id: str) -> None:
        self._entries.pop(model_id, None)
