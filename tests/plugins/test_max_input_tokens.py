"""`max_input_tokens` below 1, for `openai` and `hugging_face`.

ES 8.15 (`OpenAiEmbeddingsServiceSettings`, `HuggingFaceServiceSettings`: `extractOptionalPositiveInteger`) refuses
it, and `dimensions` below 1 likewise, in the `validation_exception` of the service settings. ES 8.12 reads both with
`removeAsType` and takes any integer; its `Truncator` then cuts every input to `max_input_tokens * 3` characters,
so 0 sends "" and a negative value fails. The sidecar's 8.12 dialect keeps accepting and showing the value (the wire
is 8.12's) but does not apply a limit below 1: the inputs go out whole.
"""

from __future__ import annotations

from typing import Any

import pytest

from plugins.hugging_face import HuggingFaceService
from plugins.openai import OpenAiService
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.settings import Settings
from tests.api.conftest import ADMIN, HF_KEY, OPENAI_KEY, Client, Provider, validation_error
from tests.plugins.conftest import API_KEY, parse_error
from tests.plugins.conftest import HF_KEY as PLUGIN_HF_KEY


def openai_config(**service_settings: Any) -> dict[str, Any]:
    return {
        "service_settings": {"api_key": API_KEY, **service_settings},
        "task_settings": {"model": "text-embedding-3-small"},
    }


def hf_config(**service_settings: Any) -> dict[str, Any]:
    return {"service_settings": {"api_key": API_KEY, "url": "http://127.0.0.1:1/", **service_settings}}


class TestDialect815:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(api_compat="8.15", provider_timeout=2.0, retry_timeout=0.5)

    @pytest.mark.parametrize("value", [0, -1])
    def test_openai_refuses_a_limit_below_one(self, context: ServiceContext, value: int) -> None:
        body = parse_error(OpenAiService(context), openai_config(max_input_tokens=value))
        assert body == validation_error(
            f"[service_settings] Invalid value [{value}]. [max_input_tokens] must be a positive integer"
        )

    @pytest.mark.parametrize("value", [0, -1])
    def test_hugging_face_refuses_a_limit_below_one(self, context: ServiceContext, value: int) -> None:
        body = parse_error(HuggingFaceService(context), hf_config(max_input_tokens=value))
        assert body == validation_error(
            f"[service_settings] Invalid value [{value}]. [max_input_tokens] must be a positive integer"
        )

    def test_openai_collects_both_integers(self, context: ServiceContext) -> None:
        body = parse_error(OpenAiService(context), openai_config(max_input_tokens=0, dimensions=-3))
        assert body == validation_error(
            "[service_settings] Invalid value [0]. [max_input_tokens] must be a positive integer",
            "[service_settings] Invalid value [-3]. [dimensions] must be a positive integer",
        )

    def test_hugging_face_checks_dimensions_first(self, context: ServiceContext) -> None:
        body = parse_error(HuggingFaceService(context), hf_config(max_input_tokens=0, dimensions=0))
        assert body == validation_error(
            "[service_settings] Invalid value [0]. [dimensions] must be a positive integer",
            "[service_settings] Invalid value [0]. [max_input_tokens] must be a positive integer",
        )

    def test_a_positive_limit_is_kept(self, context: ServiceContext) -> None:
        model = HuggingFaceService(context).parse_request("m", TaskType.TEXT_EMBEDDING, hf_config(max_input_tokens=1))
        assert model.config.service_settings["max_input_tokens"] == 1


class TestDialect812:
    @pytest.mark.parametrize("value", [0, -1])
    def test_openai_stores_the_value_as_es_812_does(self, context: ServiceContext, value: int) -> None:
        model = OpenAiService(context).parse_request(
            "m", TaskType.TEXT_EMBEDDING, openai_config(max_input_tokens=value)
        )
        assert model.config.service_settings == {"max_input_tokens": value}

    @pytest.mark.parametrize("value", [0, -1])
    def test_hugging_face_stores_the_value_as_es_812_does(self, context: ServiceContext, value: int) -> None:
        model = HuggingFaceService(context).parse_request(
            "m", TaskType.TEXT_EMBEDDING, hf_config(max_input_tokens=value)
        )
        assert model.config.service_settings == {"url": "http://127.0.0.1:1/", "max_input_tokens": value}

    @pytest.mark.parametrize("value", [0, -1])
    async def test_openai_sends_the_inputs_whole(self, context: ServiceContext, openai_mock: Any, value: int) -> None:
        settings = {"url": openai_mock.base_url + "/v1/embeddings", "max_input_tokens": value}
        model = Model(
            ModelConfig("m", TaskType.TEXT_EMBEDDING, "openai", settings, {"model": "text-embedding-3-small"}),
            {"api_key": API_KEY},
        )
        await OpenAiService(context).infer(model, ["abcdef", "xy"])
        assert openai_mock.config.last_request.body["input"] == ["abcdef", "xy"]

    @pytest.mark.parametrize("value", [0, -1])
    async def test_hugging_face_sends_the_inputs_whole(self, context: ServiceContext, hf_mock: Any, value: int) -> None:
        settings = {"url": hf_mock.base_url + "/", "max_input_tokens": value}
        model = Model(
            ModelConfig("m", TaskType.TEXT_EMBEDDING, "hugging_face", settings, {}), {"api_key": PLUGIN_HF_KEY}
        )
        await HuggingFaceService(context).infer(model, ["abcdef"])
        assert hf_mock.config.last_request.body == {"inputs": ["abcdef"]}


# --- over HTTP ------------------------------------------------------------------------------------------------


async def test_812_put_keeps_a_zero_limit_and_inference_sends_the_whole_input(
    sidecar: Client, openai_provider: Provider
) -> None:
    body = {
        "service": "openai",
        "service_settings": {"api_key": OPENAI_KEY, "url": openai_provider.url, "max_input_tokens": 0},
        "task_settings": {"model": "text-embedding-ada-002"},
    }
    response = await sidecar.put("/_inference/text_embedding/zero", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {
            "model_id": "zero",
            "task_type": "text_embedding",
            "service": "openai",
            "service_settings": {
                "url": openai_provider.url,
                "similarity": "dot_product",
                "dimensions": 8,
                "max_input_tokens": 0,
            },
            "task_settings": {"model": "text-embedding-ada-002"},
        },
    )
    assert openai_provider.config.last_request is not None
    assert openai_provider.config.last_request.body["input"] == ["how big"]  # the probe, whole
    response = await sidecar.post("/_inference/text_embedding/zero", json={"input": "the whole text"}, headers=ADMIN)
    assert response.status == 200
    assert openai_provider.config.last_request.body["input"] == ["the whole text"]


class TestHttp815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_openai_put_is_refused(self, sidecar: Client, openai_provider: Provider) -> None:
        body = {
            "service": "openai",
            "service_settings": {
                "api_key": OPENAI_KEY,
                "url": openai_provider.url,
                "model_id": "text-embedding-3-small",
                "max_input_tokens": 0,
            },
        }
        response = await sidecar.put("/_inference/text_embedding/zero", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            validation_error("[service_settings] Invalid value [0]. [max_input_tokens] must be a positive integer"),
        )
        assert openai_provider.config.calls == 0
        response = await sidecar.get("/_inference/zero", headers=ADMIN)
        assert response.status == 404

    async def test_hugging_face_put_is_refused(self, sidecar: Client, hf_provider: Provider) -> None:
        body = {
            "service": "hugging_face",
            "service_settings": {"api_key": HF_KEY, "url": hf_provider.url, "max_input_tokens": -2},
        }
        response = await sidecar.put("/_inference/text_embedding/neg", json=body, headers=ADMIN)
        assert (response.status, await response.json()) == (
            400,
            validation_error("[service_settings] Invalid value [-2]. [max_input_tokens] must be a positive integer"),
        )
        assert hf_provider.config.calls == 0
