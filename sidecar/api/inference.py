"""The `_inference` handlers: create, read, delete and run inference models."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aiohttp import web

from sidecar.api.body import read_json_object
from sidecar.api.errors import json_response
from sidecar.api.inference_body import read_inference_request
from sidecar.api.keys import COMPONENTS, MODEL_ID, SERVICE_NAME
from sidecar.api.params import check_params, flag, parse_time_value
from sidecar.components import Components
from sidecar.domain.errors import ElasticsearchError, status_exception
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import results_body
from sidecar.domain.service import InferenceService
from sidecar.domain.task_type import TaskType
from sidecar.es.pipelines import pipelines_using
from sidecar.observability.logging import get_logger
from sidecar.security.credentials import credentials_of

log = get_logger("sidecar.inference")
ALL_IDS = ("_all", "*")


def _target(request: web.Request) -> tuple[TaskType | None, str]:
    """(task type or None for "any", id) from `/{task_type}/{id}` or the 8.13+ `/{id}` form."""
    task_type = request.match_info.get("task_type")
    model_id = request.match_info["model_id"]
    request[MODEL_ID] = model_id
    return (TaskType.parse(task_type) if task_type is not None else None), model_id


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


async def put_model(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    check_params(request)
    url_task_type, model_id = _target(request)
    body = await read_json_object(request)
    task_type = _resolve_task_type(url_task_type, body.pop("task_type", None))
    service_name = body.pop("service", None)
    if service_name is None:
        raise status_exception("Model configuration is missing a service")
    service = components.services.get(str(service_name))
    if service is None:
        raise status_exception(f"Unknown service [{service_name}]")
    request[SERVICE_NAME] = service.name
    model = service.parse_request(model_id, task_type, body)
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


async def get_models(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    check_params(request)
    task_type_param = request.match_info.get("task_type")
    model_id = request.match_info.get("model_id", "_all")
    task_type = TaskType.parse(task_type_param) if task_type_param is not None else None
    if model_id in ALL_IDS:
        configs = await components.store.list_configs(task_type)
    else:
        request[MODEL_ID] = model_id
        config = await components.store.get_config(model_id)
        if task_type is not None and config.task_type != task_type:
            raise components.messages.task_type_mismatch(task_type, config.task_type)
        configs = [config]
    dialect = components.settings.api_compat
    key = "models" if dialect == "8.12" else "endpoints"
    return json_response(request, {key: [config.to_response(dialect) for config in configs]})


async def delete_model(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    dialect = components.settings.api_compat
    check_params(request, frozenset({"dry_run", "force"}) if dialect == "8.15" else frozenset())
    task_type, model_id = _target(request)
    # Like ES, DELETE reads the configuration only, so that a model whose secrets are lost can still be removed.
    config = await components.store.get_config(model_id)
    if task_type is not None and config.task_type != task_type:
        raise components.messages.task_type_mismatch(task_type, config.task_type)
    service = components.service_for(config)
    request[SERVICE_NAME] = service.name
    dry_run = flag(request, "dry_run")  # both flags are 8.15 parameters: check_params refuses them in 8.12
    if dialect == "8.15" and (dry_run or not flag(request, "force")):
        credentials = credentials_of(request)
        header = None if credentials is None else credentials.header
        pipelines = await pipelines_using(components.es, header, model_id)
        if dry_run:
            return json_response(request, {"acknowledged": False, "pipelines": pipelines})
        if pipelines:
            raise components.messages.referenced_by_pipelines(model_id)
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


async def infer(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    check_params(request, frozenset({"timeout"}))
    task_type, model_id = _target(request)
    timeout = request.query.get("timeout")
    timeout_seconds = parse_time_value(timeout, "timeout") if timeout is not None else None
    if timeout_seconds is not None and timeout_seconds < 0:
        timeout_seconds = math.inf
    body = await read_inference_request(request)
    model = await components.models.get(model_id)
    if task_type is not None and model.task_type != task_type:
        raise components.messages.inference_task_type_mismatch(task_type, model.task_type)
    service = components.service_for(model.config)
    request[SERVICE_NAME] = service.name
    model = service.with_task_settings(model, body.task_settings)
    results = await components.engine.infer(service, model, body.inputs, timeout=timeout_seconds)
    return json_response(request, results_body(model.task_type, results))
