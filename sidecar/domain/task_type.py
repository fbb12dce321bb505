from __future__ import annotations

from enum import StrEnum

from sidecar.domain.errors import status_exception


class TaskType(StrEnum):
    SPARSE_EMBEDDING = "sparse_embedding"
    TEXT_EMBEDDING = "text_embedding"

    @classmethod
    def parse(cls, value: str) -> TaskType:
        """ES `TaskType.fromString`: trimmed, case-insensitive; otherwise `Unknown task_type [x]`."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise status_exception(f"Unknown task_type [{value}]") from None


ANY = "any"
