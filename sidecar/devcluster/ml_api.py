"""REST routes of the ML trained-models API (es-wire.md §D)."""

from __future__ import annotations

from typing import Any

from sidecar.devcluster import ml_deployments, ml_inference, ml_models
from sidecar.devcluster.errors import body_not_supported, illegal_argument, unknown_field, unrecognized_parameters
from sidecar.devcluster.ingest import pipeline_count, referenced_model_ids
from sidecar.devcluster.mapping import value_location
from sidecar.devcluster.routing import Route, route
from sidecar.devcluster.transport import EsRequest, EsResponse, parse_int, parse_time
from sidecar.domain.errors import action_request_validation_exception

PUT_MODEL = "cluster:admin/xpack/ml/inference/put"
GET_MODELS = "cluster:monitor/xpack/ml/inference/get"
GET_STATS = "cluster:monitor/xpack/ml/inference/stats/get"
DELETE_MODEL = "cluster:admin/xpack/ml/inference/delete"
START = "cluster:admin/xpack/ml/trained_models/deployment/start"
STOP = "cluster:admin/xpack/ml/trained_models/deployment/stop"
UPDATE = "cluster:admin/xpack/ml/trained_models/deployment/update"
INFER = "cluster:monitor/xpack/ml/inference/infer"
INCLUDE_OPTIONS = (
    "definition",
    "feature_importance_baseline",
    "hyperparameters",
    "total_feature_importance",
    "definition_status",
)
DEPRECATED_INFER = (
    "[POST /_ml/trained_models/{model_id}/deployment/_infer] is deprecated! "
    "Use [POST /_ml/trained_models/{model_id}/_infer] instead."
)


def _check_fields(req: EsRequest, body: dict[str, Any], allowed: frozenset[str], parser: str) -> None:
    for key in body:
        if key not in allowed:
            raise unknown_field(value_location(req.body.decode(errors="replace"), [key]), parser, key)


async def put_model(req: EsRequest) -> EsResponse:
    body = req.json_object()
    _check_fields(req, body, ml_models.PUT_FIELDS, "trained_model_config")
    req.flag("defer_definition_decompression")
    model = ml_models.put_model(req.state, req.path_params["model_id"], body)
    if req.flag("wait_for_completion"):
        await ml_models.wait_for_download(model)
    return EsResponse(body=ml_models.render_config(model, include_definition_status=False))


async def get_models(req: EsRequest) -> EsResponse:
    include = req.list_param("include")
    for option in include:
        if option not in INCLUDE_OPTIONS:
            raise illegal_argument(f"unknown include [{option}]; must be one of [{', '.join(INCLUDE_OPTIONS)}]")
    models = ml_models.match_models(req.state, req.path_params.get("model_id"), req.flag("allow_no_match", True))
    tags = set(req.list_param("tags"))
    if tags:
        models = [m for m in models if tags <= set(m.config.get("tags", []))]
    page = models[req.int_param("from", 0) : req.int_param("from", 0) + req.int_param("size", 100)]
    return EsResponse(
        body={
            "count": len(models),
            "trained_model_configs": [ml_models.render_config(m, "definition_status" in include) for m in page],
        }
    )


async def get_stats(req: EsRequest) -> EsResponse:
    models = ml_deployments.stats_targets(req.state, req.path_params.get("model_id"), req.flag("allow_no_match", True))
    page = models[req.int_param("from", 0) : req.int_param("from", 0) + req.int_param("size", 100)]
    entries = [
        entry for m in page for entry in ml_deployments.model_stats(req.state, m, pipeline_count(req.state, m.model_id))
    ]
    return EsResponse(body={"count": len(models), "trained_model_stats": entries})


def _start_request(req: EsRequest) -> ml_deployments.StartRequest:
    model_id = req.path_params["model_id"]
    if not req.state.config.at_least(8, 15) and req.body.strip():
        raise body_not_supported(req.http.method, req.path)
    body = req.json_object(required=False)

    def value(name: str) -> str | None:
        given = req.param(name)
        return given if given is not None else (None if name not in body else str(body[name]))

    def integer(name: str, default: int) -> int:
        text = value(name)
        return default if text is None else _int(name, text)

    timeout_text = value("timeout") or ("20s" if not req.state.config.at_least(8, 13) else "30s")
    wait_for = value("wait_for") or "started"
    if wait_for not in ("starting", "started", "fully_allocated"):
        raise illegal_argument(f"[wait_for] must be one of [starting, started, fully_allocated]; got [{wait_for}]")
    priority = value("priority") or "normal"
    if priority not in ("normal", "low"):
        raise illegal_argument(f"Invalid priority [{priority}]")
    cache_size = value("cache_size")
    if cache_size is not None:
        ml_deployments.parse_byte_size(cache_size)
    return ml_deployments.StartRequest(
        model_id=model_id,
        deployment_id=value("deployment_id") or model_id,
        number_of_allocations=integer("number_of_allocations", 1),
        threads_per_allocation=integer("threads_per_allocation", 1),
        queue_capacity=integer("queue_capacity", 1024),
        priority=priority,
        cache_size=cache_size,
        wait_for=wait_for,
        timeout=parse_time("timeout", timeout_text),
        timeout_text=timeout_text,
    )


def _int(name: str, text: str) -> int:
    return parse_int(name, text)


async def start(req: EsRequest) -> EsResponse:
    deployment = await ml_deployments.start_deployment(req.state, _start_request(req))
    return EsResponse(body=ml_deployments.assignment_body(deployment))


async def stop(req: EsRequest) -> EsResponse:
    body = req.json_object(required=False)
    _check_fields(req, body, frozenset({"allow_no_match", "force", "id"}), "stop_trained_model_deployment_request")
    allow_no_match = req.flag("allow_no_match", bool(body.get("allow_no_match", True)))
    force = req.flag("force", bool(body.get("force", False)))
    ml_deployments.stop_deployments(
        req.state, req.path_params["model_id"], allow_no_match, force, referenced_model_ids(req.state)
    )
    return EsResponse(body={"stopped": True})


async def update(req: EsRequest) -> EsResponse:
    modern = req.state.config.at_least(8, 15)
    if not modern and req.param("number_of_allocations") is not None:
        raise unrecognized_parameters(req.path, ["number_of_allocations"], set())
    body = req.json_object(required=not modern or req.param("number_of_allocations") is None)
    allowed = frozenset({"number_of_allocations", "adaptive_allocations"} if modern else {"number_of_allocations"})
    _check_fields(req, body, allowed, "update_trained_model_deployment_request")
    if req.param("number_of_allocations") is not None:
        allocations = req.int_param("number_of_allocations", 1)
    elif "number_of_allocations" in body:
        allocations = int(body["number_of_allocations"])
    else:
        raise action_request_validation_exception(["[number_of_allocations] must be a positive integer"])
    deployment = ml_deployments.update_deployment(req.state, req.path_params["model_id"], allocations)
    return EsResponse(body=ml_deployments.assignment_body(deployment))


async def infer(req: EsRequest) -> EsResponse:
    body = req.json_object()
    _check_fields(req, body, frozenset({"docs", "inference_config"}), "infer_trained_model_request")
    docs = body.get("docs")
    if not isinstance(docs, list) or not docs:
        raise action_request_validation_exception(["at least one document is required"])
    req.time_param("timeout", 10.0)
    overrides = (body.get("inference_config") or {}).get("text_expansion") or {}
    results = ml_inference.infer(req.state, req.path_params["model_id"], docs, overrides.get("results_field"))
    if req.route.path.endswith("/deployment/_infer"):
        req.warn(DEPRECATED_INFER)
    return EsResponse(body={"inference_results": results})


async def delete_model(req: EsRequest) -> EsResponse:
    ml_deployments.delete_model(
        req.state, req.path_params["model_id"], req.flag("force"), referenced_model_ids(req.state)
    )
    return EsResponse(body={"acknowledged": True})


def routes() -> list[Route]:
    base = "/_ml/trained_models"
    start_params = (
        "cache_size",
        "deployment_id",
        "number_of_allocations",
        "threads_per_allocation",
        "priority",
        "queue_capacity",
        "timeout",
        "wait_for",
    )
    get_params = (
        "allow_no_match",
        "include",
        "include_model_definition",
        "decompress_definition",
        "from",
        "size",
        "tags",
        "exclude_generated",
    )
    return [
        route(
            "PUT",
            f"{base}/{{model_id}}",
            put_model,
            PUT_MODEL,
            ("defer_definition_decompression", "wait_for_completion"),
        ),
        route("GET", base, get_models, GET_MODELS, get_params, body=False),
        route("GET", f"{base}/{{model_id}}", get_models, GET_MODELS, get_params, body=False),
        route("GET", f"{base}/_stats", get_stats, GET_STATS, ("allow_no_match", "from", "size"), body=False),
        route(
            "GET", f"{base}/{{model_id}}/_stats", get_stats, GET_STATS, ("allow_no_match", "from", "size"), body=False
        ),
        route("POST", f"{base}/{{model_id}}/deployment/_start", start, START, start_params),
        route("POST", f"{base}/{{model_id}}/deployment/_stop", stop, STOP, ("allow_no_match", "force")),
        route("POST", f"{base}/{{model_id}}/deployment/_update", update, UPDATE, ("number_of_allocations",)),
        route("POST", f"{base}/{{model_id}}/_infer", infer, INFER, ("timeout",)),
        route("POST", f"{base}/{{model_id}}/deployment/_infer", infer, INFER, ("timeout",)),
        route("DELETE", f"{base}/{{model_id}}", delete_model, DELETE_MODEL, ("timeout", "force"), body=False),
    ]
