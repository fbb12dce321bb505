"""Single-document operations: index (create or overwrite), get, delete and partial update, with
ES's versions, sequence numbers, conflicts, dynamic-mapping checks and ingest pipelines."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from sidecar.devcluster import indices as index_meta
from sidecar.devcluster.errors import illegal_argument, index_not_found, version_conflict
from sidecar.devcluster.ingest import run_document_pipelines
from sidecar.devcluster.mapping import apply_document
from sidecar.devcluster.security import name_matches
from sidecar.devcluster.state import Document, Index
from sidecar.devcluster.transport import EsRequest
from sidecar.domain.errors import ElasticsearchError, action_request_validation_exception

CREATE_ACTION = "indices:data/write/index:op_type/create"
INDEX_ACTION = "indices:data/write/index:op_type/index"
DELETE_ACTION = "indices:data/write/delete"
UPDATE_ACTION = "indices:data/write/update"
GET_ACTION = "indices:data/read/get"
AUTO_CREATE_ACTION = "indices:admin/auto_create"


@dataclass
class WriteRequest:
    target: str
    doc_id: str | None
    source: Any
    op_type: str = "index"
    raw: str | None = None
    pipeline: str | None = None
    if_seq_no: int | None = None
    if_primary_term: int | None = None
    require_alias: bool = False


@dataclass
class WriteResult:
    status: int
    body: dict[str, Any]


def new_document_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(15)).decode()[:20]


def refresh_forced(req: EsRequest) -> bool:
    value = req.param("refresh")
    if value is None:
        return False
    if value not in ("", "true", "false", "wait_for"):
        raise illegal_argument(f"Unknown value for refresh: [{value}].")
    return value in ("", "true")


def validate_id(doc_id: str | None) -> None:
    if doc_id is None:
        return
    if doc_id == "":
        raise action_request_validation_exception(["if _id is specified it must not be empty"])
    if len(doc_id.encode()) > 512:
        raise action_request_validation_exception(
            [f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: {len(doc_id.encode())}"]
        )


def target_index_for_write(req: EsRequest, target: str, require_alias: bool = False) -> Index:
    index = index_meta.write_index(req.state, target, require_alias=require_alias)
    if index is not None:
        return index
    index_meta.validate_index_name(req.state, target)
    req.authorize_indices(AUTO_CREATE_ACTION, [target])
    return index_meta.auto_create_index(req.state, target, req.warnings)


def write_document(req: EsRequest, write: WriteRequest, forced_refresh: bool) -> WriteResult:
    validate_id(write.doc_id)
    if write.op_type not in ("index", "create"):
        raise illegal_argument(f"opType must be 'create' or 'index', found: [{write.op_type}]")
    index = target_index_for_write(req, write.target, write.require_alias)
    action = CREATE_ACTION if write.op_type == "create" else INDEX_ACTION
    req.authorize_indices(action, [index.name])
    if not isinstance(write.source, dict):
        raise document_parsing("1:1", "failed to parse: Malformed content, must start with an object")
    source, raw = run_document_pipelines(req, index, write.source, write.pipeline, write.raw)
    doc_id = write.doc_id or new_document_id()
    existing = index.documents.get(doc_id)
    check_conflicts(index, doc_id, existing, write)
    updated_mappings = apply_document(index.mappings, source, raw)
    if updated_mappings is not None:
        index.mappings = updated_mappings
    document = store(index, doc_id, source)
    result = "updated" if existing is not None else "created"
    return WriteResult(200 if existing is not None else 201, write_body(req, index, document, result, forced_refresh))


def check_conflicts(index: Index, doc_id: str, existing: Document | None, write: WriteRequest) -> None:
    if write.op_type == "create" and existing is not None:
        raise version_conflict(
            doc_id, f"document already exists (current version [{existing.version}])", index.name, index.uuid
        )
    if write.if_seq_no is not None or write.if_primary_term is not None:
        check_sequence(index, doc_id, existing, write.if_seq_no, write.if_primary_term)


def check_sequence(
    index: Index, doc_id: str, existing: Document | None, if_seq_no: int | None, if_primary_term: int | None
) -> None:
    if if_seq_no is None or if_primary_term is None:
        raise action_request_validation_exception(
            [
                "ifSeqNo is set, but primary term is [0]"
                if if_primary_term is None
                else "ifPrimaryTerm is set, but seqNo is [-2]"
            ]
        )
    required = f"required seqNo [{if_seq_no}], primary term [{if_primary_term}]."
    if existing is None:
        raise version_conflict(doc_id, f"{required} but no document was found", index.name, index.uuid)
    if existing.seq_no != if_seq_no or existing.primary_term != if_primary_term:
        raise version_conflict(
            doc_id,
            f"{required} current document has seqNo [{existing.seq_no}] and primary term [{existing.primary_term}]",
            index.name,
            index.uuid,
        )


def store(index: Index, doc_id: str, source: dict[str, Any]) -> Document:
    previous = index.documents.get(doc_id)
    version = previous.version + 1 if previous else index.tombstones.pop(doc_id, 0) + 1
    document = Document(doc_id, source, version, index.next_seq_no)
    index.next_seq_no += 1
    index.documents[doc_id] = document
    return document


def write_body(req: EsRequest, index: Index, document: Document, result: str, forced_refresh: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"_index": index.name, "_id": document.id, "_version": document.version, "result": result}
    if forced_refresh:
        body["forced_refresh"] = True
    body["_shards"] = index_meta.shard_header(req.state, index)
    body["_seq_no"] = document.seq_no
    body["_primary_term"] = document.primary_term
    return body


def delete_document(
    req: EsRequest,
    target: str,
    doc_id: str,
    forced_refresh: bool,
    if_seq_no: int | None = None,
    if_primary_term: int | None = None,
) -> WriteResult:
    index = index_meta.write_index(req.state, target)
    if index is None:
        raise index_not_found(target)
    req.authorize_indices(DELETE_ACTION, [index.name])
    existing = index.documents.get(doc_id)
    if if_seq_no is not None or if_primary_term is not None:
        check_sequence(index, doc_id, existing, if_seq_no, if_primary_term)
    seq_no = index.next_seq_no
    index.next_seq_no += 1
    if existing is None:
        version = index.tombstones.get(doc_id, 0) + 1
        index.tombstones[doc_id] = version
        tombstone = Document(doc_id, {}, version, seq_no)
        return WriteResult(404, write_body(req, index, tombstone, "not_found", forced_refresh))
    del index.documents[doc_id]
    index.tombstones[doc_id] = existing.version + 1
    gone = Document(doc_id, {}, existing.version + 1, seq_no)
    return WriteResult(200, write_body(req, index, gone, "deleted", forced_refresh))


def update_document(
    req: EsRequest, target: str, doc_id: str, body: dict[str, Any], forced_refresh: bool
) -> WriteResult:
    index = target_index_for_write(req, target)
    req.authorize_indices(UPDATE_ACTION, [index.name])
    existing = index.documents.get(doc_id)
    partial = body.get("doc")
    if existing is None:
        upsert = body.get("upsert")
        if upsert is None and body.get("doc_as_upsert"):
            upsert = partial
        if upsert is None:
            raise ElasticsearchError(
                404,
                "document_missing_exception",
                f"[{doc_id}]: document missing",
                metadata={"index_uuid": index.uuid, "shard": "0", "index": index.name},
            )
        new_source = dict(upsert)
    else:
        if not isinstance(partial, dict):
            raise action_request_validation_exception(["script or doc is missing"])
        new_source = merge_objects(existing.source, partial)
        if new_source == existing.source:
            noop = {**write_body(req, index, existing, "noop", False)}
            noop["_shards"] = {"total": 0, "successful": 0, "failed": 0}
            return WriteResult(200, noop)
    updated_mappings = apply_document(index.mappings, new_source, None)
    if updated_mappings is not None:
        index.mappings = updated_mappings
    document = store(index, doc_id, new_source)
    result = "updated" if existing is not None else "created"
    return WriteResult(200 if existing is not None else 201, write_body(req, index, document, result, forced_refresh))


def merge_objects(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_objects(merged[key], value)
        else:
            merged[key] = value
    return merged


def document_parsing(location: str, message: str) -> ElasticsearchError:
    return ElasticsearchError(400, "document_parsing_exception", f"[{location}] {message}")


# --- _source filtering ----------------------------------------------------------------------


def source_filter(value: Any, includes: list[str], excludes: list[str]) -> Any:
    """`_source` as a bool, a list of paths, or `{"includes": [...], "excludes": [...]}`."""
    if value is False or value == "false":
        return False
    if isinstance(value, str) and value not in ("true", ""):
        includes = [*includes, *[p.strip() for p in value.split(",") if p.strip()]]
    elif isinstance(value, list):
        includes = [*includes, *[str(p) for p in value]]
    elif isinstance(value, dict):
        includes = [*includes, *_as_list(value.get("includes", value.get("include")))]
        excludes = [*excludes, *_as_list(value.get("excludes", value.get("exclude")))]
    return (includes, excludes) if includes or excludes else True


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def filter_source(source: dict[str, Any], includes: list[str], excludes: list[str]) -> dict[str, Any]:
    def keep(path: str, is_object: bool) -> bool | None:
        if any(name_matches(path, pattern) for pattern in excludes):
            return False
        if not includes:
            return True
        if any(name_matches(path, p) or path.startswith(p.rstrip("*") + ".") for p in includes):
            return True
        if is_object and any(p.startswith(path + ".") or p.startswith("*") for p in includes):
            return None
        return False

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            decision = keep(path, isinstance(value, dict))
            if decision is True:
                result[key] = walk(value, f"{path}.") if isinstance(value, dict) and excludes else value
            elif decision is None and isinstance(value, dict):
                child = walk(value, f"{path}.")
                if child:
                    result[key] = child
        return result

    return walk(source, "")
