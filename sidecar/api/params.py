"""Query parameters: ES rejects the ones a route does not know, and parses time values its own way."""

from __future__ import annotations

import re

from sidecar.domain.errors import illegal_argument, parse_exception
from sidecar.http import Request

COMMON_PARAMS = frozenset({"pretty", "human", "error_trace", "filter_path"})
_TIME_UNITS = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME_VALUE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(nanos|micros|ms|s|m|h|d)\s*$")


def check_params(request: Request, allowed: frozenset[str] = frozenset()) -> None:
    unknown = [name for name in request.query if name not in COMMON_PARAMS and name not in allowed]
    if not unknown:
        return
    noun = "parameter" if len(unknown) == 1 else "parameters"
    names = ", ".join(f"[{name}]" for name in unknown)
    raise illegal_argument(f"request [{request.path}] contains unrecognized {noun}: {names}")


def parse_time_value(value: str, setting: str) -> float:
    """Seconds for an ES time value such as `30s` or `500ms`; `-1` means no limit (negative)."""
    if value.strip() in ("-1", "0"):
        return float(value.strip())
    match = _TIME_VALUE.match(value)
    if match is None:
        raise parse_exception(
            f"failed to parse setting [{setting}] with value [{value}] as a time value: unit is missing or unrecognized"
        )
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def flag(request: Request, name: str) -> bool:
    """ES `RestRequest.paramAsBoolean`: absent is false, present without a value true, and only `true` or `false`
    are values."""
    value = request.query.get(name)
    if value is None or value == "false":
        return False
    if value in ("", "true"):
        return True
    raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
