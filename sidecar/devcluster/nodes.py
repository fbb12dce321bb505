"""The stand-in's nodes (one per configured ML node, or one plain node), the nodes-info API and
the ML platform names ES derives from `os.name` / `os.arch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidecar.devcluster.build import build_info
from sidecar.devcluster.config import DevClusterConfig
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.security import name_matches
from sidecar.devcluster.state import stable_id
from sidecar.devcluster.transport import EsRequest, EsResponse

BASE_ROLES = [
    "data",
    "data_cold",
    "data_content",
    "data_frozen",
    "data_hot",
    "data_warm",
    "ingest",
    "master",
    "remote_cluster_client",
    "transform",
]
NODE_METRICS = frozenset(
    {
        "settings",
        "os",
        "process",
        "jvm",
        "thread_pool",
        "transport",
        "http",
        "remote_cluster_server",
        "plugins",
        "ingest",
        "aggregations",
        "indices",
        "_all",
        "_none",
    }
)


@dataclass(frozen=True)
class NodeView:
    node_id: str
    name: str
    roles: tuple[str, ...]
    os_name: str
    os_arch: str
    processors: int
    port: int

    @property
    def is_ml(self) -> bool:
        return "ml" in self.roles

    @property
    def transport_address(self) -> str:
        return f"127.0.0.1:{self.port}"


def cluster_nodes(config: DevClusterConfig) -> list[NodeView]:
    if not config.ml_nodes:
        return [NodeView(stable_id("node-1"), "node-1", tuple(BASE_ROLES), "Linux", "amd64", 4, 9300)]
    roles = tuple(sorted([*BASE_ROLES, "ml"]))
    return [
        NodeView(
            stable_id(spec.name), spec.name, roles, spec.os_name, spec.os_arch, spec.allocated_processors, 9300 + i
        )
        for i, spec in enumerate(config.ml_nodes)
    ]


def ml_nodes(config: DevClusterConfig) -> list[NodeView]:
    return [node for node in cluster_nodes(config) if node.is_ml]


def platform_name(os_name: str, os_arch: str) -> str:
    """`Platforms.platformName`: lower-cased OS (windows*, mac os x -> darwin) and arch (amd64 -> x86_64)."""
    name = os_name.lower()
    if name.startswith("windows"):
        name = "windows"
    elif name == "mac os x":
        name = "darwin"
    arch = os_arch.lower()
    arch = {"amd64": "x86_64", "i386": "x86"}.get(arch, arch)
    return f"{name}-{arch}"


def ml_platforms(config: DevClusterConfig) -> set[str]:
    return {platform_name(node.os_name, node.os_arch) for node in ml_nodes(config)}


def select_nodes(nodes: list[NodeView], selector: str) -> list[NodeView]:
    chosen: dict[str, NodeView] = {}
    for part in [p.strip() for p in selector.split(",") if p.strip()]:
        if part in ("_all", "*"):
            matches = nodes
        elif part in ("_local", "_master"):
            matches = nodes[:1]
        elif ":" in part:
            role, _, wanted = part.partition(":")
            want = wanted.lower() == "true"
            matches = [n for n in nodes if (role in n.roles) == want] if role != "_all" else nodes
        else:
            matches = [n for n in nodes if name_matches(n.name, part) or n.node_id == part]
        for node in matches:
            chosen.setdefault(node.node_id, node)
    return list(chosen.values())


def node_info(node: NodeView, config: DevClusterConfig, metrics: set[str], build_hash: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": node.name,
        "transport_address": node.transport_address,
        "host": "127.0.0.1",
        "ip": "127.0.0.1",
        "version": config.version,
        "build_flavor": "default",
        "build_type": "tar",
        "build_hash": build_hash,
        "total_indexing_buffer": 53687091,
        "roles": list(node.roles),
        "attributes": _attributes(node),
    }
    everything = "_all" in metrics or not metrics
    if everything or "os" in metrics:
        info["os"] = {
            "refresh_interval_in_millis": 1000,
            "name": node.os_name,
            "pretty_name": node.os_name,
            "arch": node.os_arch,
            "version": "6.5.0",
            "available_processors": node.processors,
            "allocated_processors": node.processors,
        }
    if everything or "settings" in metrics:
        info["settings"] = {"cluster": {"name": config.cluster_name}, "node": {"name": node.name}}
    return info


def _attributes(node: NodeView) -> dict[str, str]:
    if not node.is_ml:
        return {"xpack.installed": "true"}
    return {
        "ml.allocated_processors": str(node.processors),
        "ml.allocated_processors_double": f"{float(node.processors)}",
        "ml.machine_memory": "17179869184",
        "ml.max_jvm_size": "4294967296",
        "ml.config_version": "12.0.0",
        "xpack.installed": "true",
    }


async def nodes_info(req: EsRequest) -> EsResponse:
    node_id = req.path_params.get("node_id")
    metric = req.path_params.get("metric")
    if node_id is not None and metric is None:
        parts = {p.strip() for p in node_id.split(",") if p.strip()}
        if parts and parts <= NODE_METRICS:
            node_id, metric = "_all", node_id
    nodes = select_nodes(cluster_nodes(req.state.config), node_id or "_all")
    metrics = {m.strip() for m in (metric or "").split(",") if m.strip()}
    build_hash = str(build_info(req.state.config.version)["build_hash"])
    return EsResponse(
        body={
            "_nodes": {"total": len(nodes), "successful": len(nodes), "failed": 0},
            "cluster_name": req.state.config.cluster_name,
            "nodes": {n.node_id: node_info(n, req.state.config, metrics, build_hash) for n in nodes},
        }
    )


def routes() -> list[Route]:
    params = ("flat_settings", "timeout", "master_timeout")
    action = "cluster:monitor/nodes/info"
    return [
        route("GET", "/_nodes", nodes_info, action, params),
        route("GET", "/_nodes/{node_id}", nodes_info, action, params),
        route("GET", "/_nodes/{node_id}/{metric}", nodes_info, action, params),
    ]
