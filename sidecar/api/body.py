"""Reading request bodies with ES's errors: the REST layer requires one, the transport action parses it."""

from __future__ import annotations

from typing import Any

import orjson

from sidecar.domain.errors import ElasticsearchError, parse_exception
from sidecar.http import Request


def required_body(request: Request) -> bytes:
    """ES `RestRequest.requiredContent`: `request body is required` when there is none."""
    raw = request.body
    if not raw.strip():
        raise parse_exception("request body is required")
    return raw


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ES's `Failed to parse content to map`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ElasticsearchError(
            400,
            "parse_exception",
            "Failed to parse content to map",
            caused_by={"type": "json_parse_exception", "reason": str(exc)},
        ) from None
    if not isinstance(value, dict):
        raise ElasticsearchError(
            400,
            "parse_exception",
            "Failed to parse content to map",
            caused_by={"type": "json_parse_exception", "reason": "the request body is not a JSON object"},
        )
    return value
