"""Per-request plumbing: request id, logging, metrics, and turning every failure into an ES error body."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from sidecar.api.errors import error_response, internal_error, too_large
from sidecar.api.keys import METRICS, MODEL_ID, SERVICE_NAME, SETTINGS
from sidecar.api.negotiation import check_request_content_type
from sidecar.domain.errors import ElasticsearchError, FlatError, no_handler, wrong_method
from sidecar.observability.logging import get_logger, log_request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = get_logger("sidecar.request")

PRODUCT_HEADER = ("X-elastic-product", "Elasticsearch")
# Request ids: unique per process start, cheap to make on every request.
_ID_PREFIX = uuid.uuid4().hex[:12]
_request_numbers = itertools.count(1)


async def add_product_header(_request: web.Request, response: web.StreamResponse) -> None:
    """ES adds this before any handler runs; the official client refuses answers without it."""
    response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    opaque_id = request.headers.get("X-Opaque-Id")
    request_id = opaque_id or f"{_ID_PREFIX}-{next(_request_numbers)}"
    # Requests on one connection share its task's context; request_id is the only key bound, and is rebound here.
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    metrics.requests_in_flight += 1
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if opaque_id is not None:
            response.headers["X-Opaque-Id"] = opaque_id
        return response
    finally:
        metrics.requests_in_flight -= 1
        duration = time.perf_counter() - started
        route = _route_name(request)
        service = request.get(SERVICE_NAME, "")
        metrics.count_request(route, request.method, status, service, duration)
        if not route.startswith("/_sidecar/"):
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


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        check_request_content_type(request)
        return await handler(request)
    except (ElasticsearchError, FlatError) as error:
        return error_response(request, error)
    except web.HTTPRequestEntityTooLarge:
        return error_response(request, too_large(request.app[SETTINGS].max_body_bytes))
    except web.HTTPMethodNotAllowed as exc:
        return error_response(request, wrong_method(request.raw_path, request.method, sorted(exc.allowed_methods)))
    except web.HTTPNotFound:
        return error_response(request, no_handler(request.raw_path, request.method))
    except web.HTTPException as exc:
        return error_response(request, ElasticsearchError(exc.status, "status_exception", exc.reason))
    except Exception:
        log.exception("unhandled error", method=request.method, route=_route_name(request))
        return error_response(request, internal_error())
