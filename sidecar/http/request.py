"""One HTTP request, read whole (as Elasticsearch aggregates a request before dispatching it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDictProxy

if TYPE_CHECKING:
    from sidecar.http.app import App, RequestKey

T = TypeVar("T")
_NO_QUERY: dict[str, str] = {}


class Request:
    """`raw_path` is the target's path as sent (percent-encoded); `path` is decoded. `query` maps each parameter to
    its last value (as ES's `RestUtils.decodeQueryString`), `+` and `%XX` decoded. `match_info` is filled by the
    router; `request[key]` holds what handlers learned."""

    __slots__ = (
        "_query",
        "_state",
        "app",
        "body",
        "headers",
        "http_version",
        "keep_alive",
        "match_info",
        "method",
        "query_string",
        "raw_path",
        "route",
        "target",
    )

    def __init__(
        self,
        app: App,
        method: str,
        target: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        keep_alive: bool,
        http_version: str = "1.1",
    ) -> None:
        self.app = app
        self.method = method
        self.target = target  # as sent: percent-encoded, with the query string (ES's `request.uri()`)
        self.raw_path, _, self.query_string = target.partition("?")
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.http_version = http_version
        self.match_info: dict[str, str] = {}
        self.route: str | None = None  # the matched route's path pattern
        self._query: dict[str, str] | None = None if self.query_string else _NO_QUERY
        self._state: dict[Any, Any] | None = None

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            query: dict[str, str] = {}
            for name, value in parse_qsl(self.query_string, keep_blank_values=True):
                query[name] = value
            self._query = query
        return self._query

    @property
    def can_read_body(self) -> bool:
        return bool(self.body)

    def __getitem__(self, key: RequestKey[T]) -> T:
        if self._state is None:
            raise KeyError(key)
        return cast(T, self._state[key])

    def __setitem__(self, key: RequestKey[T], value: T) -> None:
        if self._state is None:
            self._state = {}
        self._state[key] = value

    def get(self, key: RequestKey[T], default: T | None = None) -> T | None:
        return default if self._state is None else cast("T | None", self._state.get(key, default))
