"""Which ingest pipelines use an inference endpoint: ES `InferenceProcessorInfoExtractor`, read over REST.

An `inference` processor's `model_id` counts, also inside a `foreach` processor or a processor's `on_failure`
handlers, down to 10 levels (ES's limit); a pipeline's own `on_failure` is not searched, as in ES.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError

from sidecar.es.errors import translate

_INFERENCE = "inference"
_FOREACH = "foreach"
_MAX_NESTING = 10


def pipelines_referencing(pipelines: Mapping[str, Any], endpoint_id: str) -> list[str]:
    """The ids, sorted, of the pipelines (as `GET _ingest/pipeline` answers) whose processors use `endpoint_id`."""
    return sorted(pipeline_id for pipeline_id, pipeline in pipelines.items() if endpoint_id in _model_ids(pipeline))


async def pipelines_using(es: AsyncElasticsearch, authorization: str | None, endpoint_id: str) -> list[str]:
    """Read the cluster's pipelines with the caller's credentials (the sidecar's own without security)."""
    client = es if authorization is None else es.options(headers={"authorization": authorization})
    try:
        response = await client.ingest.get_pipeline()
    except NotFoundError:
        return []  # no pipeline at all: ES answers 404 `{}`
    except (ApiError, TransportError) as exc:
        raise translate(exc) from None
    return pipelines_referencing(response.body, endpoint_id)


def _model_ids(pipeline: Any) -> set[str]:
    found: set[str] = set()
    processors = pipeline.get("processors") if isinstance(pipeline, dict) else None
    for processor in processors if isinstance(processors, list) else ():
        _collect_all(processor, found, 0)
    return found


def _collect_all(processors: Any, found: set[str], level: int) -> None:
    """`processors` is one `{type: definition}` object, as in a `processors` or `on_failure` list."""
    if isinstance(processors, dict):
        for kind, definition in processors.items():
            _collect(kind, definition, found, level)


def _collect(kind: str, definition: Any, found: set[str], level: int) -> None:
    if level > _MAX_NESTING or not isinstance(definition, dict):
        return
    if kind == _INFERENCE:
        model_id = definition.get("model_id")
        if isinstance(model_id, str):
            found.add(model_id)
        return
    if kind == _FOREACH:
        _collect_all(definition.get("processor"), found, level + 1)
        return
    handlers = definition.get("on_failure")
    for handler in handlers if isinstance(handlers, list) else ():
        _collect_all(handler, found, level + 1)
