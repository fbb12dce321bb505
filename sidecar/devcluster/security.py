"""Who is calling, and may they do this: authentication (Basic, ApiKey, Bearer, run-as) and
authorisation of cluster and index actions, with ES's 401 and 403 answers."""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass
from functools import cache

from sidecar.devcluster.errors import forbidden, missing_credentials, unauthenticated
from sidecar.devcluster.privileges import (
    NamedPrivilege,
    PrivilegeCatalog,
    cluster_catalog,
    index_catalog,
)
from sidecar.devcluster.state import ApiKey, ClusterState, IndexGrant, Role, User
from sidecar.domain.errors import ElasticsearchError

RUN_AS_HEADER = "es-security-runas-user"
UNABLE_TO_AUTHENTICATE = (
    "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
)


@dataclass
class Principal:
    user: User
    authentication_type: str
    role_sets: list[list[Role]]
    api_key: ApiKey | None = None
    authenticating_user: User | None = None

    @property
    def username(self) -> str:
        return self.user.username

    def describe(self) -> str:
        if self.api_key is not None:
            return f"API key id [{self.api_key.id}] of user [{self.api_key.owner}]"
        roles = ",".join(self.user.roles)
        if self.authenticating_user is not None:
            who = self.authenticating_user.username
            return f"user [{who}] run as [{self.user.username}] with effective roles [{roles}]"
        return f"user [{self.user.username}] with effective roles [{roles}]"


# --- authentication -------------------------------------------------------------------------


def authenticate(state: ClusterState, authorization: str | None, uri: str) -> Principal:
    if not authorization or not authorization.strip():
        raise missing_credentials(uri)
    scheme, _, token = authorization.strip().partition(" ")
    scheme = scheme.lower()
    token = token.strip()
    if scheme == "basic":
        return _basic(state, token, uri)
    if scheme == "apikey":
        return _api_key(state, token)
    if scheme == "bearer":
        return _bearer(state, token)
    raise missing_credentials(uri)


def _basic(state: ClusterState, token: str, uri: str) -> Principal:
    try:
        username, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise unauthenticated(UNABLE_TO_AUTHENTICATE) from None
    if not sep:
        raise unauthenticated(UNABLE_TO_AUTHENTICATE)
    user = state.security.users.get(username)
    if user is None or not user.enabled or user.password != password:
        raise unauthenticated(f"unable to authenticate user [{username}] for REST request [{uri}]")
    return Principal(user, "realm", [roles_of(state, user.roles)])


def _api_key(state: ClusterState, token: str) -> Principal:
    try:
        key_id, sep, secret = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise unauthenticated(UNABLE_TO_AUTHENTICATE) from None
    key = state.security.api_keys.get(key_id) if sep else None
    problem = None
    if key is None:
        problem = f"API key: unable to find apikey with id {key_id}"
    elif key.key != secret:
        problem = f"API key: invalid credentials for API key [{key_id}]"
    elif key.invalidated:
        problem = f"API key: api key [{key_id}] has been invalidated"
    elif key.expiration is not None and key.expiration < time.time() * 1000:
        problem = "API key: api key is expired"
    owner = state.security.users.get(key.owner) if key is not None else None
    if problem is not None or key is None or owner is None:
        raise unauthenticated(
            UNABLE_TO_AUTHENTICATE, additional_unsuccessful_credentials=problem or "API key: owner no longer exists"
        )
    role_sets = [roles_of(state, key.limited_by)]
    if key.role_descriptors is not None:
        role_sets.insert(0, key.role_descriptors)
    api_key_user = User(owner.username, "", [], metadata={}, realm="_es_api_key", realm_type="_es_api_key")
    return Principal(api_key_user, "api_key", role_sets, api_key=key)


def _bearer(state: ClusterState, token: str) -> Principal:
    username = state.security.access_tokens.get(token) or state.config.bearer_tokens.get(token)
    user = state.security.users.get(username) if username else None
    if user is None or not user.enabled:
        raise unauthenticated(UNABLE_TO_AUTHENTICATE)
    return Principal(user, "token", [roles_of(state, user.roles)])


def apply_run_as(state: ClusterState, principal: Principal, target: str | None, action: str) -> Principal:
    """`es-security-runas-user`: the authenticated user acts as `target` if a role lets it."""
    if not target:
        return principal
    allowed = principal.api_key is None and all(
        any(any(name_matches(target, pattern) for pattern in role.run_as) for role in roles)
        for roles in principal.role_sets
    )
    target_user = state.security.users.get(target)
    if not allowed or target_user is None or not target_user.enabled:
        raise forbidden(
            f"action [{action}] is unauthorized for {principal.describe()}, because user "
            f"[{principal.username}] is unauthorized to run as [{target}]"
        )
    return Principal(
        target_user,
        principal.authentication_type,
        [roles_of(state, target_user.roles)],
        authenticating_user=principal.user,
    )


def roles_of(state: ClusterState, names: list[str]) -> list[Role]:
    return [state.security.roles[name] for name in names if name in state.security.roles]


# --- authorisation --------------------------------------------------------------------------


def catalogs(state: ClusterState) -> tuple[PrivilegeCatalog, PrivilegeCatalog]:
    version = state.config.version_tuple[:2]
    return cluster_catalog((version[0], version[1])), index_catalog((version[0], version[1]))


def cluster_action_allowed(state: ClusterState, principal: Principal | None, action: str) -> bool:
    if principal is None:
        return True
    cluster, _ = catalogs(state)
    return all(any(cluster.allows(role.cluster, action) for role in roles) for roles in principal.role_sets)


def authorize_cluster_action(state: ClusterState, principal: Principal | None, action: str) -> None:
    if principal is None or cluster_action_allowed(state, principal, action):
        return
    cluster, _ = catalogs(state)
    raise forbidden(
        f"action [{action}] is unauthorized for {principal.describe()}, "
        f"this action is granted by the cluster privileges [{','.join(cluster.grantors(action))}]"
    )


def is_restricted(state: ClusterState, index: str) -> bool:
    return any(name_matches(index, pattern) for pattern in state.config.restricted_index_patterns)


def index_action_allowed(state: ClusterState, principal: Principal | None, action: str, index: str) -> bool:
    if principal is None:
        return True
    _, index_privileges = catalogs(state)
    restricted = is_restricted(state, index)

    def granted_by(grant: IndexGrant) -> bool:
        if restricted and not grant.allow_restricted_indices:
            return False
        return any(name_matches(index, pattern) for pattern in grant.names) and index_privileges.allows(
            grant.privileges, action
        )

    return all(any(granted_by(g) for role in roles for g in role.indices) for roles in principal.role_sets)


def authorize_index_action(state: ClusterState, principal: Principal | None, action: str, indices: list[str]) -> None:
    denied = [name for name in indices if not index_action_allowed(state, principal, action, name)]
    if not denied:
        return
    ordinary = [n for n in denied if not is_restricted(state, n)]
    restricted = [n for n in denied if is_restricted(state, n)]
    if ordinary and restricted:
        where = f"on indices [{','.join(ordinary)}] and restricted indices [{','.join(restricted)}]"
    elif restricted:
        where = f"on restricted indices [{','.join(restricted)}]"
    else:
        where = f"on indices [{','.join(ordinary)}]"
    _, index_privileges = catalogs(state)
    who = principal.describe() if principal is not None else "user [_anonymous] with effective roles []"
    raise forbidden(
        f"action [{action}] is unauthorized for {who} {where}, "
        f"this action is granted by the index privileges [{','.join(index_privileges.grantors(action))}]"
    )


def index_action_denied(state: ClusterState, principal: Principal, action: str) -> ElasticsearchError:
    """The 403 for an index action the caller holds no index privilege for at all (no index list)."""
    _, index_privileges = catalogs(state)
    return forbidden(
        f"action [{action}] is unauthorized for {principal.describe()}, "
        f"this action is granted by the index privileges [{','.join(index_privileges.grantors(action))}]"
    )


def holds_cluster_privilege(state: ClusterState, principal: Principal, privilege: NamedPrivilege) -> bool:
    cluster, _ = catalogs(state)
    return all(any(cluster.holds(role.cluster, privilege) for role in roles) for roles in principal.role_sets)


def holds_index_privilege(
    state: ClusterState, principal: Principal, name: str, privilege: NamedPrivilege, allow_restricted: bool
) -> bool:
    _, index_privileges = catalogs(state)
    restricted = "*" not in name and is_restricted(state, name)

    def covered(grant: IndexGrant) -> bool:
        if restricted and not (grant.allow_restricted_indices and allow_restricted):
            return False
        return any(name_covered(name, pattern) for pattern in grant.names)

    return all(
        index_privileges.holds(
            [p for role in roles for g in role.indices if covered(g) for p in g.privileges], privilege
        )
        for roles in principal.role_sets
    )


# --- index name patterns --------------------------------------------------------------------


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    if pattern.startswith("/") and pattern.endswith("/") and len(pattern) > 1:
        return re.compile(pattern[1:-1])
    return re.compile("".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern))


def name_matches(name: str, pattern: str) -> bool:
    return _glob(pattern).fullmatch(name) is not None


def name_covered(requested: str, pattern: str) -> bool:
    """Every index name `requested` (itself maybe a wildcard) stands for also matches `pattern`."""
    if "*" not in requested:
        return name_matches(requested, pattern)
    if pattern == "*" or requested == pattern:
        return True
    return pattern.endswith("*") and "*" not in pattern[:-1] and requested.split("*")[0].startswith(pattern[:-1])
