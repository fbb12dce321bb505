"""Inference results and their wire forms (ES 8.12+)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidecar.domain.task_type import TaskType


@dataclass(frozen=True)
class SparseEmbedding:
    embedding: dict[str, float]
    is_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"is_truncated": self.is_truncated, "embedding": self.embedding}


@dataclass(frozen=True)
class TextEmbedding:
    embedding: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"embedding": self.embedding}


Embedding = SparseEmbedding | TextEmbedding


def results_body(task_type: TaskType, results: list[Embedding]) -> dict[str, Any]:
    return {task_type.value: [result.to_json() for result in results]}
