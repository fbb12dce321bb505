"""What the engine tells a plugin about the provider call it is making, and what the plugin tells back.

The engine may merge the inputs of several inference requests into one call. ES sends each request on its own, and
when the provider answers "content too large" it cuts every input of that request and tries once more. Done on a
merged call, one caller's long text would shorten everybody's inputs. So, on a shared call, a plugin does not cut:
it raises its `ProviderError` (`content_too_large=True`) and the engine sends each request on its own.

A plugin that did cut inputs to retry marks the call `truncated`: those results hold for this call only, and the
engine does not cache them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class ProviderCall:
    shared: bool = False  # inputs of several requests: raise "content too large" rather than cut
    truncated: bool = False  # the plugin cut inputs to retry "content too large"


_CURRENT: ContextVar[ProviderCall | None] = ContextVar("provider_call", default=None)


def current_call() -> ProviderCall:
    """The call under way; outside the engine (the PUT-time probe, tests) an unshared call nobody reads back."""
    call = _CURRENT.get()
    return ProviderCall() if call is None else call


@contextmanager
def provider_call(shared: bool) -> Iterator[ProviderCall]:
    """A provider call, its retries included, made inside the block in this task."""
    call = ProviderCall(shared=shared)
    token = _CURRENT.set(call)
    try:
        yield call
    finally:
        _CURRENT.reset(token)
