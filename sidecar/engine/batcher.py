"""Merging of concurrent requests to one model into shared provider calls.

Pieces (at most `limit` distinct texts each) join the first open batch of their key with room for their new texts;
a text already in the batch takes no room and is sent once. Merging stops at `max_merged` texts per call (a single
larger piece still goes alone, up to `limit`): smaller calls overlap at the provider instead of queueing behind one
big one. A batch is due when it is full, or `window` seconds after it opened, so merging never adds more than the
window to anyone's latency; when no call of its key is in flight (or the window is 0) it is due on the next turn
of the event loop instead, merging only what arrived in the same turn, so an idle model adds no wait at all.

A due batch then waits for its turn (`gate`: the model's rate limit). It stays open while it waits, and takes new
texts up to `limit` rather than `max_merged`: when calls are what is scarce, everyone who comes meanwhile rides
along at no cost in latency.

Each batch runs in its own task, so that a caller who is cancelled (or times out) only drops its interest; when
every caller of a batch has gone, the batch is cancelled. A failure goes to every caller of the batch, unless one
request's inputs may have caused it (`alone`: "content too large", a rejected input): then each request of the
batch is sent on its own, after its own turn, and gets the answer it would have had unmerged.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable

from sidecar.domain.model import Model
from sidecar.domain.results import Embedding
from sidecar.domain.service import InferenceService
from sidecar.engine.errors import engine_closed
from sidecar.engine.idle import call_when_idle

BatchKey = tuple[str, str]
# The last argument: whether the call carries the inputs of several requests.
RunBatch = Callable[[BatchKey, InferenceService, Model, list[str], bool], Awaitable[list[Embedding]]]
OnMerged = Callable[[InferenceService, int], None]
Gate = Callable[[BatchKey, InferenceService, Model], Awaitable[None]]
Alone = Callable[[BaseException], bool]


async def _no_gate(_key: BatchKey, _service: InferenceService, _model: Model) -> None:
    return None


def _never(_error: BaseException) -> bool:
    return False


class Entry:
    __slots__ = ("future", "request", "texts")

    def __init__(self, texts: list[str], future: asyncio.Future[list[Embedding]], request: Hashable) -> None:
        self.texts = texts
        self.future = future
        self.request = request


class Batch:
    __slots__ = (
        "entries", "handle", "key", "limit", "live", "max_texts", "model", "service", "task", "texts", "waiting"
    )  # fmt: skip

    def __init__(self, key: BatchKey, service: InferenceService, model: Model, max_texts: int, limit: int) -> None:
        self.key = key
        self.service = service
        self.model = model
        self.max_texts = max_texts  # merging stops here...
        self.limit = limit  # ...or here, the provider's own limit, while the batch waits for its turn
        self.entries: list[Entry] = []
        self.texts: dict[str, None] = {}
        self.live = 0
        self.handle: asyncio.Handle | None = None
        self.task: asyncio.Task[None] | None = None
        self.waiting = False

    @property
    def full(self) -> bool:
        return len(self.texts) >= (self.limit if self.waiting else self.max_texts)

    def accepts(self, service: InferenceService, model: Model, texts: list[str]) -> bool:
        if self.live == 0 and self.entries:
            return False  # every caller has gone: the batch is being cancelled
        if service is not self.service or (model is not self.model and model != self.model):
            return False
        room = (self.limit if self.waiting else self.max_texts) - len(self.texts)
        return len(texts) <= room or sum(1 for text in texts if text not in self.texts) <= room

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.texts.update(dict.fromkeys(entry.texts))
        self.live += 1
        entry.future.add_done_callback(self._entry_done)

    def _entry_done(self, future: asyncio.Future[list[Embedding]]) -> None:
        if future.cancelled():
            self.live -= 1
            if self.live == 0 and self.task is not None:
                self.task.cancel()


class Batcher:
    def __init__(
        self,
        window: float,
        run: RunBatch,
        on_merged: OnMerged,
        max_merged: int,
        gate: Gate = _no_gate,
        alone: Alone = _never,
    ) -> None:
        self.window = window
        self.max_merged = max_merged
        self._run = run
        self._on_merged = on_merged
        self._gate = gate
        self._alone = alone
        self._open: dict[BatchKey, list[Batch]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._in_flight: dict[BatchKey, int] = {}
        self._idle_hook_set = False

    def submit(
        self,
        key: BatchKey,
        service: InferenceService,
        model: Model,
        texts: list[str],
        limit: int,
        request: Hashable,
    ) -> asyncio.Future[list[Embedding]]:
        """Queue distinct `texts` (at most `limit`); the future gets their results in the same order."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Embedding]] = loop.create_future()
        batches = self._open.setdefault(key, [])
        for batch in batches:
            if batch.accepts(service, model, texts):
                break
        else:
            batch = Batch(key, service, model, max(min(limit, self.max_merged), len(texts)), max(limit, len(texts)))
            batches.append(batch)
            if self.window > 0 and self._in_flight.get(key, 0) > 0:
                batch.handle = loop.call_later(self.window, self._flush, batch)
                # Waiting buys merging only while the process has other work; when it has none, the batch goes.
                # One hook for every waiting batch: under load the loop may not go idle for a long time, and a
                # hook per batch would keep each batch, and its results, alive until it does.
                if not self._idle_hook_set:
                    self._idle_hook_set = call_when_idle(loop, self._flush_waiting)
            else:
                # Due now: its task's first step runs on the next turn, so requests of this turn still join.
                self._flush(batch)
        batch.add(Entry(texts, future, request))
        if batch.full:
            self._flush(batch)
        return future

    def forget(self, model_id: str) -> None:
        """New requests no longer join the open batches of this model; those already queued still go."""
        for key in [key for key in self._open if key[0] == model_id]:
            del self._open[key]

    async def close(self) -> None:
        for batches in self._open.values():
            for batch in batches:
                if batch.handle is not None:
                    batch.handle.cancel()
                for entry in batch.entries:
                    if not entry.future.done():
                        entry.future.set_exception(engine_closed())
        self._open.clear()
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _flush(self, batch: Batch) -> None:
        """The batch is due: it waits for its turn, then goes."""
        if batch.handle is not None:
            batch.handle.cancel()
            batch.handle = None
        if batch.task is not None:
            return  # already waiting for its turn
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        batch.task = task
        self._running.add(task)
        task.add_done_callback(functools.partial(self._finished, batch))

    def _flush_waiting(self) -> None:
        self._idle_hook_set = False
        for batches in list(self._open.values()):
            for batch in list(batches):
                if batch.handle is not None:
                    self._flush(batch)

    def _close(self, batch: Batch) -> None:
        """No more texts join the batch."""
        batches = self._open.get(batch.key)
        if batches is not None and batch in batches:
            batches.remove(batch)
            if not batches:
                del self._open[batch.key]

    def _finished(self, batch: Batch, task: asyncio.Task[None]) -> None:
        # Also when the task was cancelled before it ran: the batch must not stay open, nor its callers wait.
        self._running.discard(task)
        self._close(batch)
        _fail(batch.entries, engine_closed())

    async def _execute(self, batch: Batch) -> None:
        batch.waiting = True
        try:
            await self._gate(batch.key, batch.service, batch.model)
        except Exception as error:
            self._close(batch)
            _fail(batch.entries, error)
            return
        finally:
            batch.waiting = False
        self._close(batch)
        live = [entry for entry in batch.entries if not entry.future.done()]
        if not live:
            return
        if len(live) != len(batch.entries):
            batch.entries = live
            batch.texts = {text: None for entry in live for text in entry.texts}
        requests = len({entry.request for entry in live})
        if requests > 1:
            self._on_merged(batch.service, requests)
        texts = list(batch.texts)
        self._in_flight[batch.key] = self._in_flight.get(batch.key, 0) + 1
        try:
            results = await self._run(batch.key, batch.service, batch.model, texts, requests > 1)
        except Exception as error:
            if requests > 1 and self._alone(error):
                await self._run_each_request(batch)
            else:
                _fail(batch.entries, error)
            return
        finally:
            remaining = self._in_flight[batch.key] - 1
            if remaining:
                self._in_flight[batch.key] = remaining
            else:
                del self._in_flight[batch.key]
        _answer(batch.entries, texts, results)

    async def _run_each_request(self, batch: Batch) -> None:
        by_request: dict[Hashable, list[Entry]] = {}
        for entry in batch.entries:
            by_request.setdefault(entry.request, []).append(entry)
        await asyncio.gather(*(self._run_alone(batch, entries) for entries in by_request.values()))

    async def _run_alone(self, batch: Batch, entries: list[Entry]) -> None:
        if all(entry.future.done() for entry in entries):
            return
        texts = list(dict.fromkeys(text for entry in entries for text in entry.texts))
        try:
            await self._gate(batch.key, batch.service, batch.model)
            results = await self._run(batch.key, batch.service, batch.model, texts, False)
        except Exception as error:
            _fail(entries, error)
            return
        _answer(entries, texts, results)


def _answer(entries: list[Entry], texts: list[str], results: list[Embedding]) -> None:
    position = {text: i for i, text in enumerate(texts)}
    for entry in entries:
        if not entry.future.done():
            entry.future.set_result([results[position[text]] for text in entry.texts])


def _fail(entries: list[Entry], error: BaseException) -> None:
    for entry in entries:
        if not entry.future.done():
            entry.future.set_exception(error)
