"""Request and response shapes of `elser` and `openai` follow `api_compat`.

ES 8.13+ renamed ELSER's `service_settings.model_version` to `model_id` (`ElserInternalServiceSettings`; a stored
`model_version` is still read) and moved OpenAI's model from `task_settings.model` to `service_settings.model_id`
(`OpenAiEmbeddingsServiceSettings`; an old `task_settings.model` in a request is moved over, and `task_settings`
became optional). 8.14+ always show OpenAI's `rate_limit`. The 8.12 dialect keeps the 8.12 shapes.

A stored configuration keeps the shape of the dialect that created it, and each dialect loads either shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from unittest.mock import MagicMock

import pytest

from plugins.elser import ElserService
from plugins.openai import OpenAiService
from sidecar.domain.model import ModelConfig
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.settings import Settings
from sidecar.testing.mock_providers import MockProviderConfig, create_mock_openai_app, start_mock_provider
from tests.api.conftest import (
    ADMIN,
    ELSER_BODY,
    OPENAI_KEY,
    Client,
    Provider,
    es_error,
    start_sidecar,
    unknown_settings,
    validation_error,
)

LINUX_ELSER = ".elser_model_2_linux-x86_64"
DEFAULT_RATE_LIMIT = {"requests_per_minute": 3000}


@pytest.fixture
async def provider_128() -> AsyncIterator[Provider]:
    """A mock OpenAI whose vectors have the 128 dimensions of the specification's example."""
    config = MockProviderConfig(api_key=OPENAI_KEY, dimensions=128)
    runner, base_url = await start_mock_provider(create_mock_openai_app(config))
    yield Provider(config, f"{base_url}/v1/embeddings")
    await runner.cleanup()


def spec_example(provider: Provider) -> dict[str, Any]:
    """`PutOpenAiRequestExample1.yaml`, with `url` pointing at the mock."""
    return {
        "service": "openai",
        "service_settings": {
            "api_key": OPENAI_KEY,
            "model_id": "text-embedding-3-small",
            "dimensions": 128,
            "url": provider.url,
        },
    }


def openai_812_body(provider: Provider, **task_settings: Any) -> dict[str, Any]:
    return {
        "service": "openai",
        "service_settings": {"api_key": OPENAI_KEY, "url": provider.url},
        "task_settings": {"model": "text-embedding-ada-002", **task_settings},
    }


async def other_sidecar(make_settings: Callable[..., Settings], dialect: str) -> Client:
    return await start_sidecar(make_settings(api_compat=dialect))


# --- 8.15 over HTTP ----------------------------------------------------------------------------------------


class TestElser815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_put_and_get_show_model_id(self, sidecar: Client) -> None:
        response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=ELSER_BODY, headers=ADMIN)
        expected = {
            "inference_id": "my-elser-model",
            "task_type": "sparse_embedding",
            "service": "elser",
            "service_settings": {"num_allocations": 1, "num_threads": 1, "model_id": LINUX_ELSER},
            "task_settings": {},
        }
        assert (response.status, await response.json()) == (200, expected)
        response = await sidecar.get("/_inference/my-elser-model", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"endpoints": [expected]})
        response = await sidecar.post("/_inference/my-elser-model", json={"input": "the sky"}, headers=ADMIN)
        assert response.status == 200
        assert len((await response.json())["sparse_embedding"]) == 1
        response = await sidecar.delete("/_inference/my-elser-model", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"acknowledged": True, "pipelines": []})

    async def test_put_with_model_id(self, sidecar: Client) -> None:
        body = {
            "service": "elser",
            "service_settings": {"num_allocations": 1, "num_threads": 1, "model_id": ".elser_model_2"},
        }
        response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=body, headers=ADMIN)
        assert response.status == 200
        assert (await response.json())["service_settings"] == {
            "num_allocations": 1,
            "num_threads": 1,
            "model_id": ".elser_model_2",
        }

    async def test_model_version_is_unknown(self, sidecar: Client) -> None:
        body = {
            "service": "elser",
            "service_settings": {"num_allocations": 1, "num_threads": 1, "model_version": ".elser_model_2"},
        }
        response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            unknown_settings("{model_version=.elser_model_2}", "elser"),
        )

    async def test_unknown_model_id(self, sidecar: Client) -> None:
        body = {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1, "model_id": "x"}}
        response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (400, validation_error("unknown ELSER model id [x]"))


class TestOpenAi815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_the_specification_example(self, sidecar: Client, provider_128: Provider) -> None:
        response = await sidecar.put(
            "/_inference/text_embedding/openai-embeddings", json=spec_example(provider_128), headers=ADMIN
        )
        expected = {
            "inference_id": "openai-embeddings",
            "task_type": "text_embedding",
            "service": "openai",
            "service_settings": {
                "model_id": "text-embedding-3-small",
                "url": provider_128.url,
                "similarity": "dot_product",
                "dimensions": 128,
                "rate_limit": DEFAULT_RATE_LIMIT,
            },
            "task_settings": {},
        }
        assert (response.status, await response.json()) == (200, expected)
        probe = provider_128.config.last_request
        assert probe is not None
        assert probe.body == {"input": ["how big"], "model": "text-embedding-3-small", "dimensions": 128}
        response = await sidecar.get("/_inference/text_embedding/openai-embeddings", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"endpoints": [expected]})
        response = await sidecar.post("/_inference/openai-embeddings", json={"input": "hello"}, headers=ADMIN)
        assert response.status == 200
        assert len((await response.json())["text_embedding"][0]["embedding"]) == 128
        sent = provider_128.config.last_request
        assert sent is not None
        assert sent.body == {"input": ["hello"], "model": "text-embedding-3-small", "dimensions": 128}

    async def test_dimensions_the_model_does_not_give(self, sidecar: Client, openai_provider: Provider) -> None:
        body = spec_example(openai_provider)  # this mock answers 8 dimensions
        response = await sidecar.put("/_inference/text_embedding/openai-embeddings", json=body, headers=ADMIN)
        reason = (
            "The retrieved embeddings size [8] does not match the size specified in the settings [128]. "
            "Please recreate the [openai-embeddings] configuration with the correct dimensions"
        )
        assert (response.status, await response.json()) == (400, es_error(400, "status_exception", reason))
        response = await sidecar.get("/_inference/openai-embeddings", headers=ADMIN)
        assert response.status == 404

    async def test_an_812_body_is_moved_to_the_815_shape(self, sidecar: Client, openai_provider: Provider) -> None:
        body = openai_812_body(openai_provider, user="me")
        body["service_settings"]["similarity"] = "cosine"
        response = await sidecar.put("/_inference/text_embedding/old-style", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            200,
            {
                "inference_id": "old-style",
                "task_type": "text_embedding",
                "service": "openai",
                "service_settings": {
                    "model_id": "text-embedding-ada-002",
                    "url": openai_provider.url,
                    "similarity": "cosine",  # 8.12 would store dot_product whatever was asked
                    "dimensions": 8,
                    "rate_limit": DEFAULT_RATE_LIMIT,
                },
                "task_settings": {"user": "me"},
            },
        )
        probe = openai_provider.config.last_request
        assert probe is not None
        assert probe.body == {"input": ["how big"], "model": "text-embedding-ada-002", "user": "me"}  # no dimensions
        # 8.13+ request task settings override `user` only; `model` is ignored.
        response = await sidecar.post(
            "/_inference/old-style",
            json={"input": "x", "task_settings": {"model": "other", "user": "you"}},
            headers=ADMIN,
        )
        assert response.status == 200
        sent = openai_provider.config.last_request
        assert sent is not None
        assert sent.body == {"input": ["x"], "model": "text-embedding-ada-002", "user": "you"}

    async def test_model_in_both_places(self, sidecar: Client, openai_provider: Provider) -> None:
        body = spec_example(openai_provider)
        body["task_settings"] = {"model": "text-embedding-ada-002"}
        response = await sidecar.put("/_inference/text_embedding/both", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            unknown_settings("{model=text-embedding-ada-002}", "openai"),
        )

    async def test_no_model(self, sidecar: Client, openai_provider: Provider) -> None:
        body = {"service": "openai", "service_settings": {"api_key": OPENAI_KEY}, "task_settings": None}
        response = await sidecar.put("/_inference/text_embedding/none", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            validation_error("[service_settings] does not contain the required setting [model_id]"),
        )

    async def test_service_settings_messages_in_es_order(self, sidecar: Client) -> None:
        body = {
            "service": "openai",
            "service_settings": {"api_key": OPENAI_KEY, "dimensions": 0, "organization_id": "", "max_input_tokens": -1},
        }
        response = await sidecar.put("/_inference/text_embedding/bad", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            validation_error(
                "[service_settings] Invalid value empty string. [organization_id] must be a non-empty string",
                "[service_settings] Invalid value [-1]. [max_input_tokens] must be a positive integer",
                "[service_settings] Invalid value [0]. [dimensions] must be a positive integer",
                "[service_settings] does not contain the required setting [model_id]",
            ),
        )


# --- 8.12 stays 8.12 ---------------------------------------------------------------------------------------


async def test_812_refuses_the_815_openai_example(sidecar: Client, provider_128: Provider) -> None:
    response = await sidecar.put("/_inference/text_embedding/e", json=spec_example(provider_128), headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(400, "status_exception", "Missing required field [task_settings]"),
    )
    body = openai_812_body(provider_128)
    body["service_settings"]["model_id"] = "text-embedding-3-small"
    response = await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        unknown_settings("{model_id=text-embedding-3-small}", "openai"),
    )


async def test_812_refuses_elser_model_id(sidecar: Client) -> None:
    body = {
        "service": "elser",
        "service_settings": {"num_allocations": 1, "num_threads": 1, "model_id": ".elser_model_2"},
    }
    response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (400, unknown_settings("{model_id=.elser_model_2}", "elser"))


# --- stored documents across dialects ---------------------------------------------------------------------


async def test_elser_created_in_812_runs_in_815_and_back(
    sidecar: Client, make_settings: Callable[..., Settings]
) -> None:
    response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=ELSER_BODY, headers=ADMIN)
    assert response.status == 200
    newer = await other_sidecar(make_settings, "8.15")
    try:
        response = await newer.post("/_inference/my-elser-model", json={"input": "the sky"}, headers=ADMIN)
        assert response.status == 200
        from_815 = await response.json()
        response = await newer.delete("/_inference/my-elser-model", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"acknowledged": True, "pipelines": []})
        response = await newer.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
        assert response.status == 200
    finally:
        await newer.close()
    response = await sidecar.post("/_inference/sparse_embedding/e", json={"input": "the sky"}, headers=ADMIN)
    assert (response.status, await response.json()) == (200, from_815)
    response = await sidecar.delete("/_inference/sparse_embedding/e", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})


async def test_openai_created_in_812_runs_in_815(
    sidecar: Client, openai_provider: Provider, make_settings: Callable[..., Settings]
) -> None:
    response = await sidecar.put("/_inference/text_embedding/o", json=openai_812_body(openai_provider), headers=ADMIN)
    assert response.status == 200
    newer = await other_sidecar(make_settings, "8.15")
    try:
        response = await newer.post("/_inference/o", json={"input": "hi"}, headers=ADMIN)
        assert response.status == 200
        response = await newer.get("/_inference/o", headers=ADMIN)  # shown in the 8.15 shape
        assert (response.status, await response.json()) == (
            200,
            {
                "endpoints": [
                    {
                        "inference_id": "o",
                        "task_type": "text_embedding",
                        "service": "openai",
                        "service_settings": {
                            "model_id": "text-embedding-ada-002",
                            "url": openai_provider.url,
                            "similarity": "dot_product",
                            "dimensions": 8,
                            "rate_limit": DEFAULT_RATE_LIMIT,
                        },
                        "task_settings": {},
                    }
                ]
            },
        )
    finally:
        await newer.close()
    sent = openai_provider.config.last_request
    assert sent is not None
    assert sent.body == {"input": ["hi"], "model": "text-embedding-ada-002"}


async def test_openai_created_in_815_runs_in_812(
    sidecar: Client, provider_128: Provider, make_settings: Callable[..., Settings]
) -> None:
    newer = await other_sidecar(make_settings, "8.15")
    try:
        response = await newer.put("/_inference/text_embedding/o", json=spec_example(provider_128), headers=ADMIN)
        assert response.status == 200
    finally:
        await newer.close()
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "hi"}, headers=ADMIN)
    assert response.status == 200
    sent = provider_128.config.last_request
    assert sent is not None
    assert sent.body == {"input": ["hi"], "model": "text-embedding-3-small", "dimensions": 128}
    # 8.12 request task settings may still override the model.
    response = await sidecar.post(
        "/_inference/text_embedding/o", json={"input": "hi", "task_settings": {"model": "other"}}, headers=ADMIN
    )
    assert response.status == 200
    sent = provider_128.config.last_request
    assert sent is not None
    assert sent.body == {"input": ["hi"], "model": "other", "dimensions": 128}


# --- the translation, one service at a time ----------------------------------------------------------------

STORED_812_OPENAI = ModelConfig(
    "o",
    TaskType.TEXT_EMBEDDING,
    "openai",
    {"url": "http://127.0.0.1:1/v1/embeddings", "similarity": "dot_product", "dimensions": 8},
    {"model": "text-embedding-ada-002", "user": "me"},
)
STORED_815_OPENAI = ModelConfig(
    "o",
    TaskType.TEXT_EMBEDDING,
    "openai",
    {
        "model_id": "text-embedding-ada-002",
        "url": "http://127.0.0.1:1/v1/embeddings",
        "similarity": "dot_product",
        "dimensions": 8,
        "rate_limit": DEFAULT_RATE_LIMIT,
    },
    {"user": "me"},
)
STORED_812_ELSER = ModelConfig(
    "e", TaskType.SPARSE_EMBEDDING, "elser", {"num_allocations": 2, "num_threads": 4, "model_version": LINUX_ELSER}, {}
)
STORED_815_ELSER = ModelConfig(
    "e", TaskType.SPARSE_EMBEDDING, "elser", {"num_allocations": 2, "num_threads": 4, "model_id": LINUX_ELSER}, {}
)


def context_for(dialect: str) -> ServiceContext:
    return ServiceContext(Settings(api_compat=dialect), MagicMock(), MagicMock(), MagicMock())


@pytest.mark.parametrize("stored", [STORED_812_OPENAI, STORED_815_OPENAI])
def test_openai_public_config(stored: ModelConfig) -> None:
    assert OpenAiService(context_for("8.12")).public_config(stored) == STORED_812_OPENAI
    assert OpenAiService(context_for("8.15")).public_config(stored) == STORED_815_OPENAI


@pytest.mark.parametrize("stored", [STORED_812_ELSER, STORED_815_ELSER])
def test_elser_stored_forms(stored: ModelConfig) -> None:
    assert ElserService(context_for("8.12")).parse_stored(stored, {}).config == STORED_812_ELSER
    assert ElserService(context_for("8.15")).parse_stored(stored, {}).config == STORED_815_ELSER
    assert ElserService(context_for("8.12")).public_config(stored) == STORED_812_ELSER
    assert ElserService(context_for("8.15")).public_config(stored) == STORED_815_ELSER
