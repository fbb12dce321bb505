"""Everything a request handler may use, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch

from sidecar.domain.errors import ElasticsearchError, status_exception
from sidecar.domain.messages import Messages
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.service import InferenceService
from sidecar.engine.engine import InferenceEngine
from sidecar.engine.replicas import EsReplicaCounter
from sidecar.http.client import HttpClient
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
    http: HttpClient
    names: IndexNames
    store: ModelStore
    models: ModelCache
    authorizer: Authorizer
    services: dict[str, InferenceService]
    engine: InferenceEngine
    replicas: EsReplicaCounter
    readiness: Readiness
    messages: Messages

    def service_for(self, config: ModelConfig, action: str = "infer") -> InferenceService:
        """The service of a stored model; none loaded is the error ES's transport action for `action` answers."""
        service = self.services.get(config.service)
        if service is None:
            raise self._no_service(config, action)
        return service

    def _no_service(self, config: ModelConfig, action: str) -> ElasticsearchError:
        if action == "delete":  # TransportDeleteInferenceModelAction: 404, and the documents stay
            return status_exception(f"No service found for model {config.model_id}", 404)
        # TransportInferenceAction and TransportGetInferenceModelAction; the trailing space is ES's.
        noun = "inference endpoint" if action == "get" and self.settings.api_compat == "8.15" else "model"
        return status_exception(f"Unknown service [{config.service}] for {noun} [{config.model_id}]. ", 500)

    async def load_model(self, model_id: str) -> Model:
        """A stored model with its decrypted secrets; the loader behind the inference-path cache."""
        config, secrets = await self.store.get_with_secrets(model_id)
        return self.service_for(config).parse_stored(config, secrets)
