"""Parsing of request settings maps, with the exact messages of ES's MapParsingUtils / ServiceUtils.

ES removes each key it understands from the map, collects validation messages for one settings object
into a single `validation_exception`, fails at once (`status_exception`) on a value of the wrong JSON
type, and finally rejects whatever keys are left over.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sidecar.domain.errors import status_exception, validation_exception

SERVICE_SETTINGS = "service_settings"
TASK_SETTINGS = "task_settings"
SIMILARITY_MEASURES = ("cosine", "dot_product", "l2_norm")

_JAVA_TYPE_NAMES: dict[type, str] = {int: "Integer", str: "String", dict: "Map", bool: "Boolean", list: "List"}


class Validation:
    """Collects the messages of one settings object, then raises them together."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise validation_exception(self.messages)


def java_repr(value: Any) -> str:
    """How Java's `Map.toString` prints a parsed JSON value."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_repr(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def remove_as_type(settings: dict[str, Any], key: str, expected: type) -> Any:
    value = settings.pop(key, None)
    if value is None:
        return None
    matches = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is int and matches and not -(2**31) <= value < 2**31:
        matches = False
    if not matches:
        raise status_exception(
            f"field [{key}] is not of the expected type. The value [{java_repr(value)}] "
            f"cannot be converted to a [{_JAVA_TYPE_NAMES.get(expected, expected.__name__)}]"
        )
    return value


def remove_map_or_throw(config: dict[str, Any], key: str) -> dict[str, Any]:
    if config.get(key) is None:
        config.pop(key, None)
        raise status_exception(f"Missing required field [{key}]")
    return dict(remove_as_type(config, key, dict))


def remove_optional_map(config: dict[str, Any], key: str) -> dict[str, Any]:
    if key not in config:
        return {}
    return remove_map_or_throw(config, key)


def remove_map_or_default_empty(config: dict[str, Any], key: str) -> dict[str, Any]:
    """ES `ServiceUtils.removeFromMapOrDefaultEmpty`: absent or null is an empty map; another type fails."""
    value = remove_as_type(config, key, dict)
    return {} if value is None else dict(value)


def throw_if_not_empty(settings: dict[str, Any], service: str) -> None:
    if settings:
        raise status_exception(
            f"Model configuration contains settings [{java_repr(settings)}] unknown to the [{service}] service"
        )


def missing_setting(key: str, scope: str) -> str:
    return f"[{scope}] does not contain the required setting [{key}]"


def must_be_positive(key: str, value: int) -> str:
    return f"Invalid value [{value}]. [{key}] must be a positive integer"


def extract_optional_string(settings: dict[str, Any], key: str, scope: str, validation: Validation) -> str | None:
    value = remove_as_type(settings, key, str)
    if value is not None and value == "":
        validation.add(f"[{scope}] Invalid value empty string. [{key}] must be a non-empty string")
        return None
    return value


def extract_required_string(settings: dict[str, Any], key: str, scope: str, validation: Validation) -> str | None:
    had_key = settings.get(key) is not None
    value = extract_optional_string(settings, key, scope, validation)
    if not had_key:
        validation.add(missing_setting(key, scope))
    return value


def extract_required_positive_int(settings: dict[str, Any], key: str, scope: str, validation: Validation) -> int | None:
    value = remove_as_type(settings, key, int)
    if value is None:
        validation.add(missing_setting(key, scope))
    elif value < 1:
        validation.add(must_be_positive(key, value))
        return None
    return value


def extract_optional_positive_int(settings: dict[str, Any], key: str, scope: str, validation: Validation) -> int | None:
    value = remove_as_type(settings, key, int)
    if value is not None and value < 1:
        validation.add(f"[{scope}] " + must_be_positive(key, value))
        return None
    return value


def extract_similarity(settings: dict[str, Any], scope: str, validation: Validation) -> str | None:
    value = extract_optional_string(settings, "similarity", scope, validation)
    if value is None:
        return None
    if value.lower() not in SIMILARITY_MEASURES:
        allowed = ", ".join(SIMILARITY_MEASURES)
        validation.add(f"[{scope}] Invalid value [{value}] received. [similarity] must be one of [{allowed}]")
        return None
    return value.lower()


def check_url(url: str | None, key: str, scope: str, validation: Validation) -> str | None:
    """An absolute http(s) URL; anything else gets ES's `Invalid url` message."""
    if url is None:
        return None
    reason = _url_problem(url)
    if reason is not None:
        validation.add(
            f"[{scope}] Invalid url [{url}] received for field [{key}]. "
            f"Error: unable to parse url [{url}]. Reason: {reason}"
        )
        return None
    return url


def _url_problem(url: str) -> str | None:
    if any(ch.isspace() for ch in url):
        return "Illegal character in URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "URL scheme must be http or https"
    if not parts.hostname:
        return "URL must have a host"
    return None


def extract_rate_limit(settings: dict[str, Any], validation: Validation, service: str) -> dict[str, int] | None:
    """ES 8.14+ `RateLimitSettings.of`: `rate_limit: {"requests_per_minute": N}` in `service_settings`.

    None when absent (or null). Any other key in `rate_limit` fails at once with the service's unknown-settings
    message, quoting the `rate_limit` map itself; `service` is the name ES passes, which is not always the
    service the request named (both Hugging Face services pass `hugging_face`).
    """
    rate_limit = remove_map_or_default_empty(settings, "rate_limit")
    requests = extract_optional_positive_int(rate_limit, "requests_per_minute", "rate_limit", validation)
    throw_if_not_empty(rate_limit, service)
    return None if requests is None else {"requests_per_minute": requests}
