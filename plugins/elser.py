"""ELSER on the cluster's ML nodes: the model is deployed through the trained-models API with the
inference id as its deployment id, so the cluster's own `inference` processors can use it too."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, ClassVar

from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, TransportError
from pydantic import BaseModel, ConfigDict

from sidecar.domain.errors import ElasticsearchError, cluster_unavailable
from sidecar.domain.model import Dialect, Model, ModelConfig
from sidecar.domain.results import Embedding, SparseEmbedding
from sidecar.domain.service import InferenceService
from sidecar.domain.settings_map import (
    SERVICE_SETTINGS,
    Validation,
    extract_required_positive_int,
    remove_as_type,
    remove_map_or_throw,
    remove_optional_map,
    throw_if_not_empty,
)
from sidecar.domain.task_type import TaskType
from sidecar.engine.timing import format_time_value
from sidecar.es.errors import error_type, translate

ELSER_V1 = ".elser_model_1"
ELSER_V2 = ".elser_model_2"
ELSER_V2_LINUX = ".elser_model_2_linux-x86_64"
VALID_MODEL_VERSIONS = (ELSER_V1, ELSER_V2, ELSER_V2_LINUX)
INPUT_FIELD = "text_field"
# ES 8.12 `ElserMlNodeService.infer` sends a fixed 10 s (`// TODO get timeout from request`); 8.13+ pass the
# inference request's own timeout, which the sidecar's engine keeps to itself (it bounds the whole request).
INFER_TIMEOUT_SECONDS = 10.0
# The client waits this much longer than `_infer` is told to, so that ML's own 408 arrives before the client gives up.
INFER_CLIENT_MARGIN_SECONDS = 5.0
_DOWNLOAD_POLL_SECONDS = 0.2
# The variant key of `service_settings`: 8.12 `model_version`; 8.13+ `model_id` (ES `ElserInternalServiceSettings`,
# whose `parsePersistedConfig` still reads an old `model_version`). A stored document keeps the key of the dialect
# that created it; reading accepts either.
VERSION_KEYS: dict[Dialect, str] = {"8.12": "model_version", "8.15": "model_id"}


class ElserServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    num_allocations: int
    num_threads: int
    model_version: str | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any], dialect: Dialect = "8.12") -> ElserServiceSettings:
        """8.12 `ElserMlNodeServiceSettings.fromMap`; 8.15 `ElserInternalServiceSettings.fromMap` (same checks)."""
        validation = Validation()
        allocations = extract_required_positive_int(settings, "num_allocations", SERVICE_SETTINGS, validation)
        threads = extract_required_positive_int(settings, "num_threads", SERVICE_SETTINGS, validation)
        key = VERSION_KEYS[dialect]
        version = remove_as_type(settings, key, str)
        if version is not None and version not in VALID_MODEL_VERSIONS:
            noun = "version" if dialect == "8.12" else "id"
            validation.add(f"unknown ELSER model {noun} [{version}]")
        validation.raise_if_any()
        assert allocations is not None and threads is not None
        return cls(num_allocations=allocations, num_threads=threads, model_version=version)

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> ElserServiceSettings:
        version = settings.get("model_version", settings.get("model_id"))
        return cls(
            num_allocations=int(settings["num_allocations"]),
            num_threads=int(settings["num_threads"]),
            model_version=version,
        )

    def to_public(self, dialect: Dialect = "8.12") -> dict[str, Any]:
        public: dict[str, Any] = {"num_allocations": self.num_allocations, "num_threads": self.num_threads}
        if self.model_version is not None:
            public[VERSION_KEYS[dialect]] = self.model_version
        return public


def platform_name(os_name: str, os_arch: str) -> str:
    """ES `Platforms.platformName`."""
    name = os_name.lower()
    if name.startswith("windows"):
        name = "windows"
    elif name == "mac os x":
        name = "darwin"
    arch = os_arch.lower()
    arch = {"amd64": "x86_64", "i386": "x86"}.get(arch, arch)
    return f"{name}-{arch}"


def choose_variant(platforms: set[str]) -> str:
    return ELSER_V2_LINUX if platforms == {"linux-x86_64"} else ELSER_V2


class ElserService(InferenceService):
    name: ClassVar[str] = "elser"
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.SPARSE_EMBEDDING})

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        service_map = remove_map_or_throw(config, "service_settings")
        settings = ElserServiceSettings.from_request(service_map, self.dialect)
        task_map = remove_optional_map(config, "task_settings")
        self.check_task_type(task_type)
        for leftover in (config, service_map, task_map):
            throw_if_not_empty(leftover, self.name)
        return self._model(model_id, task_type, settings)

    def parse_stored(self, config: ModelConfig, secrets: dict[str, Any]) -> Model:
        """Either dialect's stored form, seen in this dialect's."""
        return self._model(config.model_id, config.task_type, ElserServiceSettings.from_stored(config.service_settings))

    def public_config(self, config: ModelConfig) -> ModelConfig:
        """A stored configuration of either dialect as this dialect shows it."""
        return self.parse_stored(config, {}).config

    async def prepare(self, model: Model) -> Model:
        settings = ElserServiceSettings.from_stored(model.config.service_settings)
        if settings.model_version is not None:
            return model
        version = choose_variant(await self._ml_platforms())
        return self._model(model.model_id, model.task_type, settings.model_copy(update={"model_version": version}))

    def _model(self, model_id: str, task_type: TaskType, settings: ElserServiceSettings) -> Model:
        return Model(ModelConfig(model_id, task_type, self.name, settings.to_public(self.dialect), {}), {})

    async def start(self, model: Model) -> None:
        settings = ElserServiceSettings.from_stored(model.config.service_settings)
        variant = settings.model_version or ELSER_V2
        ml_timeout = self.context.settings.es_ml_timeout
        deadline = time.monotonic() + ml_timeout
        try:
            await self._download(variant)
            await self._wait_until_defined(variant, deadline)
            await self._ml_client(ml_timeout).ml.start_trained_model_deployment(
                model_id=variant,
                deployment_id=model.model_id,
                number_of_allocations=settings.num_allocations,
                threads_per_allocation=settings.num_threads,
                wait_for="started",
                timeout=f"{max(1, int(deadline - time.monotonic()) - 1)}s",
            )
        except (ApiError, TransportError) as exc:
            error = translate(exc)
            if error.status == 408:
                # The wait timed out but the deployment goes on starting: take it down with the failed PUT.
                with contextlib.suppress(ElasticsearchError):
                    await self.stop(model)
            raise error from None

    async def stop(self, model: Model) -> None:
        try:
            # As ES's own ELSER service: force, so that ingest pipelines using the deployment do not block it.
            await self._ml_client(self.context.settings.es_ml_timeout).ml.stop_trained_model_deployment(
                model_id=model.model_id, force=True
            )
        except (ApiError, TransportError) as exc:
            raise translate(exc) from None

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        # The client must outwait `_infer`: with the same 10 s (the client's default) the client gives up at the
        # moment ML answers its 408, and the caller would see a 503 instead of ML's answer.
        request_timeout = max(
            self.context.settings.es_request_timeout, INFER_TIMEOUT_SECONDS + INFER_CLIENT_MARGIN_SECONDS
        )
        try:
            response = await self.context.es.options(request_timeout=request_timeout).ml.infer_trained_model(
                model_id=model.model_id,
                docs=[{INPUT_FIELD: text} for text in inputs],
                timeout=format_time_value(INFER_TIMEOUT_SECONDS),
            )
        except (ApiError, TransportError) as exc:
            raise translate(exc) from None
        results = response["inference_results"]
        if len(results) != len(inputs):
            raise ElasticsearchError(500, "status_exception", "ELSER returned a different number of results")
        return [
            SparseEmbedding(dict(result.get("predicted_value", {})), bool(result.get("is_truncated", False)))
            for result in results
        ]

    def _ml_client(self, request_timeout: float) -> AsyncElasticsearch:
        # 429 (no ML capacity) must not be retried by the client: one attempt, a long wait.
        return self.context.es.options(request_timeout=request_timeout, max_retries=0)

    async def _ml_platforms(self) -> set[str]:
        try:
            response = await self.context.es.nodes.info(node_id="ml:true", metric="os")
        except TransportError:
            raise cluster_unavailable("cannot read the ML nodes") from None
        except ApiError as exc:
            raise translate(exc) from None
        platforms = set()
        for node in response["nodes"].values():
            if "ml" in node.get("roles", []) and "os" in node:
                platforms.add(platform_name(node["os"].get("name", ""), node["os"].get("arch", "")))
        return platforms

    async def _download(self, variant: str) -> None:
        try:
            await self.context.es.ml.put_trained_model(model_id=variant, input={"field_names": [INPUT_FIELD]})
        except BadRequestError as exc:
            if error_type(exc.body) != "resource_already_exists_exception":
                raise

    async def _wait_until_defined(self, variant: str, deadline: float) -> None:
        while True:
            response = await self.context.es.ml.get_trained_models(model_id=variant, include="definition_status")
            configs = response["trained_model_configs"]
            if configs and configs[0].get("fully_defined"):
                return
            if time.monotonic() >= deadline:
                raise ElasticsearchError(
                    408,
                    "status_exception",
                    f"Timed out waiting for trained model [{variant}] to be downloaded. "
                    "Use the trained model API to track the download and try again once it has finished.",
                )
            await asyncio.sleep(_DOWNLOAD_POLL_SECONDS)
