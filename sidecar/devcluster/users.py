"""The built-in users and roles of the stand-in. Every password is `changeme`.

| user           | roles            | what it may do                                                     |
|----------------|------------------|--------------------------------------------------------------------|
| `elastic`      | `superuser`      | everything (reserved realm), but no writes to restricted indices   |
| `admin`        | `admin`          | cluster `manage`, `manage_own_api_key`; no index privileges        |
| `monitor_user` | `monitor`        | cluster `monitor`, `manage_own_api_key`                            |
| `nobody`       | `nobody`         | nothing beyond `_authenticate` and `_has_privileges`               |
| `sidecar`      | `inference_sidecar` | cluster `monitor`, `manage_ml`; `all` on the sidecar's indices  |
"""

from __future__ import annotations

from sidecar.devcluster.state import IndexGrant, Role, SecurityState, User

DEFAULT_PASSWORD = "changeme"
SIDECAR_INDEX_PATTERNS = [".inference-sidecar*", ".sidecar-inference*"]

BUILT_IN_ROLES: tuple[Role, ...] = (
    Role(
        "superuser",
        cluster=["all"],
        indices=[
            IndexGrant(["*"], ["all"]),
            IndexGrant(["*"], ["monitor", "read", "view_index_metadata", "read_cross_cluster"], True),
        ],
        run_as=["*"],
        metadata={"_reserved": True},
    ),
    Role("admin", cluster=["manage", "manage_own_api_key"]),
    Role("monitor", cluster=["monitor", "manage_own_api_key"]),
    Role("nobody"),
    Role(
        "inference_sidecar",
        cluster=["monitor", "manage_ml"],
        indices=[IndexGrant(list(SIDECAR_INDEX_PATTERNS), ["all"])],
    ),
)

BUILT_IN_USERS: tuple[User, ...] = (
    User(
        "elastic",
        DEFAULT_PASSWORD,
        ["superuser"],
        metadata={"_reserved": True},
        realm="reserved",
        realm_type="reserved",
    ),
    User("admin", DEFAULT_PASSWORD, ["admin"]),
    User("monitor_user", DEFAULT_PASSWORD, ["monitor"]),
    User("nobody", DEFAULT_PASSWORD, ["nobody"]),
    User("sidecar", DEFAULT_PASSWORD, ["inference_sidecar"], full_name="Inference sidecar service account"),
)


def default_security_state(bearer_tokens: dict[str, str]) -> SecurityState:
    state = SecurityState()
    for role in BUILT_IN_ROLES:
        state.roles[role.name] = Role(
            role.name,
            list(role.cluster),
            [IndexGrant(list(g.names), list(g.privileges), g.allow_restricted_indices) for g in role.indices],
            list(role.run_as),
            dict(role.metadata),
        )
    for user in BUILT_IN_USERS:
        state.users[user.username] = User(
            user.username,
            user.password,
            list(user.roles),
            user.full_name,
            user.email,
            dict(user.metadata),
            user.enabled,
            user.realm,
            user.realm_type,
        )
    state.access_tokens.update(bearer_tokens)
    return state


def describe_default_users() -> str:
    lines = ["Users (password for all: changeme):"]
    for user in BUILT_IN_USERS:
        lines.append(f"  {user.username:<13} roles: {', '.join(user.roles) or '(none)'}")
    return "\n".join(lines)
