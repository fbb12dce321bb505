"""Messages whose wording depends on the ES dialect served (8.12 "Model", 8.15 "Inference endpoint")."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.domain.errors import ElasticsearchError, illegal_state, resource_already_exists, resource_not_found
from sidecar.domain.model import Dialect
from sidecar.domain.task_type import TaskType


@dataclass(frozen=True)
class Messages:
    dialect: Dialect

    def not_found(self, model_id: str) -> ElasticsearchError:
        noun = "Model" if self.dialect == "8.12" else "Inference endpoint"
        return resource_not_found(f"{noun} not found [{model_id}]")

    def already_exists(self, model_id: str) -> ElasticsearchError:
        noun = "Inference model" if self.dialect == "8.12" else "Inference endpoint"
        return resource_already_exists(f"{noun} [{model_id}] already exists")

    def task_type_mismatch(self, requested: TaskType, stored: TaskType) -> ElasticsearchError:
        owner = "the model's" if self.dialect == "8.12" else "the inference endpoint's"
        return ElasticsearchError(
            400,
            "status_exception",
            f"Requested task type [{requested.value}] does not match {owner} task type [{stored.value}]",
        )

    def inference_task_type_mismatch(self, requested: TaskType, stored: TaskType) -> ElasticsearchError:
        return ElasticsearchError(
            400,
            "status_exception",
            f"Incompatible task_type, the requested type [{requested.value}] does not match the model type "
            f"[{stored.value}]",
        )

    @staticmethod
    def invalid_state(model_id: str) -> ElasticsearchError:
        return illegal_state(
            f"Failed to load model, model [{model_id}] is in an invalid state. "
            "Try deleting and reinitializing the service"
        )

    @staticmethod
    def store_failed(model_id: str) -> ElasticsearchError:
        return ElasticsearchError(500, "status_exception", f"Failed to store inference model [{model_id}]")

    @staticmethod
    def referenced_by_pipelines(model_id: str) -> ElasticsearchError:
        """8.15 (its only dialect with the check) still says "Model" here."""
        return ElasticsearchError(
            403,
            "status_exception",
            f"Model {model_id} is referenced by pipelines and cannot be deleted. Use `force` to delete it anyway, "
            "or use `dry_run` to list the pipelines that reference it.",
        )
