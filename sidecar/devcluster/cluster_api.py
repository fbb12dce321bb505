"""`GET /`, `HEAD /` and `GET /_cluster/health`."""

from __future__ import annotations

from typing import Any

from sidecar.devcluster.build import build_info
from sidecar.devcluster.indices import WildcardOptions, replica_counts, resolve_expressions
from sidecar.devcluster.nodes import cluster_nodes
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.transport import EsRequest, EsResponse


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
