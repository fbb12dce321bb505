"""`_search`, `_count` and `_delete_by_query` over the resolved indices."""

from __future__ import annotations

import time
from typing import Any

from sidecar.devcluster import ml_inference, ml_models
from sidecar.devcluster.access import resolve_for_action
from sidecar.devcluster.documents import filter_source, refresh_forced, source_filter
from sidecar.devcluster.errors import illegal_argument
from sidecar.devcluster.indices import shard_totals
from sidecar.devcluster.nodes import cluster_nodes
from sidecar.devcluster.query import (
    Candidate,
    Expander,
    check_sortable,
    evaluate,
    parse_sort,
    sort_candidates,
    sort_value,
)
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.state import Document, Index
from sidecar.devcluster.transport import EsRequest, EsResponse
from sidecar.domain.errors import ElasticsearchError, action_request_validation_exception

SEARCH = "indices:data/read/search"
DELETE_BY_QUERY = "indices:data/write/delete/byquery"
MAX_RESULT_WINDOW = 10_000
SEARCH_BODY_KEYS = frozenset(
    {
        "query",
        "size",
        "from",
        "sort",
        "_source",
        "track_total_hits",
        "seq_no_primary_term",
        "version",
        "timeout",
        "terminate_after",
        "min_score",
        "track_scores",
        "post_filter",
        "highlight",
        "stored_fields",
        "docvalue_fields",
        "fields",
        "explain",
        "profile",
        "runtime_mappings",
        "stats",
        "ext",
        "indices_boost",
        "search_after",
    }
)
UNSUPPORTED_BODY_KEYS = frozenset(
    {"aggs", "aggregations", "pit", "collapse", "rescore", "knn", "rank", "retriever", "slice", "suggest"}
)
SEARCH_PARAMS = (
    "analyzer",
    "analyze_wildcard",
    "ccs_minimize_roundtrips",
    "default_operator",
    "df",
    "explain",
    "stored_fields",
    "docvalue_fields",
    "from",
    "force_synthetic_source",
    "ignore_unavailable",
    "ignore_throttled",
    "allow_no_indices",
    "expand_wildcards",
    "lenient",
    "preference",
    "q",
    "routing",
    "scroll",
    "search_type",
    "size",
    "sort",
    "_source",
    "_source_excludes",
    "_source_includes",
    "terminate_after",
    "stats",
    "suggest_field",
    "suggest_mode",
    "suggest_size",
    "suggest_text",
    "timeout",
    "track_scores",
    "track_total_hits",
    "allow_partial_search_results",
    "typed_keys",
    "version",
    "seq_no_primary_term",
    "request_cache",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "rest_total_hits_as_int",
    "min_compatible_shard_node",
    "include_named_queries_score",
)


def _token_name(value: Any) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    return "VALUE_NULL" if value is None else "VALUE_STRING"


def check_body_keys(body: dict[str, Any], allowed: frozenset[str]) -> None:
    for key, value in body.items():
        if key in UNSUPPORTED_BODY_KEYS:
            raise illegal_argument(f"[{key}] is not supported by the Elasticsearch stand-in")
        if key not in allowed:
            raise ElasticsearchError(400, "parsing_exception", f"Unknown key for a {_token_name(value)} in [{key}].")


def expander_for(req: EsRequest) -> Expander:
    def expand_text(model_id: str, text: str) -> dict[str, float]:
        result = ml_inference.infer_texts(req.state, model_id, [text])[0]
        weights: dict[str, float] = result[ml_models.DEFAULT_RESULTS_FIELD]
        return weights

    return expand_text


def query_from_q(q: str | None) -> dict[str, Any] | None:
    if not q:
        return None
    field, sep, value = q.partition(":")
    if sep and field and " " not in field:
        return {"match": {field: value}} if value != "*" else {"exists": {"field": field}}
    if q == "*":
        return None
    raise illegal_argument("the Elasticsearch stand-in supports only q=<field>:<value> query strings")


def matching(req: EsRequest, indices: list[Index], query: dict[str, Any] | None) -> list[Candidate]:
    expander = expander_for(req)
    dummy = Index("_validation", "_na_", {}, {})
    evaluate(query, dummy, Document("_validation", {}, 1, 0), expander)
    found = []
    for index in indices:
        for document in index.documents.values():
            score = evaluate(query, index, document, expander)
            if score is not None:
                found.append(Candidate(index, document, score))
    return found


def shard_failure(req: EsRequest, index: Index, cause_type: str, reason: str) -> ElasticsearchError:
    cause = {"type": cause_type, "reason": reason, "index_uuid": index.uuid, "index": index.name}
    node = cluster_nodes(req.state.config)[0]
    return ElasticsearchError(
        400,
        "search_phase_execution_exception",
        "all shards failed",
        metadata={
            "phase": "query",
            "grouped": True,
            "failed_shards": [{"shard": 0, "index": index.name, "node": node.node_id, "reason": cause}],
        },
        caused_by={"type": cause_type, "reason": reason},
        root_cause=[cause],
    )


async def search(req: EsRequest) -> EsResponse:
    started = time.monotonic()
    body = req.json_object(required=False)
    check_body_keys(body, SEARCH_BODY_KEYS)
    indices = resolve_for_action(req, req.path_params.get("index"), SEARCH)
    query = body.get("query") or query_from_q(req.param("q"))
    size = req.int_param("size", int(body.get("size", 10)))
    offset = req.int_param("from", int(body.get("from", 0)))
    sort_spec = body.get("sort")
    if req.param("sort"):
        sort_spec = [{field: order or "asc"} for field, _, order in (s.partition(":") for s in req.list_param("sort"))]
    keys = parse_sort(sort_spec)
    if indices and offset + size > MAX_RESULT_WINDOW:
        raise shard_failure(
            req,
            indices[0],
            "illegal_argument_exception",
            f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was "
            f"[{offset + size}]. See the scroll api for a more efficient way to request large data sets. This limit "
            "can be set by changing the [index.max_result_window] index level setting.",
        )
    problem = check_sortable(keys, indices)
    if problem is not None:
        cause = "illegal_argument_exception" if problem.startswith(("Text", "Field")) else "query_shard_exception"
        raise shard_failure(req, indices[0], cause, problem)
    candidates = sort_candidates(matching(req, indices, query), keys)
    total = len(candidates)
    sorted_by_fields = bool(keys) and not all(k.field == "_score" for k in keys)
    track_scores = not sorted_by_fields or bool(body.get("track_scores")) or req.flag("track_scores")
    hits = [_hit(req, body, c, keys, track_scores) for c in candidates[offset : offset + size]]
    max_score = max((c.score for c in candidates), default=None) if track_scores else None
    hits_body: dict[str, Any] = {}
    total_body = _total(req, body, total)
    if total_body is not None:
        hits_body["total"] = total_body
    hits_body["max_score"] = max_score
    hits_body["hits"] = hits
    shards = shard_totals(req.state, indices)
    primaries = sum(int(i.settings.get("index.number_of_shards", "1")) for i in indices)
    return EsResponse(
        body={
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "_shards": {"total": primaries, "successful": primaries, "skipped": 0, "failed": shards["failed"]},
            "hits": hits_body,
        }
    )


def _total(req: EsRequest, body: dict[str, Any], total: int) -> Any:
    if req.flag("rest_total_hits_as_int"):
        return total
    track = req.param("track_total_hits")
    setting: Any = body.get("track_total_hits", True) if track is None else track
    if setting in (False, "false"):
        return None
    limit = (
        MAX_RESULT_WINDOW if setting in (True, "true") and track is None and "track_total_hits" not in body else None
    )
    if isinstance(setting, int) and not isinstance(setting, bool):
        limit = setting
    elif isinstance(setting, str) and setting.isdigit():
        limit = int(setting)
    if limit is not None and total > limit:
        return {"value": limit, "relation": "gte"}
    return {"value": total, "relation": "eq"}


def _hit(
    req: EsRequest, body: dict[str, Any], candidate: Candidate, keys: list[Any], track_scores: bool
) -> dict[str, Any]:
    document = candidate.document
    hit: dict[str, Any] = {"_index": candidate.index.name, "_id": document.id}
    if body.get("version") or req.flag("version"):
        hit["_version"] = document.version
    if body.get("seq_no_primary_term") or req.flag("seq_no_primary_term"):
        hit["_seq_no"] = document.seq_no
        hit["_primary_term"] = document.primary_term
    hit["_score"] = candidate.score if track_scores else None
    wanted = source_filter(
        body.get("_source", req.param("_source", "true")),
        req.list_param("_source_includes"),
        req.list_param("_source_excludes"),
    )
    if wanted is True:
        hit["_source"] = document.source
    elif wanted is not False:
        includes, excludes = wanted
        hit["_source"] = filter_source(document.source, includes, excludes)
    if keys:
        hit["sort"] = [sort_value(key, candidate) for key in keys]
    return hit


async def count(req: EsRequest) -> EsResponse:
    body = req.json_object(required=False)
    check_body_keys(body, frozenset({"query"}))
    indices = resolve_for_action(req, req.path_params.get("index"), SEARCH)
    query = body.get("query") or query_from_q(req.param("q"))
    primaries = sum(int(i.settings.get("index.number_of_shards", "1")) for i in indices)
    return EsResponse(
        body={
            "count": len(matching(req, indices, query)),
            "_shards": {"total": primaries, "successful": primaries, "skipped": 0, "failed": 0},
        }
    )


async def delete_by_query(req: EsRequest) -> EsResponse:
    started = time.monotonic()
    body = req.json_object(required=False)
    if "query" not in body and not req.param("q"):
        raise action_request_validation_exception(["query is missing"])
    check_body_keys(body, frozenset({"query", "max_docs", "slice", "sort", "size"}))
    indices = resolve_for_action(req, req.path_params["index"], DELETE_BY_QUERY)
    candidates = sort_candidates(matching(req, indices, body.get("query") or query_from_q(req.param("q"))), [])
    limit = body.get("max_docs", req.param("max_docs"))
    if limit is not None:
        candidates = candidates[: int(limit)]
    for candidate in candidates:
        index = candidate.index
        del index.documents[candidate.document.id]
        index.tombstones[candidate.document.id] = candidate.document.version + 1
        index.next_seq_no += 1
    refresh_forced(req)
    deleted = len(candidates)
    return EsResponse(
        body={
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "total": deleted,
            "deleted": deleted,
            "batches": 1 if deleted else 0,
            "version_conflicts": 0,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": [],
        }
    )


def routes() -> list[Route]:
    count_params = (
        "ignore_unavailable",
        "ignore_throttled",
        "allow_no_indices",
        "expand_wildcards",
        "min_score",
        "preference",
        "routing",
        "q",
        "analyzer",
        "analyze_wildcard",
        "default_operator",
        "df",
        "lenient",
        "terminate_after",
    )
    dbq_params = (
        "analyzer",
        "analyze_wildcard",
        "default_operator",
        "df",
        "from",
        "ignore_unavailable",
        "allow_no_indices",
        "conflicts",
        "expand_wildcards",
        "lenient",
        "preference",
        "q",
        "routing",
        "scroll",
        "search_type",
        "search_timeout",
        "max_docs",
        "sort",
        "terminate_after",
        "stats",
        "version",
        "request_cache",
        "refresh",
        "timeout",
        "wait_for_active_shards",
        "scroll_size",
        "wait_for_completion",
        "requests_per_second",
        "slices",
    )
    return [
        route(("GET", "POST"), "/_search", search, None, SEARCH_PARAMS),
        route(("GET", "POST"), "/{index}/_search", search, None, SEARCH_PARAMS),
        route(("GET", "POST"), "/_count", count, None, count_params),
        route(("GET", "POST"), "/{index}/_count", count, None, count_params),
        route("POST", "/{index}/_delete_by_query", delete_by_query, None, dbq_params),
    ]
