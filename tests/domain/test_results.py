import orjson
import pytest

from sidecar.domain.results import SparseEmbedding, TextEmbedding, results_body
from sidecar.domain.task_type import TaskType


def test_a_vector_from_floats_keeps_its_values() -> None:
    vector = TextEmbedding([0.5, -1.25, 3.0])
    assert (vector.json, vector.dimensions, vector.embedding) == (b"[0.5,-1.25,3.0]", 3, [0.5, -1.25, 3.0])


def test_a_provider_array_is_kept_as_sent_without_whitespace() -> None:
    vector = TextEmbedding.from_json_array(b'[\n    0.0069292835,\n    -1e-05,\t12\r\n  ]')
    assert vector is not None
    assert (vector.json, vector.dimensions, vector.embedding) == (b"[0.0069292835,-1e-05,12]", 3, [0.0069292835, -1e-05, 12])
    assert TextEmbedding.from_json_array(b"[ ]") == TextEmbedding([])
    assert TextEmbedding.from_json_array(b"[]").dimensions == 0  # type: ignore[union-attr]


def test_the_array_does_not_keep_the_response_alive() -> None:
    response = b'{"embedding":[1,2]}'
    vector = TextEmbedding.from_json_array(memoryview(response)[13:18])
    assert vector is not None and type(vector.json) is bytes and vector.json == b"[1,2]"


@pytest.mark.parametrize(
    "raw", [b'[1,"2"]', b"[[1,2]]", b"[1,[2]]", b'[{"a":1}]', b"[true]", b"[false]", b"[null]", b"1.5", b'"[1]"', b"{}"]
)
def test_anything_but_an_array_of_numbers_is_refused(raw: bytes) -> None:
    assert TextEmbedding.from_json_array(raw) is None


def test_results_embed_the_vector_text_unchanged() -> None:
    vector = TextEmbedding.from_json_array(b"[0.10000000149011612, 2]")
    assert vector is not None
    body = results_body(TaskType.TEXT_EMBEDDING, [vector, TextEmbedding([1.5])])
    assert orjson.dumps(body) == b'{"text_embedding":[{"embedding":[0.10000000149011612,2]},{"embedding":[1.5]}]}'
    sparse = results_body(TaskType.SPARSE_EMBEDDING, [SparseEmbedding({"a": 1.5}, True)])
    assert orjson.dumps(sparse) == b'{"sparse_embedding":[{"is_truncated":true,"embedding":{"a":1.5}}]}'


def test_equality_and_repr_never_show_values() -> None:
    assert TextEmbedding([1.0, 2.0]) == TextEmbedding.from_json_array(b"[1.0, 2.0]")
    assert TextEmbedding([1.0]) != TextEmbedding([2.0])
    assert repr(TextEmbedding([1.0, 2.0])) == "TextEmbedding(dimensions=2)"
