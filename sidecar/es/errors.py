"""The one place where Elasticsearch client errors become domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch import ApiError, TransportError
from elasticsearch import ConnectionError as EsConnectionError

from sidecar.domain.errors import ElasticsearchError, cluster_unavailable


def error_type(body: Any) -> str | None:
    """The `error.type` of an ES error body, or None for any other body."""
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def translate(exc: Exception) -> ElasticsearchError:
    if isinstance(exc, ApiError):
        return ElasticsearchError.from_body(exc.meta.status, exc.body)
    if isinstance(exc, EsConnectionError | TransportError):
        return cluster_unavailable(type(exc).__name__)
    raise exc


@asynccontextmanager
async def es_errors() -> AsyncIterator[None]:
    """Re-raise client errors as the ES error the caller should see (503 when ES is unreachable)."""
    try:
        yield
    except (ApiError, TransportError) as exc:
        raise translate(exc) from None
