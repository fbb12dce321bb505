"""Request and response shapes of `hugging_face` and `hugging_face_elser` follow `api_compat`.

ES 8.15 reads the same request keys as 8.12 (`HuggingFaceBaseService.parseRequestConfig` removes `service_settings`
only, so a `task_settings` key is unknown; `HuggingFaceServiceSettings.fromMap`: url, similarity, dimensions,
max_input_tokens, rate_limit; `HuggingFaceElserServiceSettings.fromMap`: url, rate_limit). What it shows differs
(`toXContentFragmentOfExposedFields`): `rate_limit` always, with its default of 3000 requests per minute, and for
`sparse_embedding` ELSER's fixed `max_input_tokens: 512`, which it also applies (`HuggingFaceElserModel.getTokenLimit`:
inputs cut to 512 * 3 characters, `is_truncated` set). The probe (`updateModelWithEmbeddingDetails`) keeps a given
similarity or sets cosine, replaces `dimensions` with the probed length, and keeps `max_input_tokens` and the rate
limit. The 8.12 dialect keeps the 8.12 shapes.

A stored configuration keeps the shape of the dialect that created it, and each dialect loads either shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from unittest.mock import MagicMock

import pytest

from plugins.hugging_face import HuggingFaceElserService, HuggingFaceService
from sidecar.domain.model import ModelConfig
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.settings import Settings
from sidecar.testing.mock_providers import mock_embedding, mock_sparse_embedding
from tests.api.conftest import (
    ADMIN,
    HF_KEY,
    Client,
    Provider,
    es_error,
    start_sidecar,
    unknown_settings,
    validation_error,
)

DEFAULT_RATE_LIMIT = {"requests_per_minute": 3000}
ELSER_CHARS = 512 * 3  # ELSER's 512 tokens at the Truncator's 3 characters a token
LONG_TEXT = "word " * 400  # 2000 characters


def hf_body(provider: Provider, service: str = "hugging_face", **service_settings: Any) -> dict[str, Any]:
    return {"service": service, "service_settings": {"api_key": HF_KEY, "url": provider.url, **service_settings}}


def endpoint(
    inference_id: str, task_type: str, service: str, service_settings: dict[str, Any], id_key: str = "inference_id"
) -> dict[str, Any]:
    return {
        id_key: inference_id,
        "task_type": task_type,
        "service": service,
        "service_settings": service_settings,
        "task_settings": {},
    }


@pytest.fixture
def sparse_provider(hf_provider: Provider) -> Provider:
    hf_provider.config.hf_response_shape = "sparse"
    return hf_provider


async def other_sidecar(make_settings: Callable[..., Settings], dialect: str) -> Client:
    return await start_sidecar(make_settings(api_compat=dialect))


@pytest.fixture
async def sidecar_815(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """An 8.15 sidecar beside the default (8.12) `sidecar`, on the same cluster."""
    client = await other_sidecar(make_settings, "8.15")
    yield client
    await client.close()


class TestHuggingFace815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_text_embedding_put_get_and_infer(self, sidecar: Client, hf_provider: Provider) -> None:
        response = await sidecar.put("/_inference/text_embedding/hf-e5", json=hf_body(hf_provider), headers=ADMIN)
        expected = endpoint(
            "hf-e5",
            "text_embedding",
            "hugging_face",
            {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4, "rate_limit": DEFAULT_RATE_LIMIT},
        )
        assert (response.status, await response.json()) == (200, expected)
        probe = hf_provider.config.last_request
        assert probe is not None
        assert probe.body == {"inputs": ["how big"]}
        response = await sidecar.get("/_inference/text_embedding/hf-e5", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"endpoints": [expected]})
        response = await sidecar.post("/_inference/hf-e5", json={"input": "hello"}, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200,
            {"text_embedding": [{"embedding": mock_embedding("hello", 4)}]},
        )

    async def test_every_text_embedding_setting(self, sidecar: Client, hf_provider: Provider) -> None:
        body = hf_body(
            hf_provider,
            rate_limit={"requests_per_minute": 60},
            max_input_tokens=2,
            dimensions=99,
            similarity="L2_NORM",
        )
        response = await sidecar.put("/_inference/text_embedding/full", json=body, headers=ADMIN)
        assert response.status == 200
        shown = await response.json()
        assert shown == endpoint(
            "full",
            "text_embedding",
            "hugging_face",
            {
                "url": hf_provider.url,
                "similarity": "l2_norm",
                "dimensions": 4,  # the probed length replaces the requested one, without an error
                "max_input_tokens": 2,
                "rate_limit": {"requests_per_minute": 60},
            },
        )
        assert list(shown["service_settings"]) == ["url", "similarity", "dimensions", "max_input_tokens", "rate_limit"]
        response = await sidecar.post("/_inference/full", json={"input": "abcdefgh"}, headers=ADMIN)
        assert response.status == 200
        sent = hf_provider.config.last_request
        assert sent is not None
        assert sent.body == {"inputs": ["abcdef"]}

    @pytest.mark.parametrize("service", ["hugging_face", "hugging_face_elser"])
    async def test_sparse_embedding_put_get_and_infer(
        self, sidecar: Client, sparse_provider: Provider, service: str
    ) -> None:
        response = await sidecar.put(
            "/_inference/sparse_embedding/hf-elser", json=hf_body(sparse_provider, service), headers=ADMIN
        )
        expected = endpoint(
            "hf-elser",
            "sparse_embedding",
            service,
            {"url": sparse_provider.url, "max_input_tokens": 512, "rate_limit": DEFAULT_RATE_LIMIT},
        )
        assert (response.status, await response.json()) == (200, expected)
        assert sparse_provider.config.calls == 0  # no probe
        response = await sidecar.get("/_inference/hf-elser", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"endpoints": [expected]})
        response = await sidecar.post("/_inference/hf-elser", json={"input": [LONG_TEXT, "short"]}, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200,
            {
                "sparse_embedding": [
                    {"is_truncated": True, "embedding": mock_sparse_embedding(LONG_TEXT[:ELSER_CHARS])},
                    {"is_truncated": False, "embedding": mock_sparse_embedding("short")},
                ]
            },
        )
        sent = sparse_provider.config.last_request
        assert sent is not None
        assert sent.body == {"inputs": [LONG_TEXT[:ELSER_CHARS], "short"]}

    async def test_sparse_keeps_a_given_rate_limit(self, sidecar: Client, sparse_provider: Provider) -> None:
        body = hf_body(sparse_provider, "hugging_face_elser", rate_limit={"requests_per_minute": 7})
        response = await sidecar.put("/_inference/sparse_embedding/limited", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200,
            endpoint(
                "limited",
                "sparse_embedding",
                "hugging_face_elser",
                {"url": sparse_provider.url, "max_input_tokens": 512, "rate_limit": {"requests_per_minute": 7}},
            ),
        )

    @pytest.mark.parametrize(
        ("task_settings", "rendered"),
        [({}, "{task_settings={}}"), ({"foo": "bar"}, "{task_settings={foo=bar}}"), (None, "{task_settings=null}")],
    )
    async def test_task_settings_are_unknown(
        self, sidecar: Client, hf_provider: Provider, task_settings: Any, rendered: str
    ) -> None:
        body = {**hf_body(hf_provider), "task_settings": task_settings}
        response = await sidecar.put("/_inference/text_embedding/t", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (400, unknown_settings(rendered, "hugging_face"))
        assert hf_provider.config.calls == 0
        response = await sidecar.get("/_inference/t", headers=ADMIN)
        assert response.status == 404

    async def test_elser_max_input_tokens_is_not_a_request_setting(
        self, sidecar: Client, sparse_provider: Provider
    ) -> None:
        body = hf_body(sparse_provider, "hugging_face_elser", max_input_tokens=512)
        response = await sidecar.put("/_inference/sparse_embedding/e", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            unknown_settings("{max_input_tokens=512}", "hugging_face_elser"),
        )
        body = hf_body(sparse_provider, similarity="cosine")
        response = await sidecar.put("/_inference/sparse_embedding/e", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            unknown_settings("{similarity=cosine}", "hugging_face"),
        )

    async def test_elser_service_refuses_text_embedding(self, sidecar: Client, hf_provider: Provider) -> None:
        body = hf_body(hf_provider, "hugging_face_elser")
        response = await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            es_error(
                400, "status_exception", "The [hugging_face_elser] service does not support task type [text_embedding]"
            ),
        )

    async def test_service_settings_messages_in_es_order(self, sidecar: Client, hf_provider: Provider) -> None:
        body = {
            "service": "hugging_face",
            "service_settings": {"api_key": HF_KEY, "max_input_tokens": -1, "dimensions": 0, "similarity": "dot"},
        }
        response = await sidecar.put("/_inference/text_embedding/bad", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            validation_error(
                "[service_settings] does not contain the required setting [url]",
                "[service_settings] Invalid value [dot] received. [similarity] must be one of "
                "[cosine, dot_product, l2_norm]",
                "[service_settings] Invalid value [0]. [dimensions] must be a positive integer",
                "[service_settings] Invalid value [-1]. [max_input_tokens] must be a positive integer",
            ),
        )
        assert hf_provider.config.calls == 0

    async def test_8_12_service_settings_shape_is_still_accepted(self, sidecar: Client, hf_provider: Provider) -> None:
        """The request keys did not change: an 8.12 body creates the 8.15 shape."""
        body = hf_body(hf_provider, similarity="dot_product")
        response = await sidecar.put("/_inference/text_embedding/old", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200,
            endpoint(
                "old",
                "text_embedding",
                "hugging_face",
                {
                    "url": hf_provider.url,
                    "similarity": "dot_product",
                    "dimensions": 4,
                    "rate_limit": DEFAULT_RATE_LIMIT,
                },
            ),
        )


# --- 8.12 stays 8.12 ---------------------------------------------------------------------------------------


async def test_812_shapes_are_unchanged(sidecar: Client, sparse_provider: Provider) -> None:
    response = await sidecar.put(
        "/_inference/sparse_embedding/e", json=hf_body(sparse_provider, "hugging_face_elser"), headers=ADMIN
    )
    assert (response.status, await response.json()) == (
        200,
        endpoint("e", "sparse_embedding", "hugging_face_elser", {"url": sparse_provider.url}, id_key="model_id"),
    )
    response = await sidecar.post("/_inference/sparse_embedding/e", json={"input": LONG_TEXT}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {"sparse_embedding": [{"is_truncated": False, "embedding": mock_sparse_embedding(LONG_TEXT)}]},
    )
    body = hf_body(sparse_provider, "hugging_face_elser", max_input_tokens=512)
    response = await sidecar.put("/_inference/sparse_embedding/m", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        unknown_settings("{max_input_tokens=512}", "hugging_face_elser"),
    )


# --- stored documents across dialects ---------------------------------------------------------------------


async def test_created_in_812_shown_and_run_in_815(sidecar: Client, sidecar_815: Client, hf_provider: Provider) -> None:
    response = await sidecar.put("/_inference/text_embedding/dense", json=hf_body(hf_provider), headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        endpoint(
            "dense",
            "text_embedding",
            "hugging_face",
            {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4},
            id_key="model_id",
        ),
    )
    body = hf_body(hf_provider, "hugging_face_elser")
    response = await sidecar.put("/_inference/sparse_embedding/sparse", json=body, headers=ADMIN)
    assert response.status == 200
    dense_815 = endpoint(
        "dense",
        "text_embedding",
        "hugging_face",
        {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4, "rate_limit": DEFAULT_RATE_LIMIT},
    )
    sparse_815 = endpoint(
        "sparse",
        "sparse_embedding",
        "hugging_face_elser",
        {"url": hf_provider.url, "max_input_tokens": 512, "rate_limit": DEFAULT_RATE_LIMIT},
    )
    response = await sidecar_815.get("/_inference/dense", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"endpoints": [dense_815]})
    response = await sidecar_815.get("/_inference/_all", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"endpoints": [dense_815, sparse_815]})
    response = await sidecar_815.post("/_inference/dense", json={"input": "hi"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {"text_embedding": [{"embedding": mock_embedding("hi", 4)}]},
    )
    hf_provider.config.hf_response_shape = "sparse"
    response = await sidecar_815.post("/_inference/sparse", json={"input": LONG_TEXT}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {"sparse_embedding": [{"is_truncated": True, "embedding": mock_sparse_embedding(LONG_TEXT[:ELSER_CHARS])}]},
    )
    # ... while the 8.12 sidecar still shows them as it stored them.
    response = await sidecar.get("/_inference/sparse_embedding/sparse", headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {
            "models": [
                endpoint(
                    "sparse", "sparse_embedding", "hugging_face_elser", {"url": hf_provider.url}, id_key="model_id"
                )
            ]
        },
    )


async def test_created_in_815_runs_in_812(sidecar: Client, sidecar_815: Client, hf_provider: Provider) -> None:
    body = hf_body(hf_provider, max_input_tokens=2)
    response = await sidecar_815.put("/_inference/text_embedding/dense", json=body, headers=ADMIN)
    assert response.status == 200
    body = hf_body(hf_provider)
    response = await sidecar_815.put("/_inference/sparse_embedding/sparse", json=body, headers=ADMIN)
    assert response.status == 200
    response = await sidecar.post("/_inference/text_embedding/dense", json={"input": "abcdefgh"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {"text_embedding": [{"embedding": mock_embedding("abcdef", 4)}]},
    )
    sent = hf_provider.config.last_request
    assert sent is not None
    assert sent.body == {"inputs": ["abcdef"]}
    hf_provider.config.hf_response_shape = "sparse"
    response = await sidecar.post("/_inference/sparse_embedding/sparse", json={"input": LONG_TEXT}, headers=ADMIN)
    assert (response.status, await response.json()) == (  # 8.12 does not cut ELSER's inputs
        200,
        {"sparse_embedding": [{"is_truncated": False, "embedding": mock_sparse_embedding(LONG_TEXT)}]},
    )
    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {
            "models": [
                endpoint(
                    "dense",
                    "text_embedding",
                    "hugging_face",
                    # a stored rate_limit is shown as stored (see `HuggingFaceService.public_config`)
                    {
                        "url": hf_provider.url,
                        "similarity": "cosine",
                        "dimensions": 4,
                        "max_input_tokens": 2,
                        "rate_limit": DEFAULT_RATE_LIMIT,
                    },
                    id_key="model_id",
                ),
                endpoint("sparse", "sparse_embedding", "hugging_face", {"url": hf_provider.url}, id_key="model_id"),
            ]
        },
    )


# --- the translation, one task type at a time --------------------------------------------------------------

URL = "http://127.0.0.1:1/"
STORED_812_DENSE = ModelConfig(
    "d", TaskType.TEXT_EMBEDDING, "hugging_face", {"url": URL, "similarity": "cosine", "dimensions": 4}, {}
)
STORED_815_DENSE = ModelConfig(
    "d",
    TaskType.TEXT_EMBEDDING,
    "hugging_face",
    {"url": URL, "similarity": "cosine", "dimensions": 4, "rate_limit": DEFAULT_RATE_LIMIT},
    {},
)
STORED_812_SPARSE = ModelConfig("s", TaskType.SPARSE_EMBEDDING, "hugging_face_elser", {"url": URL}, {})
STORED_815_SPARSE = ModelConfig(
    "s",
    TaskType.SPARSE_EMBEDDING,
    "hugging_face_elser",
    {"url": URL, "max_input_tokens": 512, "rate_limit": DEFAULT_RATE_LIMIT},
    {},
)


def context_for(dialect: str) -> ServiceContext:
    return ServiceContext(Settings(api_compat=dialect), MagicMock(), MagicMock(), MagicMock())


@pytest.mark.parametrize("stored", [STORED_812_SPARSE, STORED_815_SPARSE])
@pytest.mark.parametrize("service_class", [HuggingFaceService, HuggingFaceElserService])
def test_sparse_public_config(stored: ModelConfig, service_class: type[HuggingFaceService]) -> None:
    assert service_class(context_for("8.12")).public_config(stored) == STORED_812_SPARSE
    assert service_class(context_for("8.15")).public_config(stored) == STORED_815_SPARSE


def test_dense_public_config() -> None:
    older, newer = HuggingFaceService(context_for("8.12")), HuggingFaceService(context_for("8.15"))
    assert newer.public_config(STORED_812_DENSE) == STORED_815_DENSE
    assert newer.public_config(STORED_815_DENSE) == STORED_815_DENSE
    assert older.public_config(STORED_812_DENSE) == STORED_812_DENSE
    assert older.public_config(STORED_815_DENSE) == STORED_815_DENSE  # a stored rate_limit is shown as stored


@pytest.mark.parametrize("dialect", ["8.12", "8.15"])
def test_a_given_rate_limit_is_shown_by_both_dialects(dialect: str) -> None:
    limited = {"requests_per_minute": 7}
    sparse_812 = ModelConfig("s", TaskType.SPARSE_EMBEDDING, "hugging_face", {"url": URL, "rate_limit": limited}, {})
    sparse_815 = ModelConfig(
        "s", TaskType.SPARSE_EMBEDDING, "hugging_face", {"url": URL, "max_input_tokens": 512, "rate_limit": limited}, {}
    )
    shown = HuggingFaceService(context_for(dialect)).public_config
    expected = sparse_812 if dialect == "8.12" else sparse_815
    assert shown(sparse_812) == expected
    assert shown(sparse_815) == expected
