"""structlog setup. Every log line passes the redaction processor before it is rendered."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"(key|token|passw|secret|authorization|credential|cookie)", re.IGNORECASE)
_CREDENTIAL_VALUE = re.compile(r"\b(Basic|Bearer|ApiKey)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_KEY_LIKE_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,})")
# Every match of the two patterns above contains one of these: a string without any is left as it is, after one
# check instead of two substitutions (this runs on every value of every log line, the request line included).
_MAYBE_CREDENTIAL = re.compile(r"basic|bearer|apikey|sk-|hf_", re.IGNORECASE)
_CREDENTIAL_REPLACEMENT = r"\1 " + REDACTED


# Tuples, not `str | dict`: a union is built anew on each evaluation, and this runs for every value of every line.
_SEQUENCES = (list, tuple)
_SCRUBBED = (str, dict, list, tuple)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        return [_scrub(v) for v in value]
    return value


# Most values repeat from line to line (route, method, service, model id, outcome): short strings found clean are
# remembered, a bounded number of them. Only clean ones: a string that held a credential is never kept.
_CLEAN_TEXTS: set[str] = set()
_MAX_CLEAN_TEXTS = 4096
_MAX_REMEMBERED_LENGTH = 256


def _scrub_text(value: str) -> str:
    if value in _CLEAN_TEXTS:
        return value
    if not _may_hold_credential(value):
        if len(value) <= _MAX_REMEMBERED_LENGTH:
            if len(_CLEAN_TEXTS) >= _MAX_CLEAN_TEXTS:
                _CLEAN_TEXTS.clear()
            _CLEAN_TEXTS.add(value)
        return value
    return _KEY_LIKE_VALUE.sub(REDACTED, _CREDENTIAL_VALUE.sub(_CREDENTIAL_REPLACEMENT, value))


def _may_hold_credential(value: str) -> bool:
    if not value.isascii():  # Unicode case-insensitive matching (U+0131 matches "i") is left to the regex
        return _MAYBE_CREDENTIAL.search(value) is not None
    lowered = value.lower()  # for ASCII, exactly what IGNORECASE compares; ~8x faster than the regex
    return "basic" in lowered or "bearer" in lowered or "apikey" in lowered or "sk-" in lowered or "hf_" in lowered


def _is_sensitive(key: object) -> bool:
    return isinstance(key, str) and _is_sensitive_name(key)


@functools.lru_cache(maxsize=1024)
def _is_sensitive_name(key: str) -> bool:
    """Log keys are few and repeat on every line: the verdict is remembered."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank out values under secret-looking keys, and credentials embedded in strings."""
    for key, value in event_dict.items():  # values are replaced, never added: the iteration stays valid
        if _is_sensitive(key):
            event_dict[key] = REDACTED
        elif type(value) is str:
            if value not in _CLEAN_TEXTS:
                event_dict[key] = _scrub_text(value)
        elif isinstance(value, _SCRUBBED):
            event_dict[key] = _scrub(value)
    return event_dict


def _dumps(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


RequestLine = Callable[[dict[str, Any], str], None]


def _structlog_request_line(fields: dict[str, Any], _request_id: str) -> None:
    structlog.get_logger("sidecar.request").info("request", **fields)  # request_id: bound in the context


def _skip_request_line(_fields: dict[str, Any], _request_id: str) -> None:
    return None


_request_line: RequestLine = _structlog_request_line


def log_request(fields: dict[str, Any], request_id: str) -> None:
    """The one line every request logs (event `request`); `request_id` is the one bound in the log context."""
    _request_line(fields, request_id)


def _json_request_line(stream: TextIO) -> RequestLine:
    """The request line as the JSON pipeline renders it, written without structlog's per-call machinery.

    It runs on every request, where the general pipeline cost a seventh of the sidecar's CPU. Inside the event
    loop the stream is flushed once per loop turn rather than once per line: one write for all the requests a
    turn finished. Other lines go through the same stream object, so the order of lines is kept.
    """
    flush_scheduled = False

    def flush() -> None:
        nonlocal flush_scheduled
        flush_scheduled = False
        stream.flush()

    def write(fields: dict[str, Any], request_id: str) -> None:
        nonlocal flush_scheduled
        event = {**fields, "event": "request", "request_id": request_id, "level": "info"}
        event["timestamp"] = datetime.now(UTC)
        redact_secrets(None, "", event)
        stream.write(orjson.dumps(event, default=str, option=orjson.OPT_UTC_Z).decode() + "\n")
        if flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            stream.flush()
            return
        flush_scheduled = True
        loop.call_soon(flush)

    return write


def configure_logging(level: str = "INFO", log_format: str = "json", stream: Any = None) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    global _request_line
    if logging.getLevelName(level) > logging.INFO:
        _request_line = _skip_request_line
    elif log_format == "json":
        _request_line = _json_request_line(stream or sys.stdout)
    else:
        _request_line = _structlog_request_line
    # Libraries log through the standard library; send their warnings through the same pipeline.
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(_StdlibBridge())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class _StdlibBridge(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {"event": record.getMessage(), "logger": record.name, "level": record.levelname.lower()}
        if record.exc_info:
            event["exception"] = type(record.exc_info[1]).__name__
        redact_secrets(None, "", event)
        return _dumps(event)


def get_logger(name: str = "sidecar") -> Any:
    return structlog.get_logger(name)
