"""An inference model: its public configuration and, apart, its secrets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import orjson

from sidecar.domain.task_type import TaskType

Dialect = Literal["8.12", "8.15"]


@dataclass(frozen=True)
class ModelConfig:
    model_id: str
    task_type: TaskType
    service: str
    service_settings: dict[str, Any]
    task_settings: dict[str, Any]

    def to_document(self) -> dict[str, Any]:
        """The stored configuration document (never holds a secret)."""
        return {
            "model_id": self.model_id,
            "task_type": self.task_type.value,
            "service": self.service,
            "service_settings": self.service_settings,
            "task_settings": self.task_settings,
        }

    def to_response(self, dialect: Dialect) -> dict[str, Any]:
        id_key = "model_id" if dialect == "8.12" else "inference_id"
        return {
            id_key: self.model_id,
            "task_type": self.task_type.value,
            "service": self.service,
            "service_settings": self.service_settings,
            "task_settings": self.task_settings,
        }

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the provider's output changes."""
        return hashlib.sha256(orjson.dumps(self.to_document(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True)
class Model:
    config: ModelConfig
    secrets: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def model_id(self) -> str:
        return self.config.model_id

    @property
    def task_type(self) -> TaskType:
        return self.config.task_type
