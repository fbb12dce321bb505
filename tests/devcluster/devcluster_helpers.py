"""Small helpers for the stand-in's tests (a module name no other test folder uses)."""

from __future__ import annotations

import base64
from typing import Any


def basic(user: str, password: str = "changeme") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ELASTIC = basic("elastic")


def es_error(status: int, error_type: str, reason: str, **extra: Any) -> dict[str, Any]:
    """ES's envelope for an error that is its own root cause."""
    own = {"type": error_type, "reason": reason, **extra}
    return {"error": {"root_cause": [own], **own}, "status": status}
