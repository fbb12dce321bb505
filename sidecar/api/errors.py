"""Rendering of every error as Elasticsearch renders it; the one place domain errors become responses."""

from __future__ import annotations

from typing import Any

import orjson

from sidecar.api.filter_path import ResponseFilter
from sidecar.api.keys import SETTINGS
from sidecar.api.negotiation import response_content_type
from sidecar.api.pretty import pretty_json
from sidecar.domain.errors import ElasticsearchError, FlatError, PassThroughError
from sidecar.http import Request, Response

_PRETTY = ("", "true")  # ES `paramAsBoolean("pretty", false)`: `?pretty` alone or `=true`


def json_response(
    request: Request, body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A body as ES's `RestChannel.newBuilder` renders it: `filter_path` applies, then `pretty`."""
    query = request.query
    if query and (filter_path := query.get("filter_path")) and isinstance(body, dict):
        body = _filtered(request, body, filter_path)
    return _render(request, body, status, headers)


def error_response(request: Request, error: ElasticsearchError | FlatError) -> Response:
    # ES renders every error with `newErrorBuilder`, which ignores `filter_path` (`pretty` still applies).
    if isinstance(error, FlatError):
        return _render(request, error.flat_body, error.status, error.headers)
    response = _render(request, error.body(), error.status)
    if not isinstance(error, PassThroughError):
        for name, values in error.headers.items():
            for value in values:
                response.headers.add(name, value)
    return response


def _render(request: Request, body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    raw = orjson.dumps(body)
    if request.query.get("pretty") in _PRETTY:
        raw = pretty_json(raw)
    response = Response(body=raw, status=status, headers=headers)
    response.headers["Content-Type"] = response_content_type(request)
    return response


def _filtered(request: Request, body: dict[str, Any], filter_path: str) -> dict[str, Any]:
    response_filter = ResponseFilter.parse(filter_path, keep_empty=request.app[SETTINGS].api_compat != "8.12")
    return body if response_filter is None else response_filter.apply(body)


def internal_error() -> ElasticsearchError:
    return ElasticsearchError(500, "exception", "An internal error occurred in the inference sidecar")
