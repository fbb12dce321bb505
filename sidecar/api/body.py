"""Reading JSON request bodies with ES's parse errors."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sidecar.domain.errors import ElasticsearchError, parse_exception


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; ES answers `request body is required` and `Failed to parse content to map`."""
    raw = await request.read()
    if not raw.strip():
        raise parse_exception("request body is required")
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
