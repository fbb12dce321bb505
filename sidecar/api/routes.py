"""The route table: method, path, endpoint, and the action whose privilege the caller must hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import unquote

from sidecar.api import health, inference
from sidecar.api.endpoint import Endpoint
from sidecar.api.keys import COMPONENTS
from sidecar.domain.errors import ElasticsearchError, no_handler, wrong_method
from sidecar.http import Request, Response
from sidecar.security.credentials import credentials_of

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler | Endpoint[Any]  # an Endpoint is an ES route, authorised for `action`
    action: str | None = None  # "put" | "get" | "delete" | "infer"


ROUTES: tuple[Route, ...] = (
    # The hottest path first.
    Route("POST", "/_inference/{task_type}/{model_id}", inference.INFER, "infer"),
    Route("PUT", "/_inference/{task_type}/{model_id}", inference.PUT, "put"),
    Route("GET", "/_inference/{task_type}/{model_id}", inference.GET, "get"),
    Route("DELETE", "/_inference/{task_type}/{model_id}", inference.DELETE, "delete"),
    Route("POST", "/_inference/{model_id}", inference.INFER, "infer"),
    Route("PUT", "/_inference/{model_id}", inference.PUT, "put"),
    Route("GET", "/_inference/{model_id}", inference.GET, "get"),
    Route("DELETE", "/_inference/{model_id}", inference.DELETE, "delete"),
    Route("GET", "/_inference", inference.GET, "get"),
    Route("GET", "/_sidecar/health/live", health.live),
    Route("GET", "/_sidecar/health/ready", health.ready),
    Route("GET", "/_sidecar/metrics", health.metrics),
)


class Router:
    """Finds a request's route. Elasticsearch routes are matched as ES's RestController matches them: its PathTrie
    splits the path with Java's `String.split("/")`, which drops trailing empty segments (so `/_inference/` is
    `/_inference`), and decodes each segment on its own; the sidecar's own routes match exactly. No path: ES's 400
    `no handler found`; a path without the method: 405 with `Allow`."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._paths: list[tuple[tuple[str, ...], bool, str, dict[str, Handler]]] = []
        by_path: dict[str, dict[str, Handler]] = {}
        for route in routes:
            handlers = by_path.setdefault(route.path, {})
            if not handlers:
                pattern = tuple(route.path.split("/")[1:])
                self._paths.append((pattern, isinstance(route.handler, Endpoint), route.path, handlers))
            handlers[route.method] = _handler_of(route)

    def resolve(self, request: Request) -> Handler:
        exact = request.raw_path.split("/")[1:]
        trimmed = request.raw_path.rstrip("/").split("/")[1:]
        allowed: list[str] = []
        for pattern, is_es_route, name, handlers in self._paths:
            match_info = _match(pattern, trimmed if is_es_route else exact)
            if match_info is None:
                continue
            handler = handlers.get(request.method)
            if handler is None:
                allowed.extend(handlers)
                continue
            request.route = name
            request.match_info = match_info
            return handler
        if allowed:
            raise wrong_method(request.target, request.method, sorted(set(allowed)))
        raise no_handler(request.target, request.method)


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    match_info: dict[str, str] = {}
    for expected, segment in zip(pattern, segments, strict=True):
        if expected[0] == "{":
            if not segment:
                return None
            match_info[expected[1:-1]] = unquote(segment)
        elif expected != segment:
            return None
    return match_info


def _handler_of(route: Route) -> Handler:
    if not isinstance(route.handler, Endpoint):
        return route.handler
    if route.action is None:
        raise ValueError(f"{route.method} {route.path}: an Elasticsearch route needs an action")
    return authorized(route.handler, route.action)


def authorized(endpoint: Endpoint[Any], action: str) -> Handler:
    """ES's order: authentication (401) first, then the REST layer's parsing (400), then the privilege (403).

    One `_has_privileges` call answers the first and the last, so a refusal is held back until the request has
    been parsed; it is raised before the endpoint stores, deletes or calls anything.
    """

    @wraps(endpoint.run)
    async def checked(request: Request) -> Response:
        components = request.app[COMPONENTS]
        privilege = components.settings.privilege_for(action)
        refusal: ElasticsearchError | None = None
        try:
            await components.authorizer.authorize(credentials_of(request), action, privilege, request.target)
        except ElasticsearchError as error:
            if error.status != 403:  # 401, and any failure to ask the cluster
                raise
            refusal = error
        parsed = await endpoint.parse(request)
        if refusal is not None:
            raise refusal
        return await endpoint.run(request, parsed)

    return checked


ROUTER = Router(ROUTES)
