"""The body of `POST /_inference/...`, parsed as ES's InferenceAction request parser does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sidecar.api.body import required_body
from sidecar.domain.errors import ElasticsearchError, action_request_validation_exception
from sidecar.http import Request

_PARSER_NAME = "cluster:monitor/xpack/inference"
_FIELDS = ("input", "task_settings")


@dataclass(frozen=True)
class InferenceRequest:
    inputs: list[str]
    task_settings: dict[str, Any] = field(default_factory=dict)
    missing_input: bool = False

    def validate(self) -> None:
        """ES `InferenceAction.Request.validate`, which `TransportAction.execute` runs before the security filter."""
        if self.missing_input:
            raise action_request_validation_exception(["missing input"])
        if not self.inputs:
            raise action_request_validation_exception(["input array is empty"])


def _location(raw: bytes, needle: str) -> str:
    text = raw.decode(errors="replace")
    index = text.find(f'"{needle}"')
    if index < 0:
        return "[1:1]"
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"[{line}:{column}]"


def _parse_error(raw: bytes, field_name: str, reason: str) -> ElasticsearchError:
    reason = f"{_location(raw, field_name)} [{_PARSER_NAME}] {reason}"
    return ElasticsearchError(400, "x_content_parse_exception", reason)


def read_inference_request(request: Request) -> InferenceRequest:
    """The body as ES's REST handler parses it; `validate()` is the separate, later step."""
    raw = required_body(request)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ElasticsearchError(400, "x_content_parse_exception", f"[1:1] Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise ElasticsearchError(400, "x_content_parse_exception", "[1:1] request body must be a JSON object")
    for name in body:
        if name not in _FIELDS:
            raise _parse_error(raw, name, f"unknown field [{name}]")
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if inputs is not None and (not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs)):
        raise _parse_error(raw, "input", "failed to parse field [input]")
    task_settings = body.get("task_settings") or {}
    if not isinstance(task_settings, dict):
        raise _parse_error(raw, "task_settings", "failed to parse field [task_settings]")
    return InferenceRequest(inputs or [], task_settings, missing_input=inputs is None)
