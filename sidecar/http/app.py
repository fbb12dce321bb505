"""The application the server runs: one request handler, typed state, and lifecycle hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from sidecar.http.request import Request
    from sidecar.http.response import Response
    from sidecar.http.server import BadRequest

T = TypeVar("T")
Hook = Callable[["App"], Awaitable[None]]


class AppKey(Generic[T]):
    """A typed key of the application's state."""

    __slots__ = ("name",)

    def __init__(self, name: str, _type: type[T] | None = None) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"AppKey({self.name})"


class RequestKey(AppKey[T]):
    """A typed key of what a handler learned about one request."""

    __slots__ = ()


class App:
    """`handler` answers every request; `reject` renders the server's own refusals (a malformed request, a body
    over the limit). Hooks run in order: startup once the server listens, shutdown when it stops accepting,
    cleanup after the last connection is gone."""

    def __init__(
        self,
        handler: Callable[[Request], Awaitable[Response]],
        reject: Callable[[BadRequest], Response],
    ) -> None:
        self.handler = handler
        self.reject = reject
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self.on_cleanup: list[Hook] = []
        self._state: dict[AppKey[Any], Any] = {}

    def __getitem__(self, key: AppKey[T]) -> T:
        return cast(T, self._state[key])

    def __setitem__(self, key: AppKey[T], value: T) -> None:
        self._state[key] = value

    def get(self, key: AppKey[T], default: T | None = None) -> T | None:
        return cast("T | None", self._state.get(key, default))
