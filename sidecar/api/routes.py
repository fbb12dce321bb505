"""The route table: method, path, handler, and the action whose privilege the caller must hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps

from aiohttp import web

from sidecar.api import health, inference
from sidecar.api.keys import COMPONENTS
from sidecar.security.credentials import credentials_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    action: str | None  # "put" | "get" | "delete" | "infer"; None: no caller authorisation


ROUTES: tuple[Route, ...] = (
    # Routes of one path stay together, so that the router keeps them in one resource; the hottest path first.
    Route("POST", "/_inference/{task_type}/{model_id}", inference.infer, "infer"),
    Route("PUT", "/_inference/{task_type}/{model_id}", inference.put_model, "put"),
    Route("GET", "/_inference/{task_type}/{model_id}", inference.get_models, "get"),
    Route("DELETE", "/_inference/{task_type}/{model_id}", inference.delete_model, "delete"),
    Route("POST", "/_inference/{model_id}", inference.infer, "infer"),
    Route("PUT", "/_inference/{model_id}", inference.put_model, "put"),
    Route("GET", "/_inference/{model_id}", inference.get_models, "get"),
    Route("DELETE", "/_inference/{model_id}", inference.delete_model, "delete"),
    Route("GET", "/_inference", inference.get_models, "get"),
    Route("GET", "/_sidecar/health/live", health.live, None),
    Route("GET", "/_sidecar/health/ready", health.ready, None),
    Route("GET", "/_sidecar/metrics", health.metrics, None),
)


def authorized(handler: Handler, action: str) -> Handler:
    @wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        components = request.app[COMPONENTS]
        privilege = components.settings.privilege_for(action)
        await components.authorizer.authorize(credentials_of(request), action, privilege, request.path_qs)
        return await handler(request)

    return checked


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        handler = route.handler if route.action is None else authorized(route.handler, route.action)
        app.router.add_route(route.method, route.path, handler)
