"""Per-request plumbing: request id, logging, metrics, and turning every failure into an ES error body."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
import structlog

from sidecar.api.errors import error_response, internal_error
from sidecar.api.keys import COMPONENTS, METRICS, MODEL_ID, SERVICE_NAME
from sidecar.api.negotiation import JSON, check_request_content_type
from sidecar.api.routes import ROUTER
from sidecar.domain.errors import ElasticsearchError, FlatError
from sidecar.http import BadRequest, Request, Response
from sidecar.observability.logging import get_logger, log_request
from sidecar.security.credentials import credentials_of

Handler = Callable[[Request], Awaitable[Response]]
log = get_logger("sidecar.request")

PRODUCT_HEADER = ("X-elastic-product", "Elasticsearch")
_OWN_PATHS = "/_sidecar/"  # the sidecar's own routes (health, metrics): no credentials asked
# Request ids: unique per process start, cheap to make on every request.
_ID_PREFIX = uuid.uuid4().hex[:12]
_request_numbers = itertools.count(1)


async def handle(request: Request) -> Response:
    """Every request: observed (log line, metrics, headers), with its errors rendered, routed."""
    return await observe(request, _errors_rendered)


async def _errors_rendered(request: Request) -> Response:
    return await render_errors(request, _routed)


async def _routed(request: Request) -> Response:
    try:
        check_request_content_type(request)
        handler = ROUTER.resolve(request)
    except (ElasticsearchError, FlatError):
        if not request.raw_path.startswith(_OWN_PATHS):
            # ES (8.9+) authenticates a request's headers before it looks at anything else: 401 comes first.
            await request.app[COMPONENTS].authorizer.authenticate(credentials_of(request), request.target)
        raise
    return await handler(request)


def _route_name(request: Request) -> str:
    return request.route or "unmatched"


async def observe(request: Request, handler: Handler) -> Response:
    metrics = request.app[METRICS]
    opaque_id = request.headers.get("X-Opaque-Id")
    request_id = opaque_id or f"{_ID_PREFIX}-{next(_request_numbers)}"
    # Each request runs in a task of its own, so this binding is the request's alone.
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    metrics.requests_in_flight += 1
    status = 500
    try:
        response = await handler(request)
        status = response.status
        # ES adds this before any handler runs; the official client refuses answers without it.
        response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]
        if opaque_id is not None:
            response.headers["X-Opaque-Id"] = opaque_id
        return response
    finally:
        metrics.requests_in_flight -= 1
        duration = time.perf_counter() - started
        route = _route_name(request)
        service = request.get(SERVICE_NAME) or ""
        metrics.count_request(route, request.method, status, service, duration)
        if not route.startswith(_OWN_PATHS):
            log_request(
                {
                    "method": request.method,
                    "route": route,
                    "model_id": request.get(MODEL_ID),
                    "service": service or None,
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "outcome": "success" if status < 400 else "error",
                },
                request_id,
            )


async def render_errors(request: Request, handler: Handler) -> Response:
    try:
        return await handler(request)
    except (ElasticsearchError, FlatError) as error:
        return error_response(request, error)
    except Exception:
        log.exception("unhandled error", method=request.method, route=_route_name(request))
        return error_response(request, internal_error())


def refusal_response(problem: BadRequest) -> Response:
    """The HTTP server's own refusals (a malformed request, a body over the limit), rendered as ES renders them."""
    error = ElasticsearchError(problem.status, problem.type, problem.reason)
    response = Response(orjson.dumps(error.body()), problem.status, {"content-type": JSON})
    response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]
    return response
