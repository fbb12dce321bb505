"""Everything a request handler may use, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from elasticsearch import AsyncElasticsearch

from sidecar.domain.errors import status_exception
from sidecar.domain.messages import Messages
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.service import InferenceService
from sidecar.engine.engine import InferenceEngine
from sidecar.engine.replicas import EsReplicaCounter
from sidecar.observability.metrics import Metrics
from sidecar.readiness import Readiness
from sidecar.registry.cache import ModelCache
from sidecar.registry.indices import IndexNames
from sidecar.registry.store import ModelStore
from sidecar.security.privileges import Authorizer
from sidecar.settings import Settings


@dataclass
class Components:
    settings: Settings
    metrics: Metrics
    es: AsyncElasticsearch
    http: aiohttp.ClientSession
    names: IndexNames
    store: ModelStore
    models: ModelCache
    authorizer: Authorizer
    services: dict[str, InferenceService]
    engine: InferenceEngine
    replicas: EsReplicaCounter
    readiness: Readiness
    messages: Messages

    def service_for(self, config: ModelConfig) -> InferenceService:
        service = self.services.get(config.service)
        if service is None:
            raise status_exception(f"Unknown service [{config.service}] for model [{config.model_id}]. ", 500)
        return service

    async def load_model(self, model_id: str) -> Model:
        """A stored model with its decrypted secrets; the loader behind the inference-path cache."""
        config, secrets = await self.store.get_with_secrets(model_id)
        return self.service_for(config).parse_stored(config, secrets)
