"""The model store: configurations and encrypted secrets in the sidecar's hidden indices.

A PUT first claims the id with a create-only configuration document in state `creating`; that
claim decides which of two concurrent PUTs wins. Before the service starts anything outside the sidecar
(an ELSER deployment) the claim turns `starting`. Secrets are written next, and only then does the
configuration turn `ready`. Reads see `ready` documents only, so a definition is never half visible.
A claim left behind by a crash is taken over once it is older than the claim lease; when it was
`starting`, the taker is told, so that it can stop what the crashed PUT may have started.
"""

from __future__ import annotations

import time
from typing import Any

from elasticsearch import AsyncElasticsearch, ConflictError

from sidecar.domain.messages import Messages
from sidecar.domain.model import ModelConfig
from sidecar.domain.task_type import TaskType
from sidecar.es.errors import es_errors
from sidecar.registry.crypto import SecretBox, SecretsDecryptionError
from sidecar.registry.indices import IndexNames

READY = "ready"
CREATING = "creating"
STARTING = "starting"
MAX_LISTED = 10_000


def document_id(model_id: str) -> str:
    return f"model_{model_id}"


def config_from_document(source: dict[str, Any]) -> ModelConfig:
    return ModelConfig(
        model_id=source["model_id"],
        task_type=TaskType(source["task_type"]),
        service=source["service"],
        service_settings=dict(source.get("service_settings") or {}),
        task_settings=dict(source.get("task_settings") or {}),
    )


class ModelStore:
    def __init__(
        self, es: AsyncElasticsearch, names: IndexNames, box: SecretBox, messages: Messages, claim_lease: float
    ) -> None:
        self.es = es
        self.names = names
        self.box = box
        self.messages = messages
        self.claim_lease = claim_lease

    async def claim(self, config: ModelConfig) -> ModelConfig | None:
        """Reserve the id, create-only. Raises the ES "already exists" error when another definition holds it.

        Returns the configuration of a stale claim taken over on the way that had reached `starting`: what its PUT
        may have started is still running.
        """
        leftover = None
        for _ in range(2):
            async with es_errors():
                try:
                    await self._create_claim(config)
                    return leftover
                except ConflictError:
                    pass
            stale = await self._take_over_stale_claim(config.model_id)
            if stale is None:
                break
            if stale.get("state") == STARTING:
                leftover = config_from_document(stale)
        raise self.messages.already_exists(config.model_id)

    async def mark_starting(self, config: ModelConfig) -> None:
        """The claim's PUT is about to start something outside the sidecar; the lease starts again."""
        async with es_errors():
            await self.es.index(
                index=self.names.configs,
                id=document_id(config.model_id),
                document=self._config_document(config, STARTING),
                refresh=True,
            )

    async def commit(self, config: ModelConfig, secrets: dict[str, Any]) -> None:
        """Write the secrets, then make the configuration visible."""
        doc_id = document_id(config.model_id)
        async with es_errors():
            await self.es.index(
                index=self.names.secrets,
                id=doc_id,
                document={"model_id": config.model_id, **self.box.encrypt(config.model_id, secrets)},
                refresh=True,
            )
            await self.es.index(
                index=self.names.configs, id=doc_id, document=self._config_document(config, READY), refresh=True
            )

    async def remove(self, model_id: str) -> None:
        """Delete both documents, the configuration first so that the model disappears at once."""
        doc_id = document_id(model_id)
        async with es_errors():
            for index in (self.names.configs, self.names.secrets):
                await self.es.options(ignore_status=404).delete(index=index, id=doc_id, refresh=True)

    async def get_config(self, model_id: str) -> ModelConfig:
        source = await self._get_source(self.names.configs, model_id)
        if source is None or source.get("state") != READY:
            raise self.messages.not_found(model_id)
        return config_from_document(source)

    async def get_with_secrets(self, model_id: str) -> tuple[ModelConfig, dict[str, Any]]:
        config = await self.get_config(model_id)
        secrets_source = await self._get_source(self.names.secrets, model_id)
        if secrets_source is None:
            raise self.messages.invalid_state(model_id)
        try:
            return config, self.box.decrypt(model_id, secrets_source)
        except SecretsDecryptionError:
            raise self.messages.invalid_state(model_id) from None

    async def list_configs(self, task_type: TaskType | None) -> list[ModelConfig]:
        filters: list[dict[str, Any]] = [{"term": {"state": READY}}]
        if task_type is not None:
            filters.append({"term": {"task_type": task_type.value}})
        async with es_errors():
            response = await self.es.search(
                index=self.names.configs,
                query={"bool": {"filter": filters}},
                sort=[{"model_id": "asc"}],
                size=MAX_LISTED,
            )
        return [config_from_document(hit["_source"]) for hit in response["hits"]["hits"]]

    async def _create_claim(self, config: ModelConfig) -> None:
        await self.es.create(
            index=self.names.configs,
            id=document_id(config.model_id),
            document=self._config_document(config, CREATING),
            refresh=True,
        )

    async def _take_over_stale_claim(self, model_id: str) -> dict[str, Any] | None:
        """The claim document removed (empty when it had gone already), or None when the id is held."""
        source = await self._get_source(self.names.configs, model_id)
        if source is None:
            return {}
        if source.get("state") in (CREATING, STARTING) and _age_seconds(source) > self.claim_lease:
            await self.remove(model_id)
            return source
        return None

    async def _get_source(self, index: str, model_id: str) -> dict[str, Any] | None:
        async with es_errors():
            response = await self.es.options(ignore_status=404).get(index=index, id=document_id(model_id))
        if not response.body.get("found"):
            return None
        source: dict[str, Any] = response["_source"]
        return source

    @staticmethod
    def _config_document(config: ModelConfig, state: str) -> dict[str, Any]:
        return {**config.to_document(), "state": state, "created_at": int(time.time() * 1000)}


def _age_seconds(source: dict[str, Any]) -> float:
    return time.time() - int(source.get("created_at", 0)) / 1000
