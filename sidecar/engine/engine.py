"""Placeholder engine: calls the service directly. Replaced by the batching engine."""

from __future__ import annotations

from sidecar.domain.model import Model
from sidecar.domain.results import Embedding
from sidecar.domain.service import InferenceService


class InferenceEngine:
    async def infer(self, service: InferenceService, model: Model, inputs: list[str]) -> list[Embedding]:
        return await service.infer(model, inputs)

    def forget(self, model_id: str) -> None:
        """Drop what is held for a deleted or recreated model."""

    async def close(self) -> None:
        """Stop background work."""
