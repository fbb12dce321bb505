"""Splitting an input list to the provider's batch limit, with a bounded number of pieces in flight per request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from sidecar.domain.results import Embedding

T = TypeVar("T")

Submit = Callable[[list[str]], "asyncio.Future[list[Embedding]]"]


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    size = max(1, size)
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


async def run_bounded(chunks: list[list[str]], submit: Submit, concurrency: int) -> list[Embedding]:
    """Submit the chunks, at most `concurrency` outstanding, and return all results in chunk order.

    The first failure is raised and the pieces still outstanding are abandoned (their futures cancelled).
    """
    if len(chunks) == 1:
        return await submit(chunks[0])
    results: list[list[Embedding]] = [[] for _ in chunks]
    pending: dict[asyncio.Future[list[Embedding]], int] = {}
    submitted = 0
    try:
        while submitted < len(chunks) or pending:
            while submitted < len(chunks) and len(pending) < concurrency:
                pending[submit(chunks[submitted])] = submitted
                submitted += 1
            done, _ = await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
    finally:
        for future in pending:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: a sibling's failure is the one raised
    return [result for chunk in results for result in chunk]
