"""Mappings: validation at index creation, `dynamic` enforcement on documents (strict, false, true),
merging `PUT _mapping` updates, and field-type lookups for queries and sorts."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from sidecar.devcluster.errors import illegal_argument, strict_dynamic_mapping
from sidecar.domain.errors import ElasticsearchError

ROOT_KEYS = frozenset(
    {
        "properties",
        "dynamic",
        "_meta",
        "_source",
        "_routing",
        "dynamic_templates",
        "runtime",
        "date_detection",
        "numeric_detection",
        "dynamic_date_formats",
        "enabled",
        "subobjects",
        "_field_names",
        "_data_stream_timestamp",
    }
)
FIELD_TYPES = frozenset(
    {
        "object",
        "nested",
        "flattened",
        "keyword",
        "constant_keyword",
        "wildcard",
        "text",
        "match_only_text",
        "long",
        "integer",
        "short",
        "byte",
        "double",
        "float",
        "half_float",
        "scaled_float",
        "unsigned_long",
        "date",
        "date_nanos",
        "boolean",
        "binary",
        "ip",
        "version",
        "rank_feature",
        "rank_features",
        "sparse_vector",
        "dense_vector",
        "geo_point",
        "geo_shape",
        "point",
        "shape",
        "completion",
        "search_as_you_type",
        "alias",
        "integer_range",
        "float_range",
        "long_range",
        "double_range",
        "date_range",
        "ip_range",
        "semantic_text",
        "histogram",
        "token_count",
        "annotated_text",
        "percolator",
        "join",
        "aggregate_metric_double",
    }
)
SORTABLE_TYPES = frozenset(
    {
        "keyword",
        "constant_keyword",
        "wildcard",
        "long",
        "integer",
        "short",
        "byte",
        "double",
        "float",
        "half_float",
        "scaled_float",
        "unsigned_long",
        "date",
        "date_nanos",
        "boolean",
        "ip",
        "version",
    }
)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def mapper_parsing(reason: str, wrap: str | None = None) -> ElasticsearchError:
    inner = {"type": "mapper_parsing_exception", "reason": reason}
    if wrap is None:
        return ElasticsearchError(400, "mapper_parsing_exception", reason)
    return ElasticsearchError(400, "mapper_parsing_exception", f"{wrap}{reason}", caused_by=inner, root_cause=[inner])


def normalise_mappings(mappings: dict[str, Any], *, wrap: str | None = "Failed to parse mapping: ") -> dict[str, Any]:
    """Validate a mappings body and store `dynamic` the way ES renders it (a string)."""
    unsupported = [f"{k} : {_java_value(v)}" for k, v in mappings.items() if k not in ROOT_KEYS]
    if unsupported:
        raise mapper_parsing(f"Root mapping definition has unsupported parameters:  [{', '.join(unsupported)}]", wrap)
    result = dict(mappings)
    if "dynamic" in result:
        result["dynamic"] = _dynamic_value(result["dynamic"])
    if "properties" in result:
        result["properties"] = _normalise_properties(result["properties"], wrap)
    return result


def _normalise_properties(properties: Any, wrap: str | None) -> dict[str, Any]:
    if not isinstance(properties, dict):
        raise mapper_parsing(
            "Expected map for property [fields] on field [properties] but got a class java.lang.String", wrap
        )
    normalised: dict[str, Any] = {}
    for name, definition in properties.items():
        if not isinstance(definition, dict):
            raise mapper_parsing(
                f"Expected map for property [fields] on field [{name}] but got a class java.lang.String", wrap
            )
        field = dict(definition)
        field_type = field.get("type")
        if field_type is not None and field_type not in FIELD_TYPES:
            raise mapper_parsing(f"No handler for type [{field_type}] declared on field [{name}]", wrap)
        if "dynamic" in field:
            field["dynamic"] = _dynamic_value(field["dynamic"])
        if "properties" in field:
            field["properties"] = _normalise_properties(field["properties"], wrap)
        normalised[name] = field
    return normalised


def _dynamic_value(value: Any) -> str:
    text = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
    if text not in ("true", "false", "strict", "runtime"):
        raise mapper_parsing(f"Could not convert [dynamic] to boolean or [strict|runtime]: [{value}]")
    return text


def _java_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_mappings(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`PUT _mapping`: add fields and change `dynamic`/`_meta`; a changed field type is an error."""
    update = normalise_mappings(update, wrap=None)
    merged = dict(current)
    for key, value in update.items():
        if key == "properties":
            merged["properties"] = _merge_properties(current.get("properties", {}), value)
        else:
            merged[key] = value
    return merged


def _merge_properties(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for name, definition in update.items():
        existing = current.get(name)
        if existing is None:
            merged[name] = definition
            continue
        old_type, new_type = existing.get("type", "object"), definition.get("type", "object")
        if old_type != new_type:
            raise illegal_argument(f"mapper [{name}] cannot be changed from type [{old_type}] to [{new_type}]")
        combined = {**existing, **definition}
        if "properties" in existing or "properties" in definition:
            combined["properties"] = _merge_properties(existing.get("properties", {}), definition.get("properties", {}))
        merged[name] = combined
    return merged


def apply_document(mappings: dict[str, Any], source: dict[str, Any], raw: str | None) -> dict[str, Any] | None:
    """Check a document against the mappings. Returns updated mappings when dynamic fields were added."""
    changed = False

    def visit(mapping: dict[str, Any], values: dict[str, Any], path: list[str], inherited: str) -> None:
        nonlocal changed
        dynamic = str(mapping.get("dynamic", inherited))
        properties = mapping.setdefault("properties", {}) if dynamic == "true" else mapping.get("properties", {})
        for key, value in values.items():
            field = properties.get(key)
            if field is not None:
                if isinstance(value, dict) and field.get("type", "object") == "object":
                    visit(field, value, [*path, key], dynamic)
                continue
            if dynamic == "strict":
                location = value_location(raw if raw is not None else orjson.dumps(source).decode(), [*path, key])
                raise strict_dynamic_mapping(location, key, ".".join(path) if path else "_doc")
            if dynamic in ("true", "runtime"):
                properties[key] = infer_field(value)
                changed = True

    working = json.loads(json.dumps(mappings))
    visit(working, source, [], "true")
    return working if changed else None


def infer_field(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        first = next((v for v in value if v is not None), None)
        return infer_field(first) if first is not None else {"type": "keyword"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, dict):
        return {"properties": {k: infer_field(v) for k, v in value.items()}}
    return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def field_type(mappings: dict[str, Any], path: str) -> str | None:
    """The mapped type of a dotted field path (`name.keyword` multi-fields included)."""
    node: dict[str, Any] | None = {"properties": mappings.get("properties", {})}
    parts = path.split(".")
    for i, part in enumerate(parts):
        if node is None:
            return None
        properties = node.get("properties", {})
        if part in properties:
            node = properties[part]
            continue
        fields = node.get("fields", {})
        if part in fields and i == len(parts) - 1:
            return str(fields[part].get("type"))
        return None
    if node is None:
        return None
    return str(node.get("type", "object"))


def value_location(raw: str, path: list[str]) -> str:
    """`line:column` of the value at `path`, as Jackson reports a token location."""
    try:
        position = _find_value(raw, path)
    except (ValueError, IndexError):
        position = None
    if position is None:
        return "1:2"
    line = raw.count("\n", 0, position) + 1
    column = position - (raw.rfind("\n", 0, position) + 1) + 1
    return f"{line}:{column}"


def _find_value(raw: str, path: list[str]) -> int | None:
    position = _skip(raw, 0)
    for key in path:
        if raw[position] != "{":
            return None
        position = _skip(raw, position + 1)
        while raw[position] != "}":
            name, position = json.decoder.scanstring(raw, position + 1)  # type: ignore[attr-defined]
            position = _skip(raw, _skip(raw, position) + 1)
            if name == key:
                break
            _, position = _DECODER.raw_decode(raw, position)
            position = _skip(raw, position)
            if raw[position] == ",":
                position = _skip(raw, position + 1)
        else:
            return None
    return position


def _skip(raw: str, position: int) -> int:
    match = _WHITESPACE.match(raw, position)
    return match.end() if match else position
