"""Index administration: create, get, exists, delete, mappings, aliases and refresh."""

from __future__ import annotations

from typing import Any

from sidecar.devcluster import indices as index_meta
from sidecar.devcluster.access import resolve_for_action
from sidecar.devcluster.errors import illegal_argument, index_not_found
from sidecar.devcluster.mapping import merge_mappings
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.security import name_matches
from sidecar.devcluster.state import Index
from sidecar.devcluster.transport import EsRequest, EsResponse
from sidecar.domain.errors import ElasticsearchError, parse_exception

CREATE = "indices:admin/create"
GET = "indices:admin/get"
DELETE = "indices:admin/delete"
PUT_MAPPING = "indices:admin/mapping/put"
GET_MAPPING = "indices:admin/mappings/get"
GET_ALIASES = "indices:admin/aliases/get"
ALIASES = "indices:admin/aliases"
REFRESH = "indices:admin/refresh"
RESOLVE_PARAMS = ("ignore_unavailable", "allow_no_indices", "expand_wildcards")


async def create(req: EsRequest) -> EsResponse:
    name = req.path_params["index"]
    body = req.json_object(required=False)
    for key in body:
        if key not in ("settings", "mappings", "aliases"):
            raise parse_exception(f"unknown key [{key}] for create index")
    req.authorize_indices(CREATE, [name])
    index_meta.create_index(req.state, name, body, req.warnings)
    return EsResponse(body={"acknowledged": True, "shards_acknowledged": True, "index": name})


def describe_index(req: EsRequest, index: Index) -> dict[str, Any]:
    settings: Any = index_meta.render_settings(req.state, index)
    if req.flag("flat_settings"):
        settings = _flatten(settings)
    return {
        "aliases": {alias: index_meta.render_alias(p) for alias, p in sorted(index.aliases.items())},
        "mappings": index.mappings,
        "settings": settings,
    }


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


async def get(req: EsRequest) -> EsResponse:
    found = resolve_for_action(req, req.path_params["index"], GET)
    return EsResponse(body={index.name: describe_index(req, index) for index in found})


async def exists(req: EsRequest) -> EsResponse:
    try:
        found = resolve_for_action(req, req.path_params["index"], GET, allow_no_indices=False)
    except ElasticsearchError as error:
        if error.status == 404:
            return EsResponse(status=404)
        raise
    return EsResponse(status=200 if found else 404)


async def delete(req: EsRequest) -> EsResponse:
    expression = req.path_params["index"]
    state = req.state
    targets: list[Index] = []
    for part in [p.strip() for p in expression.split(",") if p.strip()]:
        if "*" in part or part == "_all":
            raise illegal_argument("Wildcard expressions or all indices are not allowed")
        if part in state.indices.indices:
            targets.append(state.indices.indices[part])
        elif index_meta.alias_exists(state, part):
            raise illegal_argument(
                f"The provided expression [{part}] matches an alias, "
                "specify the corresponding concrete indices instead."
            )
        elif not req.flag("ignore_unavailable"):
            raise index_not_found(part)
    req.authorize_indices(DELETE, [index.name for index in targets])
    for index in targets:
        del state.indices.indices[index.name]
    return EsResponse(body={"acknowledged": True})


async def get_mapping(req: EsRequest) -> EsResponse:
    found = resolve_for_action(req, req.path_params.get("index"), GET_MAPPING)
    return EsResponse(body={index.name: {"mappings": index.mappings} for index in found})


async def put_mapping(req: EsRequest) -> EsResponse:
    body = req.json_object()
    targets = resolve_for_action(req, req.path_params["index"], PUT_MAPPING)
    if req.flag("write_index_only"):
        alias = req.path_params["index"]
        targets = [i for i in targets if i.aliases.get(alias) is None or i.aliases[alias].is_write_index is not False]
    merged = {index.name: merge_mappings(index.mappings, body) for index in targets}
    for index in targets:
        index.mappings = merged[index.name]
    return EsResponse(body={"acknowledged": True})


# --- aliases --------------------------------------------------------------------------------


def _alias_matches(alias: str, patterns: list[str]) -> bool:
    return not patterns or any(p in ("_all", "*") or name_matches(alias, p) for p in patterns)


async def get_aliases(req: EsRequest) -> EsResponse:
    names = [n.strip() for n in (req.path_params.get("name") or "").split(",") if n.strip()]
    expression = req.path_params.get("index")
    found = resolve_for_action(req, expression, GET_ALIASES, default_wildcards="all")
    body: dict[str, Any] = {}
    seen: set[str] = set()
    for index in found:
        aliases = {a: index_meta.render_alias(p) for a, p in sorted(index.aliases.items()) if _alias_matches(a, names)}
        seen.update(aliases)
        if aliases or not names:
            body[index.name] = {"aliases": aliases}
    missing = [n for n in names if "*" not in n and n != "_all" and n not in seen]
    head = req.http.method == "HEAD"
    if names and missing:
        if head:
            return EsResponse(status=404)
        listed = ",".join(missing)
        noun = "alias" if len(missing) == 1 else "aliases"
        return EsResponse(status=404, body={"error": f"{noun} [{listed}] missing", "status": 404, **body})
    if head:
        return EsResponse(status=200 if seen or not names else 404)
    return EsResponse(body=body)


async def update_aliases(req: EsRequest) -> EsResponse:
    body = req.json_object()
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        raise ElasticsearchError(
            400, "action_request_validation_exception", "Validation Failed: 1: no action specified;"
        )
    state = req.state
    before = {name: dict(index.aliases) for name, index in state.indices.indices.items()}
    removed: dict[str, Index] = {}
    try:
        touched = [alias for action in actions for alias in _apply_alias_action(req, action, removed)]
        for alias in set(touched):
            index_meta.check_single_write_index(state, alias)
    except ElasticsearchError:
        state.indices.indices.update(removed)
        for name, aliases in before.items():
            state.indices.indices[name].aliases = aliases
        raise
    response: dict[str, Any] = {"acknowledged": True}
    if state.config.at_least(8, 14):
        response["errors"] = False
    return EsResponse(body=response)


def _apply_alias_action(req: EsRequest, action: dict[str, Any], removed: dict[str, Index]) -> list[str]:
    state = req.state
    if not isinstance(action, dict) or len(action) != 1:
        raise parse_exception("[aliases] each action must be an object with a single key")
    ((kind, spec),) = action.items()
    indices = _as_list(spec.get("index")) + _as_list(spec.get("indices"))
    aliases = _as_list(spec.get("alias")) + _as_list(spec.get("aliases"))
    targets = [
        target
        for name in indices
        for target in index_meta.resolve_expressions(state, name, wildcards=index_meta.WildcardOptions(True, True))
    ]
    req.authorize_indices(ALIASES, [t.name for t in targets])
    if kind == "add":
        for index in targets:
            for alias in aliases:
                index_meta.validate_alias_name(state, alias, index.name)
                index.aliases[alias] = index_meta.alias_properties(spec)
        return aliases
    if kind == "remove":
        missing = [a for a in aliases if not any(a in t.aliases for t in targets)]
        if missing and spec.get("must_exist", True) is not False:
            raise ElasticsearchError(
                404,
                "aliases_not_found_exception",
                f"aliases [{','.join(missing)}] missing",
                metadata={"resource.type": "aliases", "resource.id": ",".join(missing)},
            )
        for index in targets:
            for alias in aliases:
                index.aliases.pop(alias, None)
        return []
    if kind == "remove_index":
        for index in targets:
            removed[index.name] = state.indices.indices.pop(index.name)
        return []
    raise parse_exception(f"[aliases] unknown field [{kind}]")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


async def put_alias(req: EsRequest) -> EsResponse:
    spec = req.json_object(required=False)
    targets = resolve_for_action(req, req.path_params["index"], ALIASES)
    alias = req.path_params["name"]
    for index in targets:
        index_meta.validate_alias_name(req.state, alias, index.name)
        index.aliases[alias] = index_meta.alias_properties(spec)
    index_meta.check_single_write_index(req.state, alias)
    return EsResponse(body={"acknowledged": True})


async def refresh(req: EsRequest) -> EsResponse:
    found = resolve_for_action(req, req.path_params.get("index"), REFRESH)
    return EsResponse(body={"_shards": index_meta.shard_totals(req.state, found)})


def routes() -> list[Route]:
    create_params = ("wait_for_active_shards", "timeout", "master_timeout")
    get_params = (*RESOLVE_PARAMS, "flat_settings", "include_defaults", "local", "master_timeout", "features")
    mapping_params = (*RESOLVE_PARAMS, "timeout", "master_timeout", "write_index_only")
    alias_params = (*RESOLVE_PARAMS, "local", "master_timeout")
    return [
        route("PUT", "/{index}", create, CREATE, create_params),
        route("GET", "/{index}", get, GET, get_params),
        route("HEAD", "/{index}", exists, GET, get_params),
        route("DELETE", "/{index}", delete, DELETE, (*RESOLVE_PARAMS, "timeout", "master_timeout")),
        route("GET", "/_mapping", get_mapping, GET_MAPPING, (*RESOLVE_PARAMS, "local", "master_timeout")),
        route("GET", "/{index}/_mapping", get_mapping, GET_MAPPING, (*RESOLVE_PARAMS, "local", "master_timeout")),
        route(("PUT", "POST"), "/{index}/_mapping", put_mapping, PUT_MAPPING, mapping_params),
        route(("GET", "HEAD"), "/_alias", get_aliases, GET_ALIASES, alias_params),
        route(("GET", "HEAD"), "/_alias/{name}", get_aliases, GET_ALIASES, alias_params),
        route(("GET", "HEAD"), "/{index}/_alias", get_aliases, GET_ALIASES, alias_params),
        route(("GET", "HEAD"), "/{index}/_alias/{name}", get_aliases, GET_ALIASES, alias_params),
        route(("PUT", "POST"), "/{index}/_alias/{name}", put_alias, ALIASES, ("timeout", "master_timeout")),
        route("POST", "/_aliases", update_aliases, ALIASES, ("timeout", "master_timeout")),
        route(("GET", "POST"), "/_refresh", refresh, REFRESH, RESOLVE_PARAMS),
        route(("GET", "POST"), "/{index}/_refresh", refresh, REFRESH, RESOLVE_PARAMS),
    ]
