"""Liveness and readiness probes."""

from __future__ import annotations

from sidecar.api.errors import json_response
from sidecar.api.keys import COMPONENTS
from sidecar.http import Request, Response


async def live(request: Request) -> Response:
    return json_response(request, {"status": "live"})


async def ready(request: Request) -> Response:
    components = request.app[COMPONENTS]
    problem = await components.readiness.problem(components.es, components.names)
    if problem is None:
        return json_response(request, {"status": "ready"})
    return json_response(request, {"status": "not_ready", "reason": problem}, status=503)


async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    body = generate_latest(request.app[COMPONENTS].metrics.registry)
    return Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
