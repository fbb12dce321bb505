"""Document REST routes: index, create, get, exists, source, delete, update and `_bulk`."""

from __future__ import annotations

import time
from typing import Any

from sidecar.devcluster import indices as index_meta
from sidecar.devcluster.documents import (
    DELETE_ACTION,
    GET_ACTION,
    WriteRequest,
    WriteResult,
    delete_document,
    filter_source,
    refresh_forced,
    source_filter,
    update_document,
    write_document,
)
from sidecar.devcluster.errors import illegal_argument
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.security import index_action_allowed, index_action_denied
from sidecar.devcluster.transport import EsRequest, EsResponse, parse_json
from sidecar.domain.errors import ElasticsearchError, action_request_validation_exception

WRITE_PARAMS = (
    "wait_for_active_shards",
    "refresh",
    "routing",
    "timeout",
    "version",
    "version_type",
    "pipeline",
    "require_alias",
    "require_data_stream",
)
INDEX_PARAMS = (*WRITE_PARAMS, "op_type", "if_seq_no", "if_primary_term")
GET_PARAMS = (
    "stored_fields",
    "preference",
    "realtime",
    "refresh",
    "routing",
    "_source",
    "_source_excludes",
    "_source_includes",
    "version",
    "version_type",
    "force_synthetic_source",
)
BULK_ACTION = "indices:data/write/bulk"
BULK_ITEM_ACTION = "indices:data/write/bulk[s]"


def _optional_int(req: EsRequest, name: str) -> int | None:
    return req.int_param(name, 0) if req.param(name) is not None else None


def _raw_text(req: EsRequest) -> str:
    return req.body.decode("utf-8", errors="replace")


async def index_document(req: EsRequest) -> EsResponse:
    doc_id = req.path_params.get("id")
    op_type = req.param("op_type") or ("index" if doc_id is not None else "create")
    return _respond(write_document(req, _write_request(req, doc_id, op_type), refresh_forced(req)))


async def create_document(req: EsRequest) -> EsResponse:
    return _respond(write_document(req, _write_request(req, req.path_params["id"], "create"), refresh_forced(req)))


def _write_request(req: EsRequest, doc_id: str | None, op_type: str) -> WriteRequest:
    source = req.json()
    if source is None:
        raise action_request_validation_exception(["source is missing", "content type is missing"])
    return WriteRequest(
        target=req.path_params["index"],
        doc_id=doc_id,
        source=source,
        op_type=op_type,
        raw=_raw_text(req),
        pipeline=req.param("pipeline"),
        if_seq_no=_optional_int(req, "if_seq_no"),
        if_primary_term=_optional_int(req, "if_primary_term"),
        require_alias=req.flag("require_alias"),
    )


def _respond(result: WriteResult) -> EsResponse:
    return EsResponse(status=result.status, body=result.body)


async def get_document(req: EsRequest) -> EsResponse:
    index = index_meta.single_index(req.state, req.path_params["index"])
    req.authorize_indices(GET_ACTION, [index.name])
    document = index.documents.get(req.path_params["id"])
    head = req.http.method == "HEAD"
    if document is None:
        return EsResponse(
            status=404, body=None if head else {"_index": index.name, "_id": req.path_params["id"], "found": False}
        )
    if head:
        return EsResponse()
    body: dict[str, Any] = {
        "_index": index.name,
        "_id": document.id,
        "_version": document.version,
        "_seq_no": document.seq_no,
        "_primary_term": document.primary_term,
        "found": True,
    }
    wanted = source_filter(
        req.param("_source", "true"), req.list_param("_source_includes"), req.list_param("_source_excludes")
    )
    if wanted is True:
        body["_source"] = document.source
    elif wanted is not False:
        includes, excludes = wanted
        body["_source"] = filter_source(document.source, includes, excludes)
    return EsResponse(body=body)


async def get_source(req: EsRequest) -> EsResponse:
    index = index_meta.single_index(req.state, req.path_params["index"])
    req.authorize_indices(GET_ACTION, [index.name])
    document = index.documents.get(req.path_params["id"])
    if document is None:
        raise ElasticsearchError(
            404,
            "resource_not_found_exception",
            f"Document not found [{index.name}]/[{req.path_params['id']}]",
        )
    return EsResponse(body=document.source)


async def delete(req: EsRequest) -> EsResponse:
    result = delete_document(
        req,
        req.path_params["index"],
        req.path_params["id"],
        refresh_forced(req),
        _optional_int(req, "if_seq_no"),
        _optional_int(req, "if_primary_term"),
    )
    return _respond(result)


async def update(req: EsRequest) -> EsResponse:
    body = req.json_object()
    return _respond(update_document(req, req.path_params["index"], req.path_params["id"], body, refresh_forced(req)))


# --- bulk -----------------------------------------------------------------------------------

_ACTION_META = frozenset(
    {
        "_index",
        "_id",
        "routing",
        "_routing",
        "if_seq_no",
        "if_primary_term",
        "version",
        "version_type",
        "pipeline",
        "require_alias",
        "retry_on_conflict",
        "op_type",
        "dynamic_templates",
        "_source",
        "list_executed_pipelines",
        "require_data_stream",
    }
)


def _parse_bulk(req: EsRequest) -> list[tuple[str, dict[str, Any], str | None, int]]:
    text = req.body.decode("utf-8")
    if not text.strip():
        raise action_request_validation_exception(["no requests added"])
    if not text.endswith("\n"):
        raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
    lines = text.split("\n")[:-1]
    operations = []
    position = 0
    while position < len(lines):
        line = lines[position]
        line_number = position + 1
        position += 1
        if not line.strip():
            continue
        action = parse_json(line)
        if not isinstance(action, dict) or len(action) != 1:
            raise illegal_argument(
                f"Malformed action/metadata line [{line_number}], expected START_OBJECT or END_OBJECT "
                "but found [VALUE_STRING]"
            )
        ((kind, meta),) = action.items()
        if kind not in ("index", "create", "delete", "update"):
            raise illegal_argument(
                f"Malformed action/metadata line [{line_number}], expected field [create], [delete], [index] or "
                f"[update] but found [{kind}]"
            )
        meta = meta or {}
        for key in meta:
            if key not in _ACTION_META:
                raise illegal_argument(f"Action/metadata line [{line_number}] contains an unknown parameter [{key}]")
        source_line: str | None = None
        if kind != "delete":
            if position >= len(lines):
                raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
            source_line = lines[position]
            position += 1
        operations.append((kind, meta, source_line, line_number))
    return operations


async def bulk(req: EsRequest) -> EsResponse:
    started = time.monotonic()
    operations = _parse_bulk(req)
    default_index = req.path_params.get("index")
    missing_index = [n for kind, meta, _, n in operations if not (meta.get("_index") or default_index)]
    if missing_index:
        raise action_request_validation_exception(["index is missing"] * len(missing_index))
    principal = req.principal
    if principal is not None and not any(role.indices for roles in principal.role_sets for role in roles):
        raise index_action_denied(req.state, principal, BULK_ACTION)
    forced = refresh_forced(req)
    items = []
    for kind, meta, source_line, _ in operations:
        target = str(meta.get("_index") or default_index)
        doc_id = None if meta.get("_id") is None else str(meta.get("_id"))
        try:
            result = _bulk_item(req, kind, meta, target, doc_id, source_line, forced)
            items.append({kind: {**result.body, "status": result.status}})
        except ElasticsearchError as error:
            items.append({kind: _item_error(req, target, doc_id, error)})
    body = {
        "errors": any("error" in next(iter(item.values())) for item in items),
        "took": int((time.monotonic() - started) * 1000),
        "items": items,
    }
    return EsResponse(body=body)


def _bulk_item(
    req: EsRequest,
    kind: str,
    meta: dict[str, Any],
    target: str,
    doc_id: str | None,
    source_line: str | None,
    forced: bool,
) -> WriteResult:
    concrete = index_meta.write_index(req.state, target)
    if concrete is not None and not index_action_allowed(req.state, req.principal, _item_action(kind), concrete.name):
        req.authorize_indices(BULK_ITEM_ACTION, [concrete.name])
    if kind == "delete":
        if doc_id is None:
            raise action_request_validation_exception(["id is missing"])
        return delete_document(req, target, doc_id, forced, meta.get("if_seq_no"), meta.get("if_primary_term"))
    source = parse_json(source_line or "")
    if kind == "update":
        if doc_id is None:
            raise action_request_validation_exception(["id is missing"])
        return update_document(req, target, doc_id, source if isinstance(source, dict) else {}, forced)
    write = WriteRequest(
        target=target,
        doc_id=doc_id,
        source=source,
        op_type="create" if kind == "create" else str(meta.get("op_type", "index")),
        raw=source_line,
        pipeline=meta.get("pipeline", req.param("pipeline")),
        if_seq_no=meta.get("if_seq_no"),
        if_primary_term=meta.get("if_primary_term"),
        require_alias=bool(meta.get("require_alias", req.flag("require_alias"))),
    )
    return write_document(req, write, forced)


def _item_action(kind: str) -> str:
    return {
        "index": "indices:data/write/index:op_type/index",
        "create": "indices:data/write/index:op_type/create",
        "delete": DELETE_ACTION,
        "update": "indices:data/write/update",
    }[kind]


def _item_error(req: EsRequest, target: str, doc_id: str | None, error: ElasticsearchError) -> dict[str, Any]:
    rendered = error.body()["error"]
    rendered.pop("root_cause", None)
    concrete = req.state.indices.indices.get(target)
    index_name = concrete.name if concrete is not None else target
    return {"_index": index_name, "_id": doc_id, "status": error.status, "error": rendered}


def routes() -> list[Route]:
    bulk_params = (*WRITE_PARAMS, "_source", "_source_excludes", "_source_includes", "list_executed_pipelines", "type")
    update_params = (
        "wait_for_active_shards",
        "refresh",
        "routing",
        "timeout",
        "if_seq_no",
        "if_primary_term",
        "retry_on_conflict",
        "require_alias",
        "_source",
        "_source_excludes",
        "_source_includes",
        "lang",
    )
    return [
        route(("PUT", "POST"), "/{index}/_doc/{id}", index_document, None, INDEX_PARAMS),
        route("POST", "/{index}/_doc", index_document, None, INDEX_PARAMS),
        route(("PUT", "POST"), "/{index}/_create/{id}", create_document, None, WRITE_PARAMS),
        route(("GET", "HEAD"), "/{index}/_doc/{id}", get_document, None, GET_PARAMS),
        route(("GET", "HEAD"), "/{index}/_source/{id}", get_source, None, GET_PARAMS),
        route(
            "DELETE",
            "/{index}/_doc/{id}",
            delete,
            None,
            (
                "wait_for_active_shards",
                "refresh",
                "routing",
                "timeout",
                "if_seq_no",
                "if_primary_term",
                "version",
                "version_type",
            ),
        ),
        route("POST", "/{index}/_update/{id}", update, None, update_params),
        route(("PUT", "POST"), "/_bulk", bulk, None, bulk_params),
        route(("PUT", "POST"), "/{index}/_bulk", bulk, None, bulk_params),
    ]
