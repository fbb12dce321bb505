"""The `_inference` endpoints: create, read, delete and run inference models.

Each is an `Endpoint`: `parse_*` does what ES's RestHandler does before the transport action is authorised
(task type, query parameters, and the body where ES parses it in the REST layer); the handler named after the
action does the rest, after the privilege check.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from sidecar.api.body import parse_json_object, required_body
from sidecar.api.endpoint import Endpoint
from sidecar.api.errors import json_response
from sidecar.api.inference_body import InferenceRequest, read_inference_request
from sidecar.api.keys import COMPONENTS, MODEL_ID, SERVICE_NAME
from sidecar.api.params import check_params, flag, parse_time_value
from sidecar.components import Components
from sidecar.domain.errors import ElasticsearchError, status_exception
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import results_body
from sidecar.domain.service import InferenceService
from sidecar.domain.task_type import TaskType
from sidecar.es.pipelines import pipelines_using
from sidecar.http import Request, Response
from sidecar.observability.logging import get_logger
from sidecar.security.credentials import credentials_of

log = get_logger("sidecar.inference")
ALL_IDS = ("_all", "*")


@dataclass(frozen=True)
class Target:
    task_type: TaskType | None  # None: any task type (the 8.13+ `/{id}` form, or `GET /_inference`)
    model_id: str


@dataclass(frozen=True)
class PutRequest:
    target: Target
    body: bytes  # parsed by the transport action, after the privilege check


@dataclass(frozen=True)
class DeleteRequest:
    target: Target
    dry_run: bool
    force: bool


@dataclass(frozen=True)
class InferRequest:
    target: Target
    timeout_seconds: float | None
    body: InferenceRequest


def _target(request: Request) -> Target:
    """Task type (`Unknown task_type [x]`) and id from `/{task_type}/{id}`, the 8.13+ `/{id}` form, or (GET) none."""
    task_type = request.match_info.get("task_type")
    model_id = request.match_info.get("model_id", ALL_IDS[0])
    if request.method != "GET" or model_id not in ALL_IDS:  # a listing names no model in the request log
        request[MODEL_ID] = model_id
    return Target(TaskType.parse(task_type) if task_type is not None else None, model_id)


def _resolve_task_type(url_task_type: TaskType | None, body_task_type: Any) -> TaskType:
    """ES ServiceUtils.resolveTaskType, for the 8.13+ `task_type` in the PUT body."""
    if body_task_type is None:
        if url_task_type is None:
            raise status_exception("model is missing required setting [task_type]")
        return url_task_type
    if str(body_task_type).strip().lower() == "any":
        raise status_exception(f"task_type [{body_task_type}] is not valid type for inference")
    parsed = TaskType.parse(str(body_task_type))
    if url_task_type is not None and url_task_type != parsed:
        raise status_exception(
            "Cannot resolve conflicting task_type parameter in the request URL "
            f"[{url_task_type.value}] and the request body [{parsed.value}]"
        )
    return parsed


async def parse_put(request: Request) -> PutRequest:
    target = _target(request)
    body = required_body(request)
    check_params(request)
    return PutRequest(target, body)


async def put_model(request: Request, put: PutRequest) -> Response:
    components = request.app[COMPONENTS]
    body = parse_json_object(put.body)
    task_type = _resolve_task_type(put.target.task_type, body.pop("task_type", None))
    service_name = body.pop("service", None)
    if service_name is None:
        raise status_exception("Model configuration is missing a service")
    service = components.services.get(str(service_name))
    if service is None:
        raise status_exception(f"Unknown service [{service_name}]")
    request[SERVICE_NAME] = service.name
    model = service.parse_request(put.target.model_id, task_type, body)
    created = await asyncio.shield(_create(components, service, model))
    return json_response(request, created.config.to_response(components.settings.api_compat))


async def _create(components: Components, service: InferenceService, model: Model) -> Model:
    """Claim the id, probe and start, then make the definition visible; undo everything on failure.

    Shielded from the caller's disconnect so that a half-done creation is always cleaned up.
    """
    leftover = await components.store.claim(model.config)
    started = False
    try:
        if leftover is not None:
            await _stop_leftover(components, leftover)
        model = await service.prepare(model)
        await components.store.mark_starting(model.config)
        await service.start(model)
        started = True
        await components.store.commit(model.config, model.secrets)
    except BaseException:
        await _undo_create(components, service, model, started)
        raise
    components.engine.forget(model.model_id)
    components.models.invalidate(model.model_id)
    log.info("model created", model_id=model.model_id, service=service.name, task_type=model.task_type.value)
    return model


async def _stop_leftover(components: Components, config: ModelConfig) -> None:
    """A PUT of this id crashed after it began to start its service: stop what it may have left running."""
    try:
        await components.service_for(config).stop(Model(config))
    except ElasticsearchError as error:
        if error.status != 404:  # 404: nothing was left running
            log.warning("could not stop what a crashed create left", model_id=config.model_id, status=error.status)
        return
    log.info("stopped what a crashed create left behind", model_id=config.model_id, service=config.service)


async def _undo_create(components: Components, service: InferenceService, model: Model, started: bool) -> None:
    try:
        if started:
            await service.stop(model)
        await components.store.remove(model.model_id)
    except Exception as exc:  # the original failure is what the caller must see
        log.warning("cleanup after a failed create did not finish", model_id=model.model_id, error=type(exc).__name__)


async def parse_get(request: Request) -> Target:
    target = _target(request)
    check_params(request)
    return target


async def get_models(request: Request, target: Target) -> Response:
    components = request.app[COMPONENTS]
    if target.model_id in ALL_IDS:
        stored = await components.store.list_configs(target.task_type)
        # ES parses each with its service: one that is not loaded fails the listing.
        configs = [components.service_for(config, "get").public_config(config) for config in stored]
    else:
        config = await components.store.get_config(target.model_id)
        service = components.service_for(config, "get")  # before the task type check, as in ES
        if target.task_type is not None and config.task_type != target.task_type:
            raise components.messages.task_type_mismatch(target.task_type, config.task_type)
        configs = [service.public_config(config)]
    dialect = components.settings.api_compat
    key = "models" if dialect == "8.12" else "endpoints"
    return json_response(request, {key: [config.to_response(dialect) for config in configs]})


async def parse_delete(request: Request) -> DeleteRequest:
    target = _target(request)
    if request.app[COMPONENTS].settings.api_compat != "8.15":  # both flags are 8.15 parameters
        check_params(request)
        return DeleteRequest(target, dry_run=False, force=False)
    force, dry_run = flag(request, "force"), flag(request, "dry_run")
    check_params(request, frozenset({"dry_run", "force"}))
    return DeleteRequest(target, dry_run=dry_run, force=force)


async def delete_model(request: Request, delete: DeleteRequest) -> Response:
    """ES's order: find, compare task types, (8.15) check pipelines and answer a dry run, find the service, stop it,
    delete the documents. Like ES, it reads the configuration only, so that a model whose secrets are lost can still
    be removed; one whose service is not loaded cannot (404), and stays stored."""
    components = request.app[COMPONENTS]
    dialect = components.settings.api_compat
    task_type, model_id = delete.target.task_type, delete.target.model_id
    config = await components.store.get_config(model_id)
    request[SERVICE_NAME] = config.service
    if task_type is not None and config.task_type != task_type:
        raise components.messages.task_type_mismatch(task_type, config.task_type)
    if dialect == "8.15" and (delete.dry_run or not delete.force):
        credentials = credentials_of(request)
        header = None if credentials is None else credentials.header
        pipelines = await pipelines_using(components.es, header, model_id)
        if delete.dry_run:
            return json_response(request, {"acknowledged": False, "pipelines": pipelines})
        if pipelines:
            raise components.messages.referenced_by_pipelines(model_id)
    service = components.service_for(config, "delete")
    await asyncio.shield(_delete(components, service, Model(config)))
    body: dict[str, Any] = {"acknowledged": True}
    if dialect == "8.15":
        body["pipelines"] = []
    return json_response(request, body)


async def _delete(components: Components, service: InferenceService, model: Model) -> None:
    try:
        await service.stop(model)
    except Exception as exc:
        log.warning("stopping the model failed", model_id=model.model_id, error=type(exc).__name__)
        raise status_exception(f"Failed to stop model {model.model_id}", 500) from None
    await components.store.remove(model.model_id)
    components.models.invalidate(model.model_id)
    components.engine.forget(model.model_id)
    log.info("model deleted", model_id=model.model_id, service=service.name)


async def parse_infer(request: Request) -> InferRequest:
    target = _target(request)
    body = read_inference_request(request)
    timeout = request.query.get("timeout")
    timeout_seconds = parse_time_value(timeout, "timeout") if timeout is not None else None
    if timeout_seconds is not None and timeout_seconds < 0:
        timeout_seconds = math.inf
    check_params(request, frozenset({"timeout"}))
    body.validate()
    return InferRequest(target, timeout_seconds, body)


async def infer(request: Request, call: InferRequest) -> Response:
    components = request.app[COMPONENTS]
    task_type = call.target.task_type
    model = await components.models.get(call.target.model_id)
    if task_type is not None and model.task_type != task_type:
        raise components.messages.inference_task_type_mismatch(task_type, model.task_type)
    service = components.service_for(model.config)
    request[SERVICE_NAME] = service.name
    model = service.with_task_settings(model, call.body.task_settings)
    results = await components.engine.infer(service, model, call.body.inputs, timeout=call.timeout_seconds)
    return json_response(request, results_body(model.task_type, results))


PUT = Endpoint(parse_put, put_model)
GET = Endpoint(parse_get, get_models)
DELETE = Endpoint(parse_delete, delete_model)
INFER = Endpoint(parse_infer, infer)
