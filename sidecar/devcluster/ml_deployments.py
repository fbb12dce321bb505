"""Model deployments: `_start` with its validations, platform and capacity rules, failure injection
and waiting; `_stop`, `_update`, model deletion, and the `_stats` bodies (es-wire.md §D.4-§D.8)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sidecar.devcluster.config import StartFailure
from sidecar.devcluster.errors import conflict, deployment_not_found, illegal_argument, model_not_found
from sidecar.devcluster.license import require_ml_license
from sidecar.devcluster.ml_models import LANG_IDENT_ID, all_models, deployments_of, match_models
from sidecar.devcluster.nodes import NodeView, ml_nodes, ml_platforms
from sidecar.devcluster.state import ClusterState, Deployment, NodeRouting, TrainedModel, now_millis, stable_id
from sidecar.domain.errors import (
    ElasticsearchError,
    action_request_validation_exception,
    parse_exception,
    resource_not_found,
    status_exception,
)

ELSER_NATIVE_MEMORY = 2101346304


@dataclass
class StartRequest:
    model_id: str
    deployment_id: str
    number_of_allocations: int = 1
    threads_per_allocation: int = 1
    queue_capacity: int = 1024
    priority: str = "normal"
    cache_size: str | None = None
    wait_for: str = "started"
    timeout: float = 20.0
    timeout_text: str = "20s"

    def validate(self) -> None:
        problems = []
        if self.number_of_allocations < 1:
            problems.append("[number_of_allocations] must be a positive integer")
        threads = self.threads_per_allocation
        if threads < 1 or threads > 32 or threads & (threads - 1):
            problems.append("[threads_per_allocation] must be a power of 2 less than or equal to 32")
        if self.queue_capacity < 1:
            problems.append("[queue_capacity] must be a positive integer")
        elif self.queue_capacity > 1_000_000:
            problems.append("[queue_capacity] must be less than 1000000")
        if self.timeout <= 0:
            problems.append("[timeout] must be positive")
        if self.priority == "low":
            if self.number_of_allocations != 1:
                problems.append("[number_of_allocations] must be 1 when [priority] is low")
            if threads != 1:
                problems.append("[threads_per_allocation] must be 1 when [priority] is low")
        if problems:
            raise action_request_validation_exception(problems)


async def start_deployment(state: ClusterState, request: StartRequest) -> Deployment:
    request.validate()
    state.ml.start_requests += 1
    require_ml_license(state)
    if request.deployment_id in state.ml.deployments:
        raise status_exception(
            "Could not start model deployment because an existing deployment with the same id "
            f"[{request.deployment_id}] exist"
        )
    models = all_models(state)
    model = models.get(request.model_id)
    if model is None:
        raise model_not_found(request.model_id)
    if request.deployment_id != request.model_id and request.deployment_id in models:
        raise status_exception(
            f"Deployment id [{request.deployment_id}] is the same as an another model which is not the model being "
            "deployed. Deployment id can be the same as the model being deployed but cannot match a different model"
        )
    if not model.deployable:
        raise status_exception(
            f"model [{model.model_id}] of type [{model.config.get('model_type')}] cannot be deployed. "
            "Only PyTorch models can be deployed"
        )
    if not model.fully_defined:
        if model.download is not None and not model.download.done():
            raise status_exception(
                "Model download task is currently running. Wait for trained model "
                f"[{model.model_id}] download task to complete then try again",
                408,
            )
        raise resource_not_found(f"Could not find trained model definition [{model.model_id}]")
    check_platform(state, model)
    nodes = ml_nodes(state.config)
    if state.config.start_failure == StartFailure.CAPACITY or not nodes:
        raise no_capacity(nodes)
    deployment = create_deployment(state, model, request, nodes)
    if state.config.start_failure == StartFailure.TIMEOUT:
        raise start_timeout(state, request)
    if request.wait_for != "starting":
        try:
            await asyncio.wait_for(asyncio.shield(deployment.started.wait()), request.timeout)
        except TimeoutError:
            raise start_timeout(state, request) from None
    return deployment


def check_platform(state: ClusterState, model: TrainedModel) -> None:
    platforms = ml_platforms(state.config)
    expected = model.platform_architecture
    if state.config.start_failure == StartFailure.PLATFORM_MISMATCH:
        actual = sorted(platforms - {expected or "linux-x86_64"}) or ["linux-aarch64"]
        raise platform_mismatch(model.model_id, expected or "linux-x86_64", actual[0])
    if expected is None or not platforms or platforms == {expected}:
        return
    if len(platforms) == 1:
        raise platform_mismatch(model.model_id, expected, next(iter(platforms)))
    raise ElasticsearchError(
        500,
        "illegal_state_exception",
        f"ML nodes in this cluster have multiple platform architectures, but can only have one for this model "
        f"([{model.model_id}]); expected [{expected}]; but was [{', '.join(sorted(platforms))}]",
    )


def platform_mismatch(model_id: str, expected: str, actual: str) -> ElasticsearchError:
    return illegal_argument(
        f"The model being deployed ([{model_id}]) is platform specific and incompatible with ML nodes in the "
        f"cluster; expected [{expected}]; but was [{actual}]"
    )


def no_capacity(nodes: list[NodeView]) -> ElasticsearchError:
    explanation = (
        "none"
        if not nodes
        else "|".join(
            f"{{{node.name}}}:{{Not allocating on node [{node.node_id}]. Reason: This node has insufficient allocated "
            f"processors. Available processors [0], free processors [0], processors required for each allocation of "
            f"this model [1]}}"
            for node in nodes
        )
    )
    return ElasticsearchError(
        429,
        "status_exception",
        "Could not start deployment because no ML nodes with sufficient capacity were found",
        caused_by={
            "type": "illegal_state_exception",
            "reason": f"Could not start deployment because no suitable nodes were found, allocation explanation "
            f"[{explanation}]",
        },
    )


def start_timeout(state: ClusterState, request: StartRequest) -> ElasticsearchError:
    error_type = "model_deployment_timeout_exception" if state.config.at_least(8, 14) else "status_exception"
    return ElasticsearchError(
        408,
        error_type,
        f"Timed out after [{request.timeout_text}] waiting for trained model deployment [{request.deployment_id}] "
        "to start. Use the trained model stats API to track the state of the deployment and try again once it has "
        "started.",
    )


def create_deployment(
    state: ClusterState, model: TrainedModel, request: StartRequest, nodes: list[NodeView]
) -> Deployment:
    per_node = [0] * len(nodes)
    for i in range(request.number_of_allocations):
        per_node[i % len(nodes)] += 1
    routing = [NodeRouting(node.node_id, count) for node, count in zip(nodes, per_node, strict=True) if count]
    deployment = Deployment(
        deployment_id=request.deployment_id,
        model_id=model.model_id,
        number_of_allocations=request.number_of_allocations,
        threads_per_allocation=request.threads_per_allocation,
        queue_capacity=request.queue_capacity,
        cache_size=request.cache_size,
        priority=request.priority,
        model_bytes=model.model_bytes,
        routing=routing,
    )
    deployment.starter = asyncio.get_running_loop().create_task(_start(deployment, state.config.deployment_start_delay))
    state.ml.deployments[deployment.deployment_id] = deployment
    return deployment


async def _start(deployment: Deployment, delay: float) -> None:
    await asyncio.sleep(delay)
    for routing in deployment.routing:
        routing.routing_state = "started"
        routing.start_time = now_millis()
    deployment.state = "started"
    deployment.started.set()


def assignment_body(deployment: Deployment) -> dict[str, Any]:
    started = deployment.state == "started"
    start = datetime.fromtimestamp(deployment.start_time / 1000, tz=UTC)
    return {
        "assignment": {
            "task_parameters": {
                "model_id": deployment.model_id,
                "deployment_id": deployment.deployment_id,
                "model_bytes": deployment.model_bytes,
                "threads_per_allocation": deployment.threads_per_allocation,
                "number_of_allocations": deployment.number_of_allocations,
                "queue_capacity": deployment.queue_capacity,
                "cache_size": deployment.cache_size
                if deployment.cache_size is not None
                else f"{deployment.model_bytes}b",
                "priority": deployment.priority,
                "per_deployment_memory_bytes": 0,
                "per_allocation_memory_bytes": 0,
            },
            "routing_table": {
                r.node_id: {
                    "current_allocations": r.allocations if started else 0,
                    "target_allocations": r.allocations,
                    "routing_state": r.routing_state,
                }
                for r in deployment.routing
            },
            "assignment_state": "started" if started else "starting",
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{deployment.start_time % 1000:03d}Z",
            "max_assigned_allocations": deployment.number_of_allocations,
        }
    }


def stop_deployments(
    state: ClusterState, expression: str, allow_no_match: bool, force: bool, referenced: set[str]
) -> None:
    targets: dict[str, Deployment] = {}
    for part in [p.strip() for p in expression.split(",") if p.strip()]:
        if part in ("_all", "*") or "*" in part:
            pattern = re.compile(".*" if part == "_all" else re.escape(part).replace(r"\*", ".*"))
            found = [
                d
                for d in state.ml.deployments.values()
                if pattern.fullmatch(d.deployment_id) or pattern.fullmatch(d.model_id)
            ]
        else:
            own = state.ml.deployments.get(part)
            found = [own] if own is not None else deployments_of(state, part)
        if not found and not allow_no_match:
            raise deployment_not_found(part)
        for deployment in found:
            targets.setdefault(deployment.deployment_id, deployment)
    if not force:
        for deployment in targets.values():
            if {deployment.deployment_id, deployment.model_id} & referenced:
                raise conflict(
                    f"Cannot stop deployment [{deployment.deployment_id}] as it is referenced by ingest processors; "
                    "use force to stop the deployment"
                )
    for deployment_id in targets:
        remove_deployment(state, deployment_id)


def remove_deployment(state: ClusterState, deployment_id: str) -> None:
    deployment = state.ml.deployments.pop(deployment_id, None)
    if deployment is not None and deployment.starter is not None and not deployment.starter.done():
        deployment.starter.cancel()


def update_deployment(state: ClusterState, deployment_id: str, number_of_allocations: int) -> Deployment:
    require_ml_license(state)
    if number_of_allocations < 1:
        raise action_request_validation_exception(["[number_of_allocations] must be a positive integer"])
    deployment = state.ml.deployments.get(deployment_id)
    if deployment is None:
        raise deployment_not_found(deployment_id)
    nodes = ml_nodes(state.config)
    per_node = [0] * max(1, len(nodes))
    for i in range(number_of_allocations):
        per_node[i % len(per_node)] += 1
    for routing, count in zip(deployment.routing, per_node, strict=False):
        routing.allocations = count
    known = {r.node_id for r in deployment.routing}
    for node, count in zip(nodes, per_node, strict=False):
        if count and node.node_id not in known:
            deployment.routing.append(NodeRouting(node.node_id, count, deployment.routing[0].routing_state))
    deployment.routing = [r for r in deployment.routing if r.allocations]
    deployment.number_of_allocations = number_of_allocations
    return deployment


def delete_model(state: ClusterState, model_id: str, force: bool, referenced: set[str]) -> None:
    if model_id == LANG_IDENT_ID:
        raise status_exception(f"Unable to delete model [{model_id}]")
    model = state.ml.models.get(model_id)
    if model is None:
        raise model_not_found(model_id)
    deployments = deployments_of(state, model_id)
    if not force and {model_id, *(d.deployment_id for d in deployments)} & referenced:
        raise conflict(
            f"Cannot delete model [{model_id}] as it is still referenced by ingest processors; "
            "use force to delete the model"
        )
    if deployments and not force:
        raise conflict(f"Cannot delete model [{model_id}] as it is currently deployed; use force to delete the model")
    for deployment in deployments:
        remove_deployment(state, deployment.deployment_id)
    if model.download is not None and not model.download.done():
        model.download.cancel()
    del state.ml.models[model_id]


def stats_targets(state: ClusterState, expression: str | None, allow_no_match: bool) -> list[TrainedModel]:
    """Model ids and deployment ids both select models for `_stats`."""
    names = []
    for part in [p.strip() for p in (expression or "_all").split(",") if p.strip()]:
        deployment = state.ml.deployments.get(part)
        names.append(deployment.model_id if deployment is not None and part not in state.ml.models else part)
    return match_models(state, ",".join(names), allow_no_match)


def model_stats(state: ClusterState, model: TrainedModel, pipeline_count: int) -> list[dict[str, Any]]:
    deployments = deployments_of(state, model.model_id)
    native_memory = ELSER_NATIVE_MEMORY if model.deployable else 0
    inference_count = sum(r.inference_count for d in deployments for r in d.routing)
    base = {
        "model_id": model.model_id,
        "model_size_stats": {"model_size_bytes": model.model_bytes, "required_native_memory_bytes": native_memory},
        "pipeline_count": pipeline_count,
        "inference_stats": {
            "failure_count": 0,
            "inference_count": inference_count,
            "cache_miss_count": 0,
            "missing_all_fields_count": 0,
            "timestamp": now_millis(),
        },
    }
    if not deployments:
        return [base]
    return [{**base, "deployment_stats": deployment_stats(state, d)} for d in deployments]


def deployment_stats(state: ClusterState, deployment: Deployment) -> dict[str, Any]:
    allocated = sum(r.allocations for r in deployment.routing if r.routing_state == "started")
    target = deployment.number_of_allocations
    stats: dict[str, Any] = {
        "deployment_id": deployment.deployment_id,
        "model_id": deployment.model_id,
        "threads_per_allocation": deployment.threads_per_allocation,
        "number_of_allocations": deployment.number_of_allocations,
        "queue_capacity": deployment.queue_capacity,
    }
    total = sum(r.inference_count for r in deployment.routing)
    if total > 0:
        stats["inference_count"] = total
    stats["state"] = deployment.state
    stats["allocation_status"] = {
        "allocation_count": allocated,
        "target_allocation_count": target,
        "state": allocation_state(allocated, target),
    }
    stats["cache_size"] = (
        human_bytes(parse_byte_size(deployment.cache_size))
        if deployment.cache_size
        else human_bytes(deployment.model_bytes)
    )
    stats["priority"] = deployment.priority
    stats["start_time"] = deployment.start_time
    stats["peak_throughput_per_minute"] = 0
    nodes = {node.node_id: node for node in ml_nodes(state.config)}
    stats["nodes"] = [node_stats(state, deployment, r, nodes.get(r.node_id)) for r in deployment.routing]
    return stats


def allocation_state(allocated: int, target: int) -> str:
    if allocated == 0:
        return "starting"
    return "fully_allocated" if allocated >= target else "started"


def node_stats(
    state: ClusterState, deployment: Deployment, routing: NodeRouting, node: NodeView | None
) -> dict[str, Any]:
    name = node.name if node is not None else routing.node_id
    entry: dict[str, Any] = {
        "node": {
            routing.node_id: {
                "name": name,
                "ephemeral_id": stable_id("ephemeral:" + name),
                "transport_address": node.transport_address if node is not None else "127.0.0.1:9300",
                "external_id": name,
                "attributes": {"ml.allocated_processors": str(node.processors if node is not None else 4)},
                "roles": list(node.roles) if node is not None else ["ml"],
                "version": state.config.version,
            }
        },
        "routing_state": {"routing_state": routing.routing_state},
        "inference_count": routing.inference_count,
    }
    if routing.inference_count > 0:
        average = routing.total_inference_ms / routing.inference_count
        entry["average_inference_time_ms"] = average
        entry["average_inference_time_ms_excluding_cache_hits"] = average
    entry["inference_cache_hit_count"] = 0
    if routing.last_access is not None:
        entry["last_access"] = routing.last_access
    entry.update(
        {
            "number_of_pending_requests": 0,
            "start_time": routing.start_time,
            "threads_per_allocation": deployment.threads_per_allocation,
            "number_of_allocations": routing.allocations,
            "peak_throughput_per_minute": routing.inference_count,
            "throughput_last_minute": routing.inference_count,
            "inference_cache_hit_count_last_minute": 0,
        }
    )
    return entry


_BYTE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}


_BYTE_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb|k|m|g|t|p)?$")


def parse_byte_size(text: str, setting: str = "cache_size") -> int:
    match = _BYTE_SIZE.match(text.strip().lower())
    if match is None or (match.group(2) is None and match.group(1) not in ("0", "-1")):
        raise parse_exception(
            f"failed to parse setting [{setting}] with value [{text}] as a size in bytes: "
            "unit is missing or unrecognized"
        )
    unit = match.group(2) or "b"
    unit = unit if unit.endswith("b") else unit + "b"
    return int(float(match.group(1)) * _BYTE_UNITS[unit])


def human_bytes(size: int) -> str:
    """ByteSizeValue.toString: the largest unit with a value of at least one, one decimal, `.0` dropped."""
    for unit in ("pb", "tb", "gb", "mb", "kb"):
        value = size / _BYTE_UNITS[unit]
        if value >= 1:
            text = f"{value:.1f}"
            return (text[:-2] if text.endswith(".0") else text) + unit
    return f"{size}b"


def cancel_tasks(state: ClusterState) -> list[asyncio.Task[None]]:
    tasks = state.background_tasks()
    for task in tasks:
        with contextlib.suppress(Exception):
            task.cancel()
    return tasks
