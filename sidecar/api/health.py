"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web

from sidecar.api.errors import json_response
from sidecar.api.keys import COMPONENTS


async def live(request: web.Request) -> web.Response:
    return json_response(request, {"status": "live"})


async def ready(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    problem = await components.readiness.problem(components.es, components.names)
    if problem is None:
        return json_response(request, {"status": "ready"})
    return json_response(request, {"status": "not_ready", "reason": problem}, status=503)


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    body = generate_latest(request.app[COMPONENTS].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
