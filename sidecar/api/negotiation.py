"""Content negotiation as ES 8 does it: JSON or the versioned vendor type, echoed back."""

from __future__ import annotations

from sidecar.domain.errors import FlatError, unsupported_content_type
from sidecar.http import Request

JSON = "application/json"
_VENDOR_JSON = "application/vnd.elasticsearch+json"
_ACCEPTED_BODY_TYPES = (JSON, _VENDOR_JSON)


def response_content_type(request: Request) -> str:
    """The vendor type with its compatible-with version when the caller asked for it, else plain JSON."""
    accept = request.headers.get("Accept", "")
    if _VENDOR_JSON in accept:
        for part in accept.split(","):
            if _VENDOR_JSON in part:
                return "; ".join(p.strip() for p in part.split(";") if not p.strip().startswith("q="))
    return JSON


def check_request_content_type(request: Request) -> None:
    """Bodies must be JSON, declared so; anything else is ES's 406. Bodyless requests need no Content-Type."""
    if not request.can_read_body:
        return
    raw = request.headers.get("Content-Type")
    if raw is None:
        raise FlatError(406, {"error": "Content-Type header is missing", "status": 406})
    media_type = raw.split(";")[0].strip().lower()
    if media_type not in _ACCEPTED_BODY_TYPES:
        raise unsupported_content_type(raw)
