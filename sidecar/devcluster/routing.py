"""ES's REST router: literal path segments win over `{params}`; a path known under other methods
answers 405 with `Allow`; an unknown path the flat 400 "no handler found"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from sidecar.domain.errors import no_handler, wrong_method

if TYPE_CHECKING:
    from sidecar.devcluster.transport import EsRequest, EsResponse

Handler = Callable[["EsRequest"], Awaitable["EsResponse"]]

# RestRequest.Method declaration order, which is how ES lists the allowed methods.
METHOD_ORDER = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT")


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str
    handler: Handler
    action: str | None = None
    params: frozenset[str] = frozenset()
    authenticated: bool = True
    body: bool = True
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", split_path(self.path))

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        found: dict[str, str] = {}
        for own, given in zip(self.segments, segments, strict=True):
            if own.startswith("{") and own.endswith("}"):
                if not given:
                    return None
                found[own[1:-1]] = given
            elif own != given:
                return None
        return found

    @property
    def specificity(self) -> tuple[int, ...]:
        return tuple(1 if s.startswith("{") else 0 for s in self.segments)


def route(
    methods: str | tuple[str, ...],
    path: str,
    handler: Handler,
    action: str | None = None,
    params: tuple[str, ...] = (),
    *,
    authenticated: bool = True,
    body: bool = True,
) -> Route:
    method_tuple = (methods,) if isinstance(methods, str) else methods
    return Route(method_tuple, path, handler, action, frozenset(params), authenticated, body)


def split_path(raw_path: str) -> tuple[str, ...]:
    path = raw_path.split("?", 1)[0]
    parts = [unquote(part) for part in path.lstrip("/").split("/")]
    while parts and parts[-1] == "":
        parts.pop()
    return tuple(parts)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.specificity)

    def resolve(self, method: str, raw_path: str, uri: str) -> tuple[Route, dict[str, str]]:
        segments = split_path(raw_path)
        allowed: set[str] = set()
        for candidate in self.routes:
            params = candidate.match(segments)
            if params is None:
                continue
            if method in candidate.methods:
                return candidate, params
            allowed.update(candidate.methods)
        if allowed:
            ordered = [m for m in METHOD_ORDER if m in allowed]
            raise wrong_method(uri, method, ordered)
        raise no_handler(uri, method)
