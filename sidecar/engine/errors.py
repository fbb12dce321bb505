"""The errors the engine itself raises, worded like Elasticsearch."""

from __future__ import annotations

from sidecar.domain.errors import ElasticsearchError
from sidecar.engine.timing import format_time_value


def request_timed_out(timeout: float) -> ElasticsearchError:
    return ElasticsearchError(408, "status_exception", f"Request timed out after [{format_time_value(timeout)}]")


def rate_limit_queue_full(model_id: str) -> ElasticsearchError:
    return ElasticsearchError(
        429, "status_exception", f"Rate limit exceeded for inference entity id [{model_id}]: the request queue is full"
    )


def engine_closed() -> ElasticsearchError:
    return ElasticsearchError(503, "status_exception", "The inference engine is shutting down")


def wrong_result_count(model_id: str, expected: int, received: int) -> ElasticsearchError:
    return ElasticsearchError(
        500,
        "illegal_state_exception",
        f"Inference entity id [{model_id}] returned [{received}] results for [{expected}] inputs",
    )
