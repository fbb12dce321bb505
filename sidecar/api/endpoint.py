"""An Elasticsearch REST endpoint in its two halves, so that the privilege check can sit where ES has it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sidecar.http import Request, Response

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint(Generic[T]):
    """`parse` is the RestHandler's work (URL, query parameters, and the body where ES parses it there, with their
    400s); `run` is the transport action's, which ES reaches only through its security action filter. The route
    authorises the caller between the two (see `routes.authorized`): nothing in `parse` may store, delete or call out.
    """

    parse: Callable[[Request], Awaitable[T]]
    run: Callable[[Request, T], Awaitable[Response]]
