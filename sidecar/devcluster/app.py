"""The stand-in as an aiohttp application: one catch-all route into ES's own router, then
content negotiation, authentication, parameter checks, authorisation and the handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from sidecar.devcluster import (
    cluster_api,
    document_api,
    index_api,
    ingest_api,
    license,
    ml_api,
    nodes,
    search_api,
    security_api,
)
from sidecar.devcluster.build import build_info
from sidecar.devcluster.errors import body_not_supported
from sidecar.devcluster.ml_deployments import cancel_tasks
from sidecar.devcluster.routing import Router
from sidecar.devcluster.security import RUN_AS_HEADER, apply_run_as, authenticate
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.transport import JSON, EsRequest, error_response, negotiate, parse_boolean, render
from sidecar.domain.errors import ElasticsearchError, FlatError

log = logging.getLogger("sidecar.devcluster")


@dataclass(frozen=True)
class Routers:
    secured: Router
    open: Router


STATE_KEY = web.AppKey("devcluster_state", ClusterState)
ROUTERS_KEY = web.AppKey("devcluster_routers", Routers)


def build_routers() -> Routers:
    common = [
        *cluster_api.routes(),
        *license.routes(),
        *nodes.routes(),
        *index_api.routes(),
        *document_api.routes(),
        *search_api.routes(),
        *ingest_api.routes(),
        *ml_api.routes(),
    ]
    return Routers(secured=Router([*common, *security_api.routes()]), open=Router(common))


def create_devcluster_app(state: ClusterState) -> web.Application:
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app[STATE_KEY] = state
    app[ROUTERS_KEY] = build_routers()
    app.on_response_prepare.append(_product_header)
    app.on_cleanup.append(_stop_background_tasks)
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _product_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-elastic-product"] = "Elasticsearch"
    opaque_id = request.headers.get("X-Opaque-Id")
    if opaque_id is not None:
        response.headers["X-Opaque-Id"] = opaque_id


async def _stop_background_tasks(app: web.Application) -> None:
    cancel_tasks(app[STATE_KEY])


def _pretty(http: web.Request) -> bool:
    try:
        return "pretty" in http.query and parse_boolean(http.query["pretty"])
    except ElasticsearchError:
        return False


def warning_header(state: ClusterState, text: str) -> str:
    build_hash = build_info(state.config.version)["build_hash"]
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 Elasticsearch-{state.config.version}-{build_hash} "{escaped}"'


async def _dispatch(http: web.Request) -> web.StreamResponse:
    state = http.app[STATE_KEY]
    routers = http.app[ROUTERS_KEY]
    head = http.method == "HEAD"
    pretty = _pretty(http)
    content_type = JSON
    try:
        body = await http.read()
        router = routers.secured if state.config.security_enabled else routers.open
        found, path_params = router.resolve(http.method, http.raw_path, http.raw_path)
        content_type = negotiate(http, bool(body), state.config.major)
        principal = None
        if state.config.security_enabled and found.authenticated:
            principal = authenticate(state, http.headers.get("Authorization"), http.raw_path)
            principal = apply_run_as(state, principal, http.headers.get(RUN_AS_HEADER), found.action or "")
        if not found.body and body.strip():
            raise body_not_supported(http.method, http.path)
        request = EsRequest(http, state, found, path_params, body, principal)
        request.check_params()
        if found.action is not None and found.action.startswith("cluster:"):
            request.authorize_cluster(found.action)
        response = await found.handler(request)
    except (ElasticsearchError, FlatError) as error:
        return error_response(error, content_type, head, pretty)
    except web.HTTPException as error:
        flat = FlatError(error.status, {"error": error.reason, "status": error.status})
        return error_response(flat, content_type, head, pretty)
    except (AttributeError, TypeError, ValueError, KeyError) as error:
        # A body of the wrong shape reaches handlers that read it as ES's parsers would; ES answers 400.
        log.warning("malformed request to the Elasticsearch stand-in: %s %s: %r", http.method, http.path, error)
        malformed = ElasticsearchError(400, "x_content_parse_exception", "[1:1] failed to parse the request body")
        return error_response(malformed, content_type, head, pretty)
    except Exception:
        log.exception("unexpected error in the Elasticsearch stand-in for %s %s", http.method, http.path)
        failure = ElasticsearchError(500, "exception", "unexpected error in the Elasticsearch stand-in")
        return error_response(failure, content_type, head, pretty)
    headers: CIMultiDict[str] = CIMultiDict(response.headers)
    for text in request.warnings:
        headers.add("Warning", warning_header(state, text))
    return render(
        response.status,
        response.body,
        content_type,
        headers=headers,
        pretty=pretty,
        filter_path=http.query.get("filter_path"),
        head=head,
    )
