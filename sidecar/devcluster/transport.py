"""The request and response objects handlers see: typed query parameters with ES's parse errors,
JSON bodies with ES's parse errors, content negotiation, and rendering with `Warning` headers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from sidecar.devcluster import security
from sidecar.devcluster.errors import (
    body_required,
    illegal_argument,
    media_type_error,
    unrecognized_parameters,
    x_content_parse,
)
from sidecar.domain.errors import ElasticsearchError, FlatError, parse_exception, unsupported_content_type

if TYPE_CHECKING:
    from sidecar.devcluster.routing import Route
    from sidecar.devcluster.state import ClusterState

JSON = "application/json"
VENDOR_PREFIX = "application/vnd.elasticsearch+"
ACCEPTED_BODY_TYPES = ("json", "x-ndjson", "yaml", "smile", "cbor")
GLOBAL_PARAMS = frozenset({"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"})
_COMPAT = re.compile(r"compatible-with\s*=\s*(\d+)")
_TIME = re.compile(r"^(-?\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)?$")
_TIME_UNITS = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass
class EsResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MediaType:
    kind: str
    compat_version: int | None


def parse_media_type(value: str) -> MediaType | None:
    main = value.split(";", 1)[0].strip().lower()
    version_match = _COMPAT.search(value)
    version = int(version_match.group(1)) if version_match else None
    if main.startswith(VENDOR_PREFIX):
        return MediaType(main[len(VENDOR_PREFIX) :], version)
    if main.startswith("application/"):
        return MediaType(main[len("application/") :], None)
    return None


def negotiate(http: web.Request, has_body: bool, major: int) -> str:
    """Check Content-Type and Accept as ES does; return the response Content-Type."""
    content_type_raw = http.headers.get("Content-Type")
    content_type: MediaType | None = None
    if has_body:
        if content_type_raw is None:
            raise FlatError(406, {"error": "Content-Type header is missing", "status": 406})
        content_type = parse_media_type(content_type_raw)
        if content_type is None or content_type.kind not in ACCEPTED_BODY_TYPES:
            raise unsupported_content_type(content_type_raw)
    accept_raw = http.headers.get("Accept", "")
    accept = next((m for part in accept_raw.split(",") if (m := parse_media_type(part)) is not None), None)
    allowed = {major, major - 1}
    for name, media, raw in (("Accept", accept, accept_raw), ("Content-Type", content_type, content_type_raw)):
        if media is not None and media.compat_version is not None and media.compat_version not in allowed:
            raise media_type_error(
                f"{name} version must be either version {major} or {major - 1}, but found "
                f"{media.compat_version}. {name}={raw}"
            )
    if (
        content_type is not None
        and accept is not None
        and accept.compat_version is not None
        and content_type.compat_version != accept.compat_version
    ):
        raise media_type_error(
            "A compatible version is required on both Content-Type and Accept headers if either one has "
            "requested a compatible version and the compatible versions must match. "
            f"Accept={accept_raw}, Content-Type={content_type_raw}"
        )
    if accept is not None and accept.compat_version is not None:
        return f"{VENDOR_PREFIX}json;compatible-with={accept.compat_version}"
    return JSON


class EsRequest:
    def __init__(
        self,
        http: web.Request,
        state: ClusterState,
        route: Route,
        path_params: dict[str, str],
        body: bytes,
        principal: security.Principal | None,
    ) -> None:
        self.http = http
        self.state = state
        self.route = route
        self.path_params = path_params
        self.body = body
        self.principal = principal
        self.params: dict[str, str] = {}
        for key, value in http.query.items():
            self.params.setdefault(key, value)
        self.warnings: list[str] = []

    @property
    def uri(self) -> str:
        return self.http.raw_path

    @property
    def path(self) -> str:
        return self.http.path

    def check_params(self) -> None:
        known = set(self.route.params) | GLOBAL_PARAMS | set(self.path_params)
        unknown = [name for name in self.params if name not in known]
        if unknown:
            raise unrecognized_parameters(self.path, unknown, set(self.route.params) | set(self.path_params))

    # --- parameters ---------------------------------------------------------------------------

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        return parse_boolean(value)

    def int_param(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value is None:
            return default
        return parse_int(name, value)

    def time_param(self, name: str, default: float) -> float:
        value = self.params.get(name)
        if value is None:
            return default
        return parse_time(name, value)

    def list_param(self, name: str) -> list[str]:
        value = self.params.get(name)
        return [part.strip() for part in value.split(",") if part.strip()] if value else []

    # --- bodies -------------------------------------------------------------------------------

    def json(self) -> Any:
        if not self.body.strip():
            return None
        return parse_json(self.body)

    def json_object(self, *, required: bool = True) -> dict[str, Any]:
        value = self.json()
        if value is None:
            if required:
                raise body_required()
            return {}
        if not isinstance(value, dict):
            raise parse_exception("request body must be a JSON object")
        return value

    # --- security -----------------------------------------------------------------------------

    def authorize_cluster(self, action: str) -> None:
        security.authorize_cluster_action(self.state, self.principal, action)

    def authorize_indices(self, action: str, indices: list[str]) -> None:
        security.authorize_index_action(self.state, self.principal, action, indices)
        self.note_system_index_access(indices)

    def index_allowed(self, action: str, index: str) -> bool:
        return security.index_action_allowed(self.state, self.principal, action, index)

    def note_system_index_access(self, indices: list[str]) -> None:
        system = sorted({name for name in indices if security.is_restricted(self.state, name)})
        if system:
            self.warn(
                f"this request accesses system indices: [{', '.join(system)}], but in a future major version, "
                "direct access to system indices will be prevented by default"
            )

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


def parse_boolean(value: str) -> bool:
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise illegal_argument(
            f"Failed to parse int parameter [{name}] with value [{value}]",
            caused_by={"type": "number_format_exception", "reason": f'For input string: "{value}"'},
        ) from None


def parse_time(name: str, value: str) -> float:
    text = value.strip().lower()
    if text in ("-1", "0"):
        return float(text)
    match = _TIME.match(text)
    if match is None or match.group(2) is None:
        raise parse_exception(
            f"failed to parse setting [{name}] with value [{value}] as a time value: unit is missing or unrecognized"
        )
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_json(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise x_content_parse(f"{exc.lineno}:{exc.colno}", _first_line(exc.msg)) from None


def _first_line(message: str) -> str:
    return message.split("\n", 1)[0]


def encode_body(body: Any, pretty: bool) -> bytes:
    if pretty:
        return json.dumps(body, indent=2, separators=(",", " : "), ensure_ascii=False).encode() + b"\n"
    return orjson.dumps(body)


def render(
    status: int,
    body: Any,
    content_type: str,
    *,
    headers: CIMultiDict[str] | None = None,
    pretty: bool = False,
    filter_path: str | None = None,
    head: bool = False,
) -> web.Response:
    response_headers: CIMultiDict[str] = CIMultiDict(headers or {})
    if body is None or head:
        return web.Response(status=status, headers=response_headers)
    if filter_path:
        body = filter_response(body, [p.strip() for p in filter_path.split(",") if p.strip()])
    response_headers["Content-Type"] = content_type
    return web.Response(status=status, body=encode_body(body, pretty), headers=response_headers)


def error_response(error: ElasticsearchError | FlatError, content_type: str, head: bool, pretty: bool) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    if isinstance(error, FlatError):
        for name, value in error.headers.items():
            headers.add(name, value)
        return render(error.status, error.flat_body, content_type, headers=headers, head=head, pretty=pretty)
    for name, values in error.headers.items():
        for value in values if isinstance(values, list) else [values]:
            headers.add(name, value)
    return render(error.status, error.body(), content_type, headers=headers, head=head, pretty=pretty)


def filter_response(body: Any, paths: list[str]) -> Any:
    """`filter_path`: keep the keys the dotted paths name (`*` one level, `**` any depth)."""
    includes = [p.split(".") for p in paths if not p.startswith("-")]
    if not includes:
        return body
    filtered = _filter(body, includes)
    return filtered if filtered is not None else {}


def _filter(node: Any, patterns: list[list[str]]) -> Any:
    if isinstance(node, list):
        items = [_filter(item, patterns) for item in node]
        kept = [item for item in items if item is not None]
        return kept or None
    if not isinstance(node, dict):
        return None
    result: dict[str, Any] = {}
    for key, value in node.items():
        deeper: list[list[str]] = []
        whole = False
        for pattern in patterns:
            head, rest = pattern[0], pattern[1:]
            if head == "**":
                deeper.append(pattern)
                if rest and _segment_matches(rest[0], key):
                    if len(rest) == 1:
                        whole = True
                    else:
                        deeper.append(rest[1:])
            elif _segment_matches(head, key):
                if rest:
                    deeper.append(rest)
                else:
                    whole = True
        if whole:
            result[key] = value
        elif deeper:
            child = _filter(value, deeper)
            if child is not None:
                result[key] = child
    return result or None


def _segment_matches(pattern: str, key: str) -> bool:
    return security.name_matches(key, pattern)
