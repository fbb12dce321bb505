"""The contract every inference service plugin fulfils.

A plugin parses request settings strictly (ES's exact messages), parses stored documents leniently,
and runs inference. Optional hooks: `prepare` (probe the provider at PUT time), `start` and `stop`
(deploy and undeploy, e.g. ELSER on ML nodes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from elasticsearch import AsyncElasticsearch

from sidecar.domain.errors import status_exception
from sidecar.domain.model import Dialect, Model, ModelConfig
from sidecar.domain.results import Embedding
from sidecar.domain.task_type import TaskType
from sidecar.http.client import HttpClient
from sidecar.security.egress import EgressPolicy
from sidecar.settings import Settings


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    http: HttpClient
    es: AsyncElasticsearch
    egress: EgressPolicy


class InferenceService(ABC):
    name: ClassVar[str]
    task_types: ClassVar[frozenset[TaskType]]
    # Inputs per provider call; the engine splits larger lists.
    default_batch_limit: ClassVar[int] = 2048
    # Provider calls per minute across all replicas, unless `service_settings.rate_limit` says otherwise;
    # None: unlimited.
    default_requests_per_minute: ClassVar[int | None] = None

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @property
    def dialect(self) -> Dialect:
        """The ES version whose request and response shapes the sidecar speaks (`SIDECAR_API_COMPAT`)."""
        return self.context.settings.api_compat

    def check_task_type(self, task_type: TaskType) -> None:
        if task_type not in self.task_types:
            raise status_exception(f"The [{self.name}] service does not support task type [{task_type.value}]")

    @abstractmethod
    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        """Strict: every key must be understood; secrets go to `Model.secrets`. Raises ElasticsearchError."""

    def parse_stored(self, config: ModelConfig, secrets: dict[str, Any]) -> Model:
        """Lenient: stored documents were validated when written."""
        return Model(config, secrets)

    async def prepare(self, model: Model) -> Model:
        """Called before the model is stored; may complete settings from a probe call."""
        return model

    async def start(self, model: Model) -> None:
        """Called after the model is stored; a failure removes the stored model again."""

    async def stop(self, model: Model) -> None:
        """Called before the model's documents are deleted."""

    def public_config(self, config: ModelConfig) -> ModelConfig:
        """A stored configuration as the current dialect shows it (one stored under the other dialect may differ)."""
        return config

    def with_task_settings(self, model: Model, task_settings: dict[str, Any]) -> Model:
        """The model as one inference request sees it, with that request's `task_settings` applied.

        ES 8.12 services without task settings ignore them.
        """
        return model

    def batch_limit(self, model: Model) -> int:
        return self.default_batch_limit

    @abstractmethod
    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        """One result per input, in input order. Provider failures raise ProviderError or ElasticsearchError."""
