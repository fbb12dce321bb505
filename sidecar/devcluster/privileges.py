"""Named cluster and index privileges as ES defines them: sets of action-name patterns.

A pattern is a literal action name or a prefix ending in `*`. One privilege implies another when
every action the second grants is granted by the first; that relation orders the "this action is
granted by ..." lists of 403 answers exactly as ES does (least privileged first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class NamedPrivilege:
    name: str
    patterns: tuple[str, ...]
    excludes: tuple[str, ...] = ()
    since: tuple[int, int] = (0, 0)

    def grants(self, action: str) -> bool:
        return any(pattern_matches(p, action) for p in self.patterns) and not any(
            pattern_matches(e, action) for e in self.excludes
        )

    def covers_pattern(self, pattern: str, ignoring: tuple[str, ...] = ()) -> bool:
        if not any(pattern_within(pattern, own) for own in self.patterns):
            return False
        return not any(
            patterns_overlap(pattern, e) and not any(pattern_within(e, i) for i in ignoring) for e in self.excludes
        )

    def implies(self, other: NamedPrivilege) -> bool:
        return all(self.covers_pattern(p, other.excludes) for p in other.patterns)


def pattern_matches(pattern: str, action: str) -> bool:
    if pattern.endswith("*"):
        return action.startswith(pattern[:-1])
    return action == pattern


def pattern_within(inner: str, outer: str) -> bool:
    if not outer.endswith("*"):
        return inner == outer
    return inner.rstrip("*").startswith(outer[:-1])


def patterns_overlap(first: str, second: str) -> bool:
    a, b = first.rstrip("*"), second.rstrip("*")
    if first.endswith("*") and second.endswith("*"):
        return a.startswith(b) or b.startswith(a)
    if first.endswith("*"):
        return second.startswith(a)
    if second.endswith("*"):
        return first.startswith(b)
    return first == second


SECURITY_ACTIONS = "cluster:admin/xpack/security/*"
INFERENCE_ERA = (8, 14)

CLUSTER_PRIVILEGES: tuple[NamedPrivilege, ...] = (
    NamedPrivilege("none", ()),
    NamedPrivilege("all", ("cluster:*", "indices:admin/template/*", "indices:admin/index_template/*")),
    NamedPrivilege(
        "manage",
        ("cluster:*", "indices:admin/template/*", "indices:admin/index_template/*"),
        excludes=(SECURITY_ACTIONS,),
    ),
    NamedPrivilege("monitor", ("cluster:monitor/*",)),
    NamedPrivilege("monitor_ml", ("cluster:monitor/xpack/ml/*",)),
    NamedPrivilege("manage_ml", ("cluster:admin/xpack/ml/*", "cluster:monitor/xpack/ml/*")),
    NamedPrivilege(
        "monitor_inference",
        ("cluster:monitor/xpack/inference*", "cluster:monitor/xpack/ml/trained_models/deployment/infer"),
        since=INFERENCE_ERA,
    ),
    NamedPrivilege(
        "manage_inference",
        (
            "cluster:admin/xpack/inference/*",
            "cluster:monitor/xpack/inference*",
            "cluster:admin/xpack/ml/trained_models/deployment/start",
            "cluster:admin/xpack/ml/trained_models/deployment/stop",
            "cluster:monitor/xpack/ml/trained_models/deployment/infer",
        ),
        since=INFERENCE_ERA,
    ),
    NamedPrivilege("manage_ingest_pipelines", ("cluster:admin/ingest/pipeline/*",)),
    NamedPrivilege("manage_pipeline", ("cluster:admin/ingest/pipeline/*",)),
    NamedPrivilege("read_pipeline", ("cluster:admin/ingest/pipeline/get", "cluster:admin/ingest/pipeline/simulate")),
    NamedPrivilege("manage_index_templates", ("indices:admin/template/*", "indices:admin/index_template/*")),
    NamedPrivilege("manage_security", (SECURITY_ACTIONS,)),
    NamedPrivilege("manage_api_key", ("cluster:admin/xpack/security/api_key/*",)),
    NamedPrivilege("manage_own_api_key", ("cluster:admin/xpack/security/api_key/*",)),
    NamedPrivilege("grant_api_key", ("cluster:admin/xpack/security/api_key/grant",)),
    NamedPrivilege("manage_token", ("cluster:admin/xpack/security/token/*",)),
    NamedPrivilege("manage_service_account", ("cluster:admin/xpack/security/service_account/*",)),
    NamedPrivilege(
        "read_security",
        (
            "cluster:admin/xpack/security/user/get",
            "cluster:admin/xpack/security/role/get",
            "cluster:admin/xpack/security/api_key/get",
            "cluster:admin/xpack/security/privilege/get",
        ),
    ),
    NamedPrivilege("monitor_transform", ("cluster:monitor/data_frame/*", "cluster:monitor/transform/*")),
    NamedPrivilege(
        "manage_transform",
        (
            "cluster:admin/data_frame/*",
            "cluster:monitor/data_frame/*",
            "cluster:admin/transform/*",
            "cluster:monitor/transform/*",
        ),
    ),
    NamedPrivilege("monitor_watcher", ("cluster:monitor/xpack/watcher/*",)),
    NamedPrivilege("manage_watcher", ("cluster:admin/xpack/watcher/*", "cluster:monitor/xpack/watcher/*")),
    NamedPrivilege("monitor_rollup", ("cluster:monitor/xpack/rollup/*",)),
    NamedPrivilege("manage_rollup", ("cluster:admin/xpack/rollup/*", "cluster:monitor/xpack/rollup/*")),
    NamedPrivilege("monitor_text_structure", ("cluster:monitor/text_structure/*",)),
    NamedPrivilege(
        "monitor_snapshot",
        ("cluster:admin/snapshot/status*", "cluster:admin/snapshot/get", "cluster:admin/repository/get"),
    ),
    NamedPrivilege(
        "create_snapshot",
        (
            "cluster:admin/snapshot/create*",
            "cluster:admin/snapshot/status*",
            "cluster:admin/snapshot/get",
            "cluster:admin/repository/get",
        ),
    ),
    NamedPrivilege("manage_ilm", ("cluster:admin/ilm/*",)),
    NamedPrivilege("read_ilm", ("cluster:admin/ilm/get", "cluster:admin/ilm/operation_mode/get")),
    NamedPrivilege("manage_slm", ("cluster:admin/slm/*",)),
    NamedPrivilege("read_slm", ("cluster:admin/slm/get", "cluster:admin/slm/status")),
    NamedPrivilege("manage_ccr", ("cluster:admin/xpack/ccr/*", "cluster:monitor/state")),
    NamedPrivilege("read_ccr", ("cluster:monitor/state", "cluster:monitor/xpack/info")),
    NamedPrivilege("cancel_task", ("cluster:admin/tasks/cancel",)),
    NamedPrivilege("manage_enrich", ("cluster:admin/xpack/enrich/*",)),
    NamedPrivilege("monitor_enrich", ("cluster:admin/xpack/enrich/get",)),
    NamedPrivilege("manage_logstash_pipelines", ("cluster:admin/logstash/pipeline/*",)),
    NamedPrivilege("manage_autoscaling", ("cluster:admin/autoscaling/*",)),
    NamedPrivilege("transport_client", ("cluster:monitor/nodes/liveness", "cluster:monitor/state")),
    NamedPrivilege("manage_search_application", ("cluster:admin/xpack/application/search_application/*",)),
    NamedPrivilege("manage_behavioral_analytics", ("cluster:admin/xpack/application/analytics/*",)),
    NamedPrivilege("manage_oidc", ("cluster:admin/xpack/security/oidc/*",)),
    NamedPrivilege("manage_saml", ("cluster:admin/xpack/security/saml/*",)),
    NamedPrivilege("delegate_pki", ("cluster:admin/xpack/security/delegate_pki",)),
)

INDEX_PRIVILEGES: tuple[NamedPrivilege, ...] = (
    NamedPrivilege("none", ()),
    NamedPrivilege("all", ("indices:*", "internal:transport/proxy/indices:*")),
    NamedPrivilege("manage", ("indices:monitor/*", "indices:admin/*")),
    NamedPrivilege(
        "create_index", ("indices:admin/create", "indices:admin/auto_create", "indices:admin/data_stream/create")
    ),
    NamedPrivilege("delete_index", ("indices:admin/delete", "indices:admin/data_stream/delete")),
    NamedPrivilege(
        "view_index_metadata",
        (
            "indices:admin/aliases/get",
            "indices:admin/get",
            "indices:admin/mappings/fields/get*",
            "indices:admin/mappings/get",
            "indices:admin/resolve/index",
            "indices:monitor/settings/get",
        ),
    ),
    NamedPrivilege("read", ("indices:data/read/*", "indices:admin/resolve/index")),
    NamedPrivilege("read_cross_cluster", ("internal:transport/proxy/indices:data/read/*",)),
    NamedPrivilege("write", ("indices:data/write/*", "indices:admin/mapping/put", "indices:admin/mapping/auto_put")),
    NamedPrivilege(
        "index",
        (
            "indices:data/write/index*",
            "indices:data/write/update*",
            "indices:data/write/bulk*",
            "indices:admin/mapping/put",
            "indices:admin/mapping/auto_put",
        ),
    ),
    NamedPrivilege(
        "create",
        (
            "indices:data/write/index:op_type/create",
            "indices:data/write/bulk*",
            "indices:admin/mapping/put",
            "indices:admin/mapping/auto_put",
        ),
    ),
    NamedPrivilege(
        "create_doc",
        ("indices:data/write/index:op_type/create", "indices:data/write/bulk*", "indices:admin/mapping/auto_put"),
    ),
    NamedPrivilege("delete", ("indices:data/write/delete*", "indices:data/write/bulk*")),
    NamedPrivilege("monitor", ("indices:monitor/*",)),
    NamedPrivilege(
        "maintenance",
        ("indices:admin/refresh*", "indices:admin/flush*", "indices:admin/synced_flush", "indices:admin/forcemerge*"),
    ),
    NamedPrivilege("auto_configure", ("indices:admin/auto_create", "indices:admin/mapping/auto_put")),
    NamedPrivilege("manage_follow_index", ("indices:admin/xpack/ccr/*", "indices:monitor/stats")),
    NamedPrivilege("manage_leader_index", ("indices:admin/xpack/ccr/forget_follower*", "indices:monitor/stats")),
    NamedPrivilege("manage_ilm", ("indices:admin/ilm/*",)),
)


class PrivilegeCatalog:
    """The privileges that exist in the configured ES version, with ES's grantor ordering."""

    def __init__(self, privileges: Iterable[NamedPrivilege], version: tuple[int, int], kind: str) -> None:
        self.kind = kind
        self.by_name = {p.name: p for p in privileges if version >= p.since}
        self._ordered = self._sort_by_access_level()

    def _sort_by_access_level(self) -> list[NamedPrivilege]:
        privileges = list(self.by_name.values())
        supersets = {p.name: sum(1 for q in privileges if q is not p and q.implies(p)) for p in privileges}
        return sorted(privileges, key=lambda p: (-supersets[p.name], p.name))

    def resolve(self, name: str) -> NamedPrivilege | None:
        """A named privilege, or an action pattern (`cluster:...` / `indices:...`) as an ad-hoc privilege."""
        if name in self.by_name:
            return self.by_name[name]
        prefix = "cluster:" if self.kind == "cluster" else "indices:"
        if name.startswith(prefix) or (self.kind == "cluster" and name.startswith("indices:admin/template")):
            return NamedPrivilege(name, (name,))
        return None

    def grantors(self, action: str) -> list[str]:
        return [p.name for p in self._ordered if p.grants(action)]

    def unknown_message(self, name: str) -> str:
        names = ",".join(sorted(self.by_name))
        if self.kind == "cluster":
            return (
                f"unknown cluster privilege [{name}]. a privilege must be either one of the predefined cluster "
                f"privilege names [{names}] or a pattern over one of the available cluster actions"
            )
        return (
            f"unknown index privilege [{name}]. a privilege must be either one of the predefined fixed indices "
            f"privileges [{names}] or a pattern over one of the available index actions"
        )

    def holds(self, held_names: Iterable[str], requested: NamedPrivilege) -> bool:
        held = [self.by_name[n] for n in held_names if n in self.by_name]
        return all(any(h.covers_pattern(pattern, requested.excludes) for h in held) for pattern in requested.patterns)

    def allows(self, held_names: Iterable[str], action: str) -> bool:
        return any(self.by_name[n].grants(action) for n in held_names if n in self.by_name)


@cache
def cluster_catalog(version: tuple[int, int]) -> PrivilegeCatalog:
    return PrivilegeCatalog(CLUSTER_PRIVILEGES, version, "cluster")


@cache
def index_catalog(version: tuple[int, int]) -> PrivilegeCatalog:
    return PrivilegeCatalog(INDEX_PRIVILEGES, version, "index")
