"""`/_security/*`: authenticate, has_privileges, API keys, users and roles. Not registered at all
when security is disabled, so the router answers ES's flat "no handler found" 400."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

from sidecar.devcluster.privileges import NamedPrivilege
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.security import (
    Principal,
    catalogs,
    holds_cluster_privilege,
    holds_index_privilege,
)
from sidecar.devcluster.state import ApiKey, IndexGrant, Role, User, now_millis
from sidecar.devcluster.transport import EsRequest, EsResponse, parse_time
from sidecar.domain.errors import ElasticsearchError, illegal_argument

AUTHENTICATE = "cluster:admin/xpack/security/user/authenticate"
HAS_PRIVILEGES = "cluster:admin/xpack/security/user/has_privileges"
CREATE_API_KEY = "cluster:admin/xpack/security/api_key/create"
GET_API_KEY = "cluster:admin/xpack/security/api_key/get"
INVALIDATE_API_KEY = "cluster:admin/xpack/security/api_key/invalidate"
PUT_USER = "cluster:admin/xpack/security/user/put"
GET_USER = "cluster:admin/xpack/security/user/get"
DELETE_USER = "cluster:admin/xpack/security/user/delete"
PUT_ROLE = "cluster:admin/xpack/security/role/put"
GET_ROLE = "cluster:admin/xpack/security/role/get"
DELETE_ROLE = "cluster:admin/xpack/security/role/delete"


def _principal(req: EsRequest) -> Principal:
    assert req.principal is not None
    return req.principal


def _realm(name: str, realm_type: str) -> dict[str, str]:
    return {"name": name, "type": realm_type}


async def authenticate(req: EsRequest) -> EsResponse:
    principal = _principal(req)
    user = principal.user
    authenticating = principal.authenticating_user or user
    body: dict[str, Any] = {
        "username": user.username,
        "roles": list(user.roles),
        "full_name": user.full_name,
        "email": user.email,
        "metadata": dict(user.metadata),
        "enabled": user.enabled,
        "authentication_realm": _realm(authenticating.realm, authenticating.realm_type),
        "lookup_realm": _realm(user.realm, user.realm_type),
        "authentication_type": principal.authentication_type,
    }
    if principal.api_key is not None:
        body["api_key"] = {"id": principal.api_key.id, "name": principal.api_key.name}
    return EsResponse(body=body)


async def has_privileges(req: EsRequest) -> EsResponse:
    principal = _principal(req)
    body = req.json_object()
    asked_for = req.path_params.get("user")
    if asked_for is not None and asked_for != principal.username:
        raise illegal_argument("users may only check the privileges of their own account")
    cluster_catalog, index_catalog = catalogs(req.state)
    cluster_requested = [str(p) for p in body.get("cluster") or []]
    index_requested = body.get("index") or []
    resolved_cluster: list[tuple[str, NamedPrivilege]] = []
    for name in cluster_requested:
        privilege = cluster_catalog.resolve(name)
        if privilege is None:
            raise illegal_argument(cluster_catalog.unknown_message(name))
        resolved_cluster.append((name, privilege))
    cluster = {name: holds_cluster_privilege(req.state, principal, p) for name, p in resolved_cluster}
    index: dict[str, dict[str, bool]] = {}
    for entry in index_requested:
        allow_restricted = bool(entry.get("allow_restricted_indices", False))
        for privilege_name in entry.get("privileges", []):
            if index_catalog.resolve(privilege_name) is None:
                raise illegal_argument(index_catalog.unknown_message(privilege_name))
        for name in entry.get("names", []):
            results = index.setdefault(name, {})
            for privilege_name in entry.get("privileges", []):
                privilege = index_catalog.resolve(privilege_name)
                assert privilege is not None
                results[privilege_name] = holds_index_privilege(req.state, principal, name, privilege, allow_restricted)
    application: dict[str, Any] = {}
    for entry in body.get("application") or []:
        resources = application.setdefault(entry.get("application", ""), {})
        for resource in entry.get("resources", []):
            resources[resource] = {p: _superuser(principal) for p in entry.get("privileges", [])}
    all_granted = (
        all(cluster.values())
        and all(v for r in index.values() for v in r.values())
        and all(v for res in application.values() for privs in res.values() for v in privs.values())
    )
    return EsResponse(
        body={
            "username": principal.username,
            "has_all_requested": all_granted,
            "cluster": cluster,
            "index": index,
            "application": application,
        }
    )


def _superuser(principal: Principal) -> bool:
    return all(any(role.name == "superuser" for role in roles) for roles in principal.role_sets)


# --- API keys -------------------------------------------------------------------------------


def _role_from_descriptor(name: str, descriptor: dict[str, Any]) -> Role:
    return Role(
        name,
        cluster=[str(p) for p in descriptor.get("cluster", [])],
        indices=[
            IndexGrant(
                [
                    str(n)
                    for n in (grant.get("names") if isinstance(grant.get("names"), list) else [grant.get("names")])
                ],
                [str(p) for p in grant.get("privileges", [])],
                bool(grant.get("allow_restricted_indices", False)),
            )
            for grant in descriptor.get("indices", descriptor.get("index", []))
        ],
        run_as=[str(r) for r in descriptor.get("run_as", [])],
        metadata=dict(descriptor.get("metadata", {})),
    )


def _validate_role(req: EsRequest, role: Role) -> None:
    cluster_catalog, index_catalog = catalogs(req.state)
    for name in role.cluster:
        if cluster_catalog.resolve(name) is None:
            raise illegal_argument(cluster_catalog.unknown_message(name))
    for grant in role.indices:
        for name in grant.privileges:
            if index_catalog.resolve(name) is None:
                raise illegal_argument(index_catalog.unknown_message(name))


async def create_api_key(req: EsRequest) -> EsResponse:
    principal = _principal(req)
    body = req.json_object()
    name = body.get("name")
    if not name:
        raise ElasticsearchError(
            400, "action_request_validation_exception", "Validation Failed: 1: api key name is required;"
        )
    descriptors = body.get("role_descriptors")
    roles = None
    if descriptors:
        roles = [_role_from_descriptor(role_name, d or {}) for role_name, d in descriptors.items()]
        for role in roles:
            _validate_role(req, role)
    owner = principal.api_key.owner if principal.api_key is not None else principal.username
    owner_user = req.state.security.users[owner]
    limited_by = list(owner_user.roles) if principal.api_key is None else list(principal.api_key.limited_by)
    expiration = None
    if body.get("expiration"):
        expiration = now_millis() + int(parse_time("expiration", str(body["expiration"])) * 1000)
    key = ApiKey(
        id=base64.urlsafe_b64encode(os.urandom(15)).decode()[:20],
        name=str(name),
        key=secrets.token_urlsafe(16)[:22],
        owner=owner,
        owner_realm=owner_user.realm,
        owner_realm_type=owner_user.realm_type,
        limited_by=limited_by,
        role_descriptors=roles,
        creation=now_millis(),
        expiration=expiration,
        metadata=dict(body.get("metadata") or {}),
    )
    req.state.security.api_keys[key.id] = key
    response: dict[str, Any] = {"id": key.id, "name": key.name}
    if expiration is not None:
        response["expiration"] = expiration
    response["api_key"] = key.key
    response["encoded"] = base64.b64encode(f"{key.id}:{key.key}".encode()).decode()
    return EsResponse(body=response)


def _render_key(key: ApiKey) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "type": "rest",
        "creation": key.creation,
        "invalidated": key.invalidated,
        "username": key.owner,
        "realm": key.owner_realm,
        "metadata": key.metadata,
    }
    if key.expiration is not None:
        rendered["expiration"] = key.expiration
    return rendered


def _own_keys_only(req: EsRequest, action: str) -> bool:
    """Holders of `manage_own_api_key` (but not `manage_api_key`) see their own keys only."""
    principal = _principal(req)
    cluster_catalog, _ = catalogs(req.state)
    manage = cluster_catalog.by_name["manage_api_key"]
    return not holds_cluster_privilege(req.state, principal, manage) and action != CREATE_API_KEY


async def get_api_keys(req: EsRequest) -> EsResponse:
    principal = _principal(req)
    keys = list(req.state.security.api_keys.values())
    if req.flag("owner") or _own_keys_only(req, GET_API_KEY):
        keys = [k for k in keys if k.owner == principal.username]
    for param, attribute in (("id", "id"), ("name", "name"), ("username", "owner")):
        wanted = req.param(param)
        if wanted:
            keys = [k for k in keys if getattr(k, attribute) == wanted]
    if not keys and (req.param("id") or req.param("name")):
        raise ElasticsearchError(
            404,
            "resource_not_found_exception",
            f"api key owned by requesting user with id [{req.param('id')}] not found",
        )
    return EsResponse(body={"api_keys": [_render_key(k) for k in keys]})


async def invalidate_api_keys(req: EsRequest) -> EsResponse:
    principal = _principal(req)
    body = req.json_object()
    ids = [str(i) for i in body.get("ids") or ([body["id"]] if body.get("id") else [])]
    keys = [
        k
        for k in req.state.security.api_keys.values()
        if (not ids or k.id in ids)
        and (not body.get("name") or k.name == body["name"])
        and (not body.get("username") or k.owner == body["username"])
    ]
    if body.get("owner") or _own_keys_only(req, INVALIDATE_API_KEY):
        keys = [k for k in keys if k.owner == principal.username]
    invalidated = [k.id for k in keys if not k.invalidated]
    previously = [k.id for k in keys if k.invalidated]
    for key in keys:
        key.invalidated = True
    return EsResponse(
        body={"invalidated_api_keys": invalidated, "previously_invalidated_api_keys": previously, "error_count": 0}
    )


# --- users and roles ------------------------------------------------------------------------


async def put_user(req: EsRequest) -> EsResponse:
    name = req.path_params["username"]
    body = req.json_object()
    existing = req.state.security.users.get(name)
    password = body.get("password") or (existing.password if existing else None)
    if password is None:
        raise ElasticsearchError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: password must be specified unless you are updating an existing user;",
        )
    if len(str(password)) < 6:
        raise ElasticsearchError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: passwords must be at least [6] characters long;",
        )
    req.state.security.users[name] = User(
        name,
        str(password),
        [str(r) for r in body.get("roles", [])],
        body.get("full_name"),
        body.get("email"),
        dict(body.get("metadata") or {}),
        bool(body.get("enabled", True)),
    )
    return EsResponse(body={"created": existing is None})


async def get_users(req: EsRequest) -> EsResponse:
    names = req.path_params.get("username")
    users = req.state.security.users
    wanted = [n.strip() for n in names.split(",")] if names else sorted(users)
    found = {
        n: {
            "username": n,
            "roles": users[n].roles,
            "full_name": users[n].full_name,
            "email": users[n].email,
            "metadata": users[n].metadata,
            "enabled": users[n].enabled,
        }
        for n in wanted
        if n in users
    }
    return EsResponse(status=200 if found or not names else 404, body=found)


async def delete_user(req: EsRequest) -> EsResponse:
    found = req.state.security.users.pop(req.path_params["username"], None) is not None
    return EsResponse(status=200 if found else 404, body={"found": found})


async def put_role(req: EsRequest) -> EsResponse:
    name = req.path_params["name"]
    role = _role_from_descriptor(name, req.json_object())
    _validate_role(req, role)
    created = name not in req.state.security.roles
    req.state.security.roles[name] = role
    return EsResponse(body={"role": {"created": created}})


async def get_roles(req: EsRequest) -> EsResponse:
    names = req.path_params.get("name")
    roles = req.state.security.roles
    wanted = [n.strip() for n in names.split(",")] if names else sorted(roles)
    found = {
        n: {
            "cluster": roles[n].cluster,
            "indices": [
                {"names": g.names, "privileges": g.privileges, "allow_restricted_indices": g.allow_restricted_indices}
                for g in roles[n].indices
            ],
            "applications": [],
            "run_as": roles[n].run_as,
            "metadata": roles[n].metadata,
            "transient_metadata": {"enabled": True},
        }
        for n in wanted
        if n in roles
    }
    return EsResponse(status=200 if found or not names else 404, body=found)


async def delete_role(req: EsRequest) -> EsResponse:
    found = req.state.security.roles.pop(req.path_params["name"], None) is not None
    return EsResponse(status=200 if found else 404, body={"found": found})


def routes() -> list[Route]:
    user_params = ("refresh",)
    return [
        route("GET", "/_security/_authenticate", authenticate, None, body=False),
        route(("GET", "POST"), "/_security/user/_has_privileges", has_privileges),
        route(("GET", "POST"), "/_security/user/{user}/_has_privileges", has_privileges),
        route(("PUT", "POST"), "/_security/api_key", create_api_key, CREATE_API_KEY, ("refresh",)),
        route(
            "GET",
            "/_security/api_key",
            get_api_keys,
            GET_API_KEY,
            ("id", "name", "owner", "realm_name", "username", "with_limited_by", "active_only", "with_profile_uid"),
        ),
        route("DELETE", "/_security/api_key", invalidate_api_keys, INVALIDATE_API_KEY),
        route(("PUT", "POST"), "/_security/user/{username}", put_user, PUT_USER, user_params),
        route("GET", "/_security/user", get_users, GET_USER, ("with_profile_uid",)),
        route("GET", "/_security/user/{username}", get_users, GET_USER, ("with_profile_uid",)),
        route("DELETE", "/_security/user/{username}", delete_user, DELETE_USER, user_params),
        route(("PUT", "POST"), "/_security/role/{name}", put_role, PUT_ROLE, user_params),
        route("GET", "/_security/role", get_roles, GET_ROLE),
        route("GET", "/_security/role/{name}", get_roles, GET_ROLE),
        route("DELETE", "/_security/role/{name}", delete_role, DELETE_ROLE, user_params),
    ]
