"""`filter_path` response filtering, as Elasticsearch applies it.

The pure cases replay Elasticsearch's own filtering tests (`FilterPathGeneratorFilteringTests`,
`AbstractFilteringTestCase` with its `sample.json`); the HTTP cases run the sidecar on the stand-in.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sidecar.api.filter_path import ResponseFilter
from sidecar.api.pretty import pretty_json
from sidecar.testing.mock_providers import mock_embedding, mock_sparse_embedding
from tests.api.conftest import ADMIN, HF_KEY, Client, Provider, es_error, openai_body


def filtered(body: dict[str, Any], filter_path: str, keep_empty: bool = False) -> dict[str, Any]:
    response_filter = ResponseFilter.parse(filter_path, keep_empty)
    return body if response_filter is None else response_filter.apply(body)


# FilterPathGeneratorFilteringTests.SAMPLE
SMALL: dict[str, Any] = {
    "a": 0,
    "b": True,
    "c": "c_value",
    "d": [0, 1, 2],
    "e": [{"f1": "f1_value", "f2": "f2_value"}, {"g1": "g1_value", "g2": "g2_value"}],
    "h": {"i": {"j": {"k": {"l": "l_value"}}}},
}
H = SMALL["h"]
ABCD = {"a": 0, "b": True, "c": "c_value", "d": [0, 1, 2]}


@pytest.mark.parametrize(
    ("filter_path", "expected"),
    [
        ("a", {"a": 0}),
        ("d", {"d": [0, 1, 2]}),
        ("z", {}),
        ("e.f1", {"e": [{"f1": "f1_value"}]}),
        ("e.f*", {"e": [{"f1": "f1_value", "f2": "f2_value"}]}),
        ("e.*2", {"e": [{"f2": "f2_value"}, {"g2": "g2_value"}]}),
        ("h.i.j.k.l", {"h": H}),
        ("*.i.j", {"h": H}),
        ("h.*.j.*.l", {"h": H}),
        ("**.l", {"h": H}),
        ("**.*2", {"e": [{"f2": "f2_value"}, {"g2": "g2_value"}]}),
        ("h.i.j.k.l,h.i.j.k.l.m", {"h": H}),
        ("*", SMALL),
        ("**", SMALL),
        ("a, b ,,", {"a": 0, "b": True}),
        (" , ", SMALL),  # names no filter at all
        ("-a", {k: v for k, v in SMALL.items() if k != "a"}),
        ("-e.f1", {**ABCD, "e": [{"f2": "f2_value"}, {"g1": "g1_value", "g2": "g2_value"}], "h": H}),
        ("-e.f*", {**ABCD, "e": [{"g1": "g1_value", "g2": "g2_value"}], "h": H}),
        ("-**.*2", {**ABCD, "e": [{"f1": "f1_value"}, {"g1": "g1_value"}], "h": H}),
        ("-h.i.j.k.l", {**ABCD, "e": SMALL["e"]}),
        ("-a,-b,-c,-d,-e.f1,-e.f2,-e.g1,-e.g2,-h.i.j.k.l", {}),
        ("-*", {}),
        ("-**", {}),
        ("e,-e.f1,-e.g*", {"e": [{"f2": "f2_value"}]}),
    ],
)
def test_elasticsearch_filtering_cases(filter_path: str, expected: dict[str, Any]) -> None:
    assert filtered(SMALL, filter_path) == expected


def test_escaped_dots_name_one_field() -> None:
    body = {"a": 0, "b.c": "value", "b": {"c": "c_value"}}
    assert filtered(body, "b.c") == {"b": {"c": "c_value"}}
    assert filtered(body, r"b\.c") == {"b.c": "value"}
    assert filtered(body, "-b.c") == {"a": 0, "b.c": "value"}
    assert filtered(body, r"-b\.c") == {"a": 0, "b": {"c": "c_value"}}


# AbstractFilteringTestCase's sample.json, shortened to the parts its `**` cases reach.
BOOK: dict[str, Any] = {
    "title": "My awesome book",
    "default": None,
    "authors": [{"name": "John Doe", "lastname": "John"}, {"name": "William Smith", "lastname": "William"}],
    "properties": {
        "weight": 0.8,
        "language": {
            "en": {
                "lang": "English",
                "distributors": [
                    {"name": "The Book Shop", "addresses": [{"name": "address #1", "city": "London"}]},
                    {"name": "Sussex Books House"},
                ],
            }
        },
    },
}


def test_double_wildcard_reaches_any_depth_below_the_root() -> None:
    assert filtered(BOOK, "**.name") == {
        "authors": [{"name": "John Doe"}, {"name": "William Smith"}],
        "properties": {
            "language": {
                "en": {
                    "distributors": [
                        {"name": "The Book Shop", "addresses": [{"name": "address #1"}]},
                        {"name": "Sussex Books House"},
                    ]
                }
            }
        },
    }
    assert filtered(BOOK, "-**.name") == {
        "title": "My awesome book",
        "default": None,
        "authors": [{"lastname": "John"}, {"lastname": "William"}],
        "properties": {
            "weight": 0.8,
            "language": {"en": {"lang": "English", "distributors": [{"addresses": [{"city": "London"}]}]}},
        },
    }
    assert filtered(BOOK, "**.language,properties.weight,-**.distributors") == {
        "properties": {"weight": 0.8, "language": {"en": {"lang": "English"}}}
    }
    assert filtered(BOOK, "**.distributors,-**.distributors") == {}
    assert filtered({"name": 1, "x": {"name": 2}}, "**.name") == {"x": {"name": 2}}  # `**` spans one level or more


def test_empty_containers() -> None:
    body = {"foo": {}, "bar": [], "baz": {"x": 1}}
    assert filtered(body, "foo,bar") == {"foo": {}, "bar": []}  # matched whole
    assert filtered(body, "foo.x,bar.x") == {}  # nothing under them reaches a filter
    assert filtered(body, "-baz.x") == {"foo": {}, "bar": []}  # emptied by the filter: dropped
    # Empty already, on an exclusion's way: ES before 8.15.4 drops it (#63842), later versions keep it (#112250).
    assert filtered(body, "-*.x") == {}
    assert filtered(body, "-*.x", keep_empty=True) == {"foo": {}, "bar": []}


def test_fragments_are_leaves() -> None:
    vector = orjson.Fragment(b"[0.5,-0.25]")
    body = {"text_embedding": [{"embedding": vector}]}
    assert filtered(body, "text_embedding.embedding")["text_embedding"][0]["embedding"] is vector
    assert filtered(body, "-text_embedding.embedding.x")["text_embedding"][0]["embedding"] is vector
    assert filtered(body, "text_embedding.embedding.x") == {}
    assert filtered(body, "-text_embedding.embedding") == {}


async def put_two_models(sidecar: Client, openai_provider: Provider, hf_provider: Provider) -> None:
    hf = {"service": "hugging_face", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
    assert (await sidecar.put("/_inference/text_embedding/hf", json=hf, headers=ADMIN)).status == 200
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200


async def get(sidecar: Client, path: str) -> tuple[int, Any]:
    response = await sidecar.get(path, headers=ADMIN)
    return response.status, await response.json()


async def test_listing_with_includes_excludes_and_wildcards(
    sidecar: Client, openai_provider: Provider, hf_provider: Provider
) -> None:
    await put_two_models(sidecar, openai_provider, hf_provider)
    hf_settings = {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4}
    openai_settings = {"url": openai_provider.url, "similarity": "dot_product", "dimensions": 8}

    assert await get(sidecar, "/_inference/_all?filter_path=models.model_id") == (
        200, {"models": [{"model_id": "hf"}, {"model_id": "o"}]}
    )
    assert await get(sidecar, "/_inference/_all?filter_path=models.model_id,models.service") == (
        200, {"models": [{"model_id": "hf", "service": "hugging_face"}, {"model_id": "o", "service": "openai"}]}
    )
    assert await get(sidecar, "/_inference/_all?filter_path=-models.service_settings,-models.task_settings") == (
        200,
        {
            "models": [
                {"model_id": "hf", "task_type": "text_embedding", "service": "hugging_face"},
                {"model_id": "o", "task_type": "text_embedding", "service": "openai"},
            ]
        },
    )
    assert await get(sidecar, "/_inference/_all?filter_path=models.*_id,models.service_settings.d*") == (
        200,
        {"models": [{"model_id": "hf", "service_settings": {"dimensions": 4}}, {"model_id": "o", "service_settings": {"dimensions": 8}}]},
    )
    # `**` reaches `task_settings.model`, which only the OpenAI model has
    assert await get(sidecar, "/_inference/_all?filter_path=**.model") == (
        200, {"models": [{"task_settings": {"model": "text-embedding-ada-002"}}]}
    )
    assert await get(sidecar, "/_inference/_all?filter_path=-**.url,-**.similarity,-models.model_id") == (
        200,
        {
            "models": [
                {"task_type": "text_embedding", "service": "hugging_face", "service_settings": {"dimensions": 4}},
                {
                    "task_type": "text_embedding",
                    "service": "openai",
                    "service_settings": {"dimensions": 8},
                    "task_settings": {"model": "text-embedding-ada-002"},
                },
            ]
        },
    )
    # includes and excludes together
    assert await get(sidecar, "/_inference/_all?filter_path=models.service_settings,-**.url,-models.*.similarity") == (
        200, {"models": [{"service_settings": {"dimensions": 4}}, {"service_settings": {"dimensions": 8}}]}
    )
    assert await get(sidecar, "/_inference/text_embedding/o?filter_path=models") == (
        200,
        {
            "models": [
                {
                    "model_id": "o",
                    "task_type": "text_embedding",
                    "service": "openai",
                    "service_settings": openai_settings,
                    "task_settings": {"model": "text-embedding-ada-002"},
                }
            ]
        },
    )
    assert await get(sidecar, "/_inference/text_embedding/hf?filter_path=models.service_settings") == (
        200, {"models": [{"service_settings": hf_settings}]}
    )
    # filtered to nothing: the root object stays
    assert await get(sidecar, "/_inference/_all?filter_path=nothing") == (200, {})
    assert await get(sidecar, "/_inference/_all?filter_path=-models") == (200, {})
    assert await get(sidecar, "/_inference/_all?filter_path=") == await get(sidecar, "/_inference/_all")


async def test_an_empty_listing(sidecar: Client) -> None:
    assert await get(sidecar, "/_inference/_all?filter_path=models") == (200, {"models": []})
    assert await get(sidecar, "/_inference/_all?filter_path=models.model_id") == (200, {})


async def test_put_and_delete_answers_are_filtered(sidecar: Client, openai_provider: Provider) -> None:
    response = await sidecar.put(
        "/_inference/text_embedding/o?filter_path=model_id,task_*", json=openai_body(openai_provider), headers=ADMIN
    )
    assert (response.status, await response.json()) == (
        200, {"model_id": "o", "task_type": "text_embedding", "task_settings": {"model": "text-embedding-ada-002"}}
    )
    response = await sidecar.delete("/_inference/text_embedding/o?filter_path=-acknowledged", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {})


async def test_inference_filtered_to_the_vectors_and_to_nothing(
    sidecar: Client, openai_provider: Provider, hf_provider: Provider
) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    path, body = "/_inference/text_embedding/o", {"input": ["a", "b"]}
    whole = await (await sidecar.post(path, json=body, headers=ADMIN)).read()
    vectors = {"text_embedding": [{"embedding": mock_embedding("a", 8)}, {"embedding": mock_embedding("b", 8)}]}
    assert orjson.loads(whole) == vectors

    for kept_whole in ("text_embedding.embedding", "**.embedding", "-text_embedding.embedding.x"):
        response = await sidecar.post(f"{path}?filter_path={kept_whole}", json=body, headers=ADMIN)
        assert (response.status, await response.read()) == (200, whole)  # the vectors' own text, untouched
    for nothing in ("text_embedding.embedding.x", "-text_embedding.embedding", "-**.embedding", "sparse_embedding"):
        response = await sidecar.post(f"{path}?filter_path={nothing}", json=body, headers=ADMIN)
        assert (response.status, await response.read()) == (200, b"{}")

    hf_provider.config.hf_response_shape = "sparse"
    elser = {"service": "hugging_face_elser", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
    assert (await sidecar.put("/_inference/sparse_embedding/s", json=elser, headers=ADMIN)).status == 200
    response = await sidecar.post(
        "/_inference/sparse_embedding/s?filter_path=sparse_embedding.embedding", json={"input": "the sky"}, headers=ADMIN
    )
    assert (response.status, await response.json()) == (
        200, {"sparse_embedding": [{"embedding": mock_sparse_embedding("the sky")}]}
    )
    response = await sidecar.post(
        "/_inference/sparse_embedding/s?filter_path=**.is_truncated", json={"input": "the sky"}, headers=ADMIN
    )
    assert (response.status, await response.json()) == (200, {"sparse_embedding": [{"is_truncated": False}]})


async def test_error_responses_are_not_filtered(sidecar: Client, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    assert await get(sidecar, "/_inference/text_embedding/o?filter_path=error.type,status") == (200, {})
    assert await get(sidecar, "/_inference/text_embedding/missing?filter_path=error.type,status") == (
        404, es_error(404, "resource_not_found_exception", "Model not found [missing]")
    )
    assert await get(sidecar, "/_inference/text_embedding/missing?filter_path=-error") == (
        404, es_error(404, "resource_not_found_exception", "Model not found [missing]")
    )
    response = await sidecar.post("/_inference/text_embedding/o?filter_path=-error", json={}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400, es_error(400, "action_request_validation_exception", "Validation Failed: 1: missing input;")
    )
    assert await get(sidecar, "/_nowhere?filter_path=-error") == (
        400, {"error": "no handler found for uri [/_nowhere?filter_path=-error] and method [GET]"}
    )


async def test_pretty_renders_the_filtered_body(sidecar: Client, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    response = await sidecar.get("/_inference/_all?filter_path=models.model_id&pretty", headers=ADMIN)
    assert (response.status, await response.text()) == (
        200,
        '{\n  "models" : [\n    {\n      "model_id" : "o"\n    }\n  ]\n}\n',
    )
    response = await sidecar.get("/_inference/_all?pretty&filter_path=-models", headers=ADMIN)
    assert (response.status, await response.text()) == (200, "{ }\n")
    response = await sidecar.get("/_inference/text_embedding/missing?pretty&filter_path=status", headers=ADMIN)
    assert response.status == 404
    unfiltered = orjson.dumps(es_error(404, "resource_not_found_exception", "Model not found [missing]"))
    assert await response.text() == pretty_json(unfiltered).decode()


async def test_empty_settings_under_an_exclusion_in_the_8_12_dialect(sidecar: Client, hf_provider: Provider) -> None:
    assert await get(sidecar, "/_inference/_all?filter_path=-**.api_key") == (200, {})  # ES 8.12 drops `[]` here
    hf = {"service": "hugging_face", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
    assert (await sidecar.put("/_inference/text_embedding/hf", json=hf, headers=ADMIN)).status == 200
    assert await get(sidecar, "/_inference/_all?filter_path=-**.api_key") == (
        200,
        {
            "models": [
                {
                    "model_id": "hf",
                    "task_type": "text_embedding",
                    "service": "hugging_face",
                    "service_settings": {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4},
                }
            ]
        },
    )


class TestDialect815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_empty_settings_stay_under_an_exclusion(self, sidecar: Client, hf_provider: Provider) -> None:
        assert await get(sidecar, "/_inference?filter_path=-**.api_key") == (200, {"endpoints": []})
        hf = {"service": "hugging_face", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
        assert (await sidecar.put("/_inference/text_embedding/hf", json=hf, headers=ADMIN)).status == 200
        status, whole = await get(sidecar, "/_inference")
        assert status == 200 and whole["endpoints"][0]["task_settings"] == {}
        assert await get(sidecar, "/_inference?filter_path=-**.api_key") == (200, whole)
        assert await get(sidecar, "/_inference?filter_path=endpoints.inference_id") == (
            200, {"endpoints": [{"inference_id": "hf"}]}
        )
