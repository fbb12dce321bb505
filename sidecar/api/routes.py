"""The route table: method, path, endpoint, and the action whose privilege the caller must hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from aiohttp import web

from sidecar.api import health, inference
from sidecar.api.endpoint import Endpoint
from sidecar.api.keys import COMPONENTS
from sidecar.domain.errors import ElasticsearchError
from sidecar.security.credentials import credentials_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler | Endpoint[Any]  # an Endpoint is an ES route, authorised for `action`
    action: str | None = None  # "put" | "get" | "delete" | "infer"


ROUTES: tuple[Route, ...] = (
    # Routes of one path stay together, so that the router keeps them in one resource; the hottest path first.
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


class EsPathResource(web.DynamicResource):
    """A path matched as ES's RestController matches it: its PathTrie splits the path with Java's
    `String.split("/")`, which drops trailing empty segments, so `/_inference/` is `/_inference`."""

    def _match(self, path: str) -> dict[str, str] | None:
        return super()._match(path.rstrip("/") or "/")


def authorized(endpoint: Endpoint[Any], action: str) -> Handler:
    """ES's order: authentication (401) first, then the REST layer's parsing (400), then the privilege (403).

    One `_has_privileges` call answers the first and the last, so a refusal is held back until the request has
    been parsed; it is raised before the endpoint stores, deletes or calls anything.
    """

    @wraps(endpoint.run)
    async def checked(request: web.Request) -> web.StreamResponse:
        components = request.app[COMPONENTS]
        privilege = components.settings.privilege_for(action)
        refusal: ElasticsearchError | None = None
        try:
            await components.authorizer.authorize(credentials_of(request), action, privilege, request.path_qs)
        except ElasticsearchError as error:
            if error.status != 403:  # 401, and any failure to ask the cluster
                raise
            refusal = error
        parsed = await endpoint.parse(request)
        if refusal is not None:
            raise refusal
        return await endpoint.run(request, parsed)

    return checked


def add_routes(app: web.Application) -> None:
    resources: dict[str, web.Resource] = {}
    for route in ROUTES:
        resource = resources.get(route.path)
        if resource is None:
            if isinstance(route.handler, Endpoint):
                resource = EsPathResource(route.path)
                app.router.register_resource(resource)
            else:
                resource = app.router.add_resource(route.path)
            resources[route.path] = resource
        if isinstance(route.handler, Endpoint):
            if route.action is None:
                raise ValueError(f"{route.method} {route.path}: an Elasticsearch route needs an action")
            resource.add_route(route.method, authorized(route.handler, route.action))
        else:
            resource.add_route(route.method, route.handler)
