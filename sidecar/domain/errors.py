"""Errors that carry their HTTP status and Elasticsearch error type.

`ElasticsearchError` renders as ES's envelope (`{"error":{"root_cause":[...],"type","reason"},"status"}`);
`FlatError` renders as the flat bodies the ES REST router writes when no handler ran.
"""

from __future__ import annotations

from typing import Any


class ElasticsearchError(Exception):
    def __init__(
        self,
        status: int,
        error_type: str,
        reason: str,
        *,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, list[str]] | None = None,
        caused_by: dict[str, Any] | None = None,
        root_cause: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.metadata = metadata or {}
        self.headers = headers or {}
        self.caused_by = caused_by
        self.root_cause = root_cause

    def body(self) -> dict[str, Any]:
        own: dict[str, Any] = {"type": self.error_type, "reason": self.reason, **self.metadata}
        if self.headers:
            own["header"] = self.headers
        root_cause = self.root_cause if self.root_cause is not None else [dict(own)]
        error: dict[str, Any] = {"root_cause": root_cause, **own}
        if self.caused_by is not None:
            error["caused_by"] = self.caused_by
        return {"error": error, "status": self.status}

    @classmethod
    def from_body(cls, status: int, body: Any) -> ElasticsearchError:
        """Rebuild an error that Elasticsearch itself answered, to pass it on unchanged."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return PassThroughError(status, body)
        known = {"root_cause", "type", "reason", "caused_by", "header"}
        return cls(
            status,
            str(error.get("type", "exception")),
            str(error.get("reason", "")),
            metadata={k: v for k, v in error.items() if k not in known},
            headers=error.get("header"),
            caused_by=error.get("caused_by"),
            root_cause=error.get("root_cause"),
        )


class PassThroughError(ElasticsearchError):
    """An ES answer whose body is not the standard envelope (a flat error); sent on as it came."""

    def __init__(self, status: int, raw_body: Any) -> None:
        super().__init__(status, "exception", str(raw_body))
        self.raw_body = raw_body

    def body(self) -> dict[str, Any]:
        if isinstance(self.raw_body, dict):
            return self.raw_body
        return {"error": str(self.raw_body), "status": self.status}


class FlatError(Exception):
    """The router-level errors of ES: no handler (400), wrong method (405), bad content type (406)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.flat_body = body
        self.headers = headers or {}


def no_handler(uri: str, method: str) -> FlatError:
    return FlatError(400, {"error": f"no handler found for uri [{uri}] and method [{method}]"})


def wrong_method(uri: str, method: str, allowed: list[str]) -> FlatError:
    reason = f"Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{', '.join(allowed)}]"
    return FlatError(
        405,
        {"error": reason, "status": 405},
        {"Allow": ",".join(allowed)},
    )


def unsupported_content_type(content_type: str) -> FlatError:
    return FlatError(406, {"error": f"Content-Type header [{content_type}] is not supported", "status": 406})


def status_exception(reason: str, status: int = 400) -> ElasticsearchError:
    return ElasticsearchError(status, "status_exception", reason)


def validation_exception(messages: list[str]) -> ElasticsearchError:
    return ElasticsearchError(400, "validation_exception", validation_reason(messages))


def action_request_validation_exception(messages: list[str]) -> ElasticsearchError:
    return ElasticsearchError(400, "action_request_validation_exception", validation_reason(messages))


def validation_reason(messages: list[str]) -> str:
    return "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, start=1))


def resource_not_found(reason: str) -> ElasticsearchError:
    return ElasticsearchError(404, "resource_not_found_exception", reason)


def resource_already_exists(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "resource_already_exists_exception", reason)


def illegal_argument(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "illegal_argument_exception", reason)


def illegal_state(reason: str) -> ElasticsearchError:
    return ElasticsearchError(500, "illegal_state_exception", reason)


def parse_exception(reason: str) -> ElasticsearchError:
    return ElasticsearchError(400, "parse_exception", reason)


def security_exception(status: int, reason: str, headers: dict[str, list[str]] | None = None) -> ElasticsearchError:
    return ElasticsearchError(status, "security_exception", reason, headers=headers)


def cluster_unavailable(detail: str) -> ElasticsearchError:
    return ElasticsearchError(503, "cluster_unavailable_exception", f"Elasticsearch is unavailable: {detail}")


class ProviderError(Exception):
    """A provider call failed. `retryable` and `retry_after` drive the engine's retries.

    `message` is the ES-style text (e.g. `Received a rate limit status code`) without any secret.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retryable: bool = False,
        retry_after: float | None = None,
        content_too_large: bool = False,
        upstream_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.content_too_large = content_too_large
        self.upstream_message = upstream_message

    def to_es_error(self, model_id: str) -> ElasticsearchError:
        """ES `toRestStatus`: the upstream status when below 500, otherwise 400."""
        detail = f"{self.message} for request from inference entity id [{model_id}] status [{self.status}]"
        if self.upstream_message is not None:
            detail += f". Error message: [{self.upstream_message}]"
        rest_status = self.status if 0 < self.status < 500 else 400
        return ElasticsearchError(rest_status, "status_exception", detail)
