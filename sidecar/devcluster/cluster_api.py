"""`GET /`, `HEAD /` and `GET /_cluster/health`."""

from __future__ import annotations

import hashlib
from typing import Any

from sidecar.devcluster.indices import WildcardOptions, replica_counts, resolve_expressions
from sidecar.devcluster.nodes import cluster_nodes
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.transport import EsRequest, EsResponse

# Recorded from real releases; other versions get a stable made-up build.
KNOWN_BUILDS = {
    "8.12.2": ("48a287ab9497e852de30327444b0809e55d46466", "2024-02-19T10:04:32.774273190Z", "9.9.2"),
}
LUCENE_BY_MINOR = {
    (8, 11): "9.8.0",
    (8, 12): "9.9.2",
    (8, 13): "9.10.0",
    (8, 14): "9.10.0",
    (8, 15): "9.11.1",
    (8, 16): "9.12.0",
    (8, 17): "9.12.0",
    (8, 18): "9.12.1",
    (8, 19): "9.12.2",
    (9, 0): "10.1.0",
    (9, 1): "10.2.2",
}


def build_info(version: str) -> dict[str, Any]:
    if version in KNOWN_BUILDS:
        build_hash, build_date, lucene = KNOWN_BUILDS[version]
    else:
        parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
        key = (parts[0], parts[1]) if len(parts) == 2 else (8, 12)
        build_hash = hashlib.sha1(version.encode()).hexdigest()
        build_date = "2024-06-01T00:00:00.000000000Z"
        lucene = LUCENE_BY_MINOR.get(key, "9.12.0")
    major = int(version.split(".")[0])
    return {
        "number": version,
        "build_flavor": "default",
        "build_type": "tar",
        "build_hash": build_hash,
        "build_date": build_date,
        "build_snapshot": False,
        "lucene_version": lucene,
        "minimum_wire_compatibility_version": "7.17.0" if major == 8 else f"{major - 1}.18.0",
        "minimum_index_compatibility_version": "7.0.0" if major == 8 else f"{major - 1}.0.0",
    }


def root_body(state: ClusterState) -> dict[str, Any]:
    return {
        "name": cluster_nodes(state.config)[0].name,
        "cluster_name": state.config.cluster_name,
        "cluster_uuid": state.cluster_uuid,
        "version": build_info(state.config.version),
        "tagline": "You Know, for Search",
    }


async def root(req: EsRequest) -> EsResponse:
    if req.http.method == "HEAD":
        return EsResponse()
    return EsResponse(body=root_body(req.state))


async def cluster_health(req: EsRequest) -> EsResponse:
    state = req.state
    indices = resolve_expressions(
        state,
        req.path_params.get("index"),
        wildcards=WildcardOptions.parse(req.param("expand_wildcards"), "all"),
    )
    primaries = active = unassigned = 0
    for index in indices:
        shards = int(index.settings.get("index.number_of_shards", "1"))
        wanted, assigned = replica_counts(state, index)
        primaries += shards
        active += shards * (1 + assigned)
        unassigned += shards * (wanted - assigned)
    status = "green" if unassigned == 0 else "yellow"
    nodes = cluster_nodes(state.config)
    total = active + unassigned
    wanted_status = req.param("wait_for_status")
    timed_out = wanted_status == "green" and status != "green"
    body = {
        "cluster_name": state.config.cluster_name,
        "status": status,
        "timed_out": timed_out,
        "number_of_nodes": len(nodes),
        "number_of_data_nodes": len(nodes),
        "active_primary_shards": primaries,
        "active_shards": active,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": unassigned,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0 if total == 0 else active * 100.0 / total,
    }
    return EsResponse(status=408 if timed_out else 200, body=body)


def routes() -> list[Route]:
    health_params = (
        "expand_wildcards",
        "level",
        "local",
        "master_timeout",
        "timeout",
        "wait_for_active_shards",
        "wait_for_nodes",
        "wait_for_events",
        "wait_for_no_relocating_shards",
        "wait_for_no_initializing_shards",
        "wait_for_status",
    )
    return [
        route(("GET", "HEAD"), "/", root, "cluster:monitor/main"),
        route("GET", "/_cluster/health", cluster_health, "cluster:monitor/health", health_params),
        route("GET", "/_cluster/health/{index}", cluster_health, "cluster:monitor/health", health_params),
    ]
