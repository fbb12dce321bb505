"""Inference results and their wire forms (ES 8.12+)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sidecar.domain.task_type import TaskType

_WHITESPACE = b" \t\n\r"
# Bytes that only a string, object, true, false or null can bring into a well-formed JSON array.
_NOT_IN_NUMBERS = (b'"', b"{", b"t", b"f", b"n")


@dataclass(frozen=True)
class SparseEmbedding:
    embedding: dict[str, float]
    is_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"is_truncated": self.is_truncated, "embedding": self.embedding}


class TextEmbedding:
    """A dense vector, held as the compact JSON text of its array of numbers.

    Responses embed that text as it is, so a vector a provider sent is checked once and never turned into
    Python floats and back (the costliest part of serving it). Plugins that compute floats pass them in.
    """

    __slots__ = ("_dimensions", "json")

    def __init__(self, embedding: Sequence[float]) -> None:
        self.json: bytes = orjson.dumps(list(embedding))
        self._dimensions: int | None = len(embedding)

    @classmethod
    def from_json_array(cls, raw: bytes | memoryview) -> TextEmbedding | None:
        """The vector in `raw`, a JSON value already known to be well-formed; None unless it is an array of numbers.

        Whitespace is dropped, and the bytes are copied, so the vector never keeps the whole response alive.
        """
        text = bytes(raw)
        if any(space in text for space in _WHITESPACE):
            text = text.translate(None, _WHITESPACE)
        if text[:1] != b"[" or text.find(b"[", 1) != -1 or any(other in text for other in _NOT_IN_NUMBERS):
            return None
        vector = cls.__new__(cls)
        vector.json = text
        vector._dimensions = None  # counted when asked for: counting is slower than every check above
        return vector

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._dimensions = 0 if self.json == b"[]" else self.json.count(b",") + 1
        return self._dimensions

    @property
    def embedding(self) -> list[float]:
        values: list[float] = orjson.loads(self.json)
        return values

    def to_json(self) -> dict[str, Any]:
        return {"embedding": orjson.Fragment(self.json)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextEmbedding) and other.json == self.json

    def __hash__(self) -> int:
        return hash(self.json)

    def __repr__(self) -> str:
        return f"TextEmbedding(dimensions={self.dimensions})"


Embedding = SparseEmbedding | TextEmbedding


def results_body(task_type: TaskType, results: list[Embedding]) -> dict[str, Any]:
    return {task_type.value: [result.to_json() for result in results]}
