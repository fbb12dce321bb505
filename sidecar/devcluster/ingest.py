"""Ingest pipelines as far as the sidecar's story needs them: the `inference` processor (both the
`input_output` and the older `field_map`/`target_field` forms) running on the ML state, plus
`set`, `remove` and `rename`; pipelines run on index, create and bulk writes and in `_simulate`."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson

from sidecar.devcluster import ml_inference, ml_models
from sidecar.devcluster.errors import illegal_argument
from sidecar.devcluster.state import ClusterState, Index
from sidecar.domain.errors import ElasticsearchError

if TYPE_CHECKING:
    from sidecar.devcluster.transport import EsRequest

PROCESSOR_TYPES = frozenset({"inference", "set", "remove", "rename"})


def processor_error(reason: str, processor_type: str, property_name: str | None = None) -> ElasticsearchError:
    metadata = {"processor_type": processor_type}
    if property_name is not None:
        metadata = {"property_name": property_name, **metadata}
    return ElasticsearchError(400, "parse_exception", reason, metadata=metadata)


def validate_pipeline(definition: dict[str, Any]) -> None:
    processors = definition.get("processors")
    if processors is None:
        raise ElasticsearchError(
            400,
            "parse_exception",
            "[processors] required property is missing",
            metadata={"property_name": "processors"},
        )
    for processor in [*processors, *(definition.get("on_failure") or [])]:
        if not isinstance(processor, dict) or len(processor) != 1:
            raise ElasticsearchError(400, "parse_exception", "processor must be an object with a single key")
        kind, options = next(iter(processor.items()))
        if kind not in PROCESSOR_TYPES:
            raise ElasticsearchError(
                400,
                "parse_exception",
                f"No processor type exists with name [{kind}]",
                metadata={"processor_type": kind},
            )
        _validate_options(kind, options or {})


def _validate_options(kind: str, options: dict[str, Any]) -> None:
    required = {"inference": ["model_id"], "set": ["field"], "remove": ["field"], "rename": ["field", "target_field"]}
    for name in required[kind]:
        if name not in options:
            raise processor_error(f"[{name}] required property is missing", kind, name)
    if kind == "set" and "value" not in options and "copy_from" not in options:
        raise processor_error("[value] required property is missing", kind, "value")


def referenced_model_ids(state: ClusterState) -> set[str]:
    ids = set()
    for pipeline in state.pipelines.values():
        for processor in pipeline.definition.get("processors", []):
            options = processor.get("inference") if isinstance(processor, dict) else None
            if isinstance(options, dict) and "model_id" in options:
                ids.add(str(options["model_id"]))
    return ids


def pipeline_count(state: ClusterState, model_id: str) -> int:
    deployment_ids = {d.deployment_id for d in ml_models.deployments_of(state, model_id)}
    wanted = {model_id, *deployment_ids}
    count = 0
    for pipeline in state.pipelines.values():
        processors = pipeline.definition.get("processors", [])
        if any(isinstance(p, dict) and str((p.get("inference") or {}).get("model_id")) in wanted for p in processors):
            count += 1
    return count


def run_pipeline(state: ClusterState, definition: dict[str, Any], source: dict[str, Any]) -> dict[str, Any] | None:
    """The document after the pipeline, or None when a processor dropped it."""
    document = copy.deepcopy(source)
    for processor in definition.get("processors", []):
        kind, options = next(iter(processor.items()))
        try:
            _apply(state, kind, options or {}, document)
        except ElasticsearchError:
            if options and options.get("ignore_failure"):
                continue
            if definition.get("on_failure"):
                for handler in definition["on_failure"]:
                    handler_kind, handler_options = next(iter(handler.items()))
                    _apply(state, handler_kind, handler_options or {}, document)
                return document
            raise
    return document


def _apply(state: ClusterState, kind: str, options: dict[str, Any], document: dict[str, Any]) -> None:
    if kind == "set":
        if options.get("override", True) or get_path(document, options["field"]) is None:
            value = get_path(document, options["copy_from"]) if "copy_from" in options else options.get("value")
            set_path(document, options["field"], copy.deepcopy(value))
    elif kind == "remove":
        fields = options["field"] if isinstance(options["field"], list) else [options["field"]]
        for field in fields:
            if not remove_path(document, field) and not options.get("ignore_missing"):
                raise illegal_argument(f"field [{field}] not present as part of path [{field}]")
    elif kind == "rename":
        value = get_path(document, options["field"])
        if value is None:
            if options.get("ignore_missing"):
                return
            raise illegal_argument(f"field [{options['field']}] doesn't exist")
        remove_path(document, options["field"])
        set_path(document, options["target_field"], value)
    elif kind == "inference":
        _infer(state, options, document)


def _infer(state: ClusterState, options: dict[str, Any], document: dict[str, Any]) -> None:
    model_id = str(options["model_id"])
    if "input_output" in options:
        pairs = options["input_output"]
        for pair in pairs if isinstance(pairs, list) else [pairs]:
            value = get_path(document, pair["input_field"])
            if value is None:
                if options.get("ignore_missing"):
                    continue
                raise illegal_argument(
                    f"field [{pair['input_field']}] not present as part of path [{pair['input_field']}]"
                )
            result = ml_inference.infer_texts(state, model_id, [value])[0]
            set_path(document, pair["output_field"], result[ml_models.DEFAULT_RESULTS_FIELD])
        return
    field_map: dict[str, str] = options.get("field_map") or {}
    doc = dict(document)
    for source_field, model_field in field_map.items():
        value = get_path(document, source_field)
        if value is not None:
            doc[model_field] = value
    overrides = options.get("inference_config", {}).get("text_expansion", {})
    results_field = overrides.get("results_field", ml_models.DEFAULT_RESULTS_FIELD)
    result = ml_inference.infer(state, model_id, [doc], results_field)[0]
    target = str(options.get("target_field", "ml.inference"))
    set_path(document, f"{target}.{results_field}", result[results_field])
    if result.get("is_truncated"):
        set_path(document, f"{target}.is_truncated", True)
    set_path(document, f"{target}.model_id", model_id)


def run_document_pipelines(
    req: EsRequest, index: Index, source: dict[str, Any], pipeline_id: str | None, raw: str | None
) -> tuple[dict[str, Any], str | None]:
    """The request's pipeline (or the index default), then the index final pipeline."""
    chosen = pipeline_id if pipeline_id is not None else index.settings.get("index.default_pipeline")
    ids = [p for p in (chosen, index.settings.get("index.final_pipeline")) if p and p != "_none"]
    if not ids:
        return source, raw
    document = source
    for current in ids:
        pipeline = req.state.pipelines.get(current)
        if pipeline is None:
            raise illegal_argument(f"pipeline with id [{current}] does not exist")
        result = run_pipeline(req.state, pipeline.definition, document)
        if result is None:
            break
        document = result
    return document, orjson.dumps(document).decode()


# --- dotted paths ---------------------------------------------------------------------------


def get_path(document: dict[str, Any], path: str) -> Any:
    if path in document:
        return document[path]
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def remove_path(document: dict[str, Any], path: str) -> bool:
    parts = path.split(".")
    node: Any = document
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(node, dict) and parts[-1] in node:
        del node[parts[-1]]
        return True
    return False
