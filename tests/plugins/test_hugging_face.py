from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from plugins._http import UpstreamFailure
from plugins.hugging_face import (
    HuggingFaceElserServiceSettings,
    HuggingFaceService,
    HuggingFaceServiceSettings,
)
from sidecar.domain.errors import ElasticsearchError, ProviderError
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import SparseEmbedding, TextEmbedding
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.testing.mock_providers import mock_embedding, mock_sparse_embedding
from tests.plugins.conftest import HF_KEY, parse_error

URL = "https://my-endpoint.endpoints.huggingface.cloud"


def es_body(status: int, error_type: str, reason: str) -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
        "status": status,
    }


def validation_body(*messages: str) -> dict[str, Any]:
    reason = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, start=1))
    return es_body(400, "validation_exception", reason)


def request_config(**service_settings: Any) -> dict[str, Any]:
    return {"service_settings": {"api_key": HF_KEY, "url": URL, **service_settings}}



@pytest.fixture
def service(context: ServiceContext) -> HuggingFaceService:
    return HuggingFaceService(context)


def dense_model(url: str, **service_settings: Any) -> Model:
    return Model(
        ModelConfig("hf-model", TaskType.TEXT_EMBEDDING, "hugging_face", {"url": url, **service_settings}, {}),
        {"api_key": HF_KEY},
    )


def sparse_model(url: str) -> Model:
    return Model(
        ModelConfig("hf-elser", TaskType.SPARSE_EMBEDDING, "hugging_face", {"url": url}, {}),
        {"api_key": HF_KEY},
    )


# --- parse_request ---------------------------------------------------------------------------------------------


def test_parse_text_embedding(service: HuggingFaceService) -> None:
    config = request_config(max_input_tokens=512, dimensions=384, similarity="L2_NORM")
    model = service.parse_request("hf-model", TaskType.TEXT_EMBEDDING, config)
    assert model.config == ModelConfig(
        "hf-model",
        TaskType.TEXT_EMBEDDING,
        "hugging_face",
        {"url": URL, "similarity": "l2_norm", "dimensions": 384, "max_input_tokens": 512},
        {},
    )
    assert list(model.config.service_settings) == ["url", "similarity", "dimensions", "max_input_tokens"]
    assert model.secrets == {"api_key": HF_KEY}
    assert HF_KEY not in repr(model)
    assert HF_KEY not in repr(model.config.to_document())
    assert HF_KEY not in repr(model.config.to_response("8.12"))


def test_parse_sparse_embedding(service: HuggingFaceService) -> None:
    model = service.parse_request("hf-elser", TaskType.SPARSE_EMBEDDING, request_config())
    assert model.config.service_settings == {"url": URL}
    assert model.config.task_settings == {}
    assert model.secrets == {"api_key": HF_KEY}


def test_sparse_reads_only_the_url(service: HuggingFaceService) -> None:
    assert parse_error(service, request_config(similarity="cosine"), TaskType.SPARSE_EMBEDDING) == es_body(
        400, "status_exception",
        "Model configuration contains settings [{similarity=cosine}] unknown to the [hugging_face] service",
    )


def test_missing_service_settings(service: HuggingFaceService) -> None:
    assert parse_error(service, {"task_settings": {}}) == es_body(
        400, "status_exception", "Missing required field [service_settings]"
    )


@pytest.mark.parametrize(
    ("task_settings", "rendered"), [({}, "{task_settings={}}"), ({"foo": "bar"}, "{task_settings={foo=bar}}")]
)
def test_task_settings_are_unknown_in_8_12(service: HuggingFaceService, task_settings: Any, rendered: str) -> None:
    config = {**request_config(), "task_settings": task_settings}
    assert parse_error(service, config) == es_body(
        400, "status_exception", f"Model configuration contains settings [{rendered}] unknown to the [hugging_face] service"
    )


def test_missing_url_and_bad_similarity_are_collected(service: HuggingFaceService) -> None:
    config = {"service_settings": {"api_key": HF_KEY, "similarity": "dot"}}
    assert parse_error(service, config) == validation_body(
        "[service_settings] does not contain the required setting [url]",
        "[service_settings] Invalid value [dot] received. [similarity] must be one of [cosine, dot_product, l2_norm]",
    )


@pytest.mark.parametrize("task_type", [TaskType.TEXT_EMBEDDING, TaskType.SPARSE_EMBEDDING])
def test_empty_url(service: HuggingFaceService, task_type: TaskType) -> None:
    assert parse_error(service, request_config(url=""), task_type) == validation_body(
        "[service_settings] Invalid value empty string. [url] must be a non-empty string"
    )


@pytest.mark.parametrize("task_type", [TaskType.TEXT_EMBEDDING, TaskType.SPARSE_EMBEDDING])
def test_bad_url(service: HuggingFaceService, task_type: TaskType) -> None:
    assert parse_error(service, request_config(url="endpoint.example"), task_type) == validation_body(
        "[service_settings] Invalid url [endpoint.example] received for field [url]. Error: unable to parse url "
        "[endpoint.example]. Reason: URL scheme must be http or https"
    )


def test_dimensions_of_the_wrong_type(service: HuggingFaceService) -> None:
    assert parse_error(service, request_config(dimensions=1.5)) == es_body(
        400, "status_exception",
        "field [dimensions] is not of the expected type. The value [1.5] cannot be converted to a [Integer]",
    )


def test_missing_api_key(service: HuggingFaceService) -> None:
    assert parse_error(service, {"service_settings": {"url": URL}}) == validation_body(
        "[service_settings] does not contain the required setting [api_key]"
    )


def test_empty_api_key(service: HuggingFaceService) -> None:
    assert parse_error(service, request_config(api_key="")) == validation_body(
        "[service_settings] Invalid value empty string. [api_key] must be a non-empty string"
    )


def test_settings_fail_before_the_api_key(service: HuggingFaceService) -> None:
    assert parse_error(service, {"service_settings": {}}) == validation_body(
        "[service_settings] does not contain the required setting [url]"
    )


def test_unknown_service_setting(service: HuggingFaceService) -> None:
    body = parse_error(service, request_config(model_id="e5"))
    assert body == es_body(
        400, "status_exception",
        "Model configuration contains settings [{model_id=e5}] unknown to the [hugging_face] service",
    )
    assert HF_KEY not in repr(body)


def test_unknown_top_level_setting_comes_first(service: HuggingFaceService) -> None:
    config = {**request_config(model_id="e5"), "foo": 1}
    assert parse_error(service, config) == es_body(
        400, "status_exception", "Model configuration contains settings [{foo=1}] unknown to the [hugging_face] service"
    )


def test_stored_settings(service: HuggingFaceService) -> None:
    config = ModelConfig("m", TaskType.TEXT_EMBEDDING, "hugging_face", {"url": URL, "dimensions": 4, "x": 1}, {})
    assert service.parse_stored(config, {"api_key": HF_KEY}) == Model(config, {"api_key": HF_KEY})
    assert HuggingFaceServiceSettings.from_stored(config.service_settings).to_public() == {"url": URL, "dimensions": 4}
    assert HuggingFaceElserServiceSettings.from_stored({"url": URL}).to_public() == {"url": URL}


def test_batch_limit(service: HuggingFaceService) -> None:
    assert service.batch_limit(dense_model(URL)) == 32


# --- the probe --------------------------------------------------------------------------------------------------


async def test_probe_sets_dimensions_and_default_similarity(service: HuggingFaceService, hf_mock: Any) -> None:
    url = hf_mock.base_url + "/"
    prepared = await service.prepare(service.parse_request("hf-model", TaskType.TEXT_EMBEDDING, request_config(url=url)))
    assert prepared.config.service_settings == {"url": url, "similarity": "cosine", "dimensions": 4}
    assert hf_mock.config.last_request.body == {"inputs": ["how big"]}


async def test_probe_keeps_a_given_similarity(service: HuggingFaceService, hf_mock: Any) -> None:
    prepared = await service.prepare(dense_model(hf_mock.base_url + "/", similarity="l2_norm", dimensions=99))
    assert prepared.config.service_settings == {
        "url": hf_mock.base_url + "/",
        "similarity": "l2_norm",
        "dimensions": 4,
    }


async def test_no_probe_for_sparse(service: HuggingFaceService, hf_mock: Any) -> None:
    model = sparse_model(hf_mock.base_url + "/")
    assert await service.prepare(model) is model
    assert hf_mock.config.calls == 0


async def test_probe_failure(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(404, {"error": "Model not found"})
    with pytest.raises(ElasticsearchError) as caught:
        await service.prepare(dense_model(hf_mock.base_url + "/"))
    cause = {
        "type": "status_exception",
        "reason": "Received an unsuccessful status code for request from inference entity id [hf-model] status [404]",
    }
    assert caught.value.body() == {
        "error": {
            "root_cause": [cause],
            "type": "status_exception",
            "reason": "Could not determine embedding size",
            "caused_by": cause,
        },
        "status": 400,
    }


# --- infer -----------------------------------------------------------------------------------------------------


async def test_request_shape_and_list_response(service: HuggingFaceService, hf_mock: Any) -> None:
    results = await service.infer(dense_model(hf_mock.base_url + "/"), ["one", "two"])
    assert results == [TextEmbedding(mock_embedding("one", 4)), TextEmbedding(mock_embedding("two", 4))]
    sent = hf_mock.config.last_request
    assert sent.headers["Authorization"] == f"Bearer {HF_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == {"inputs": ["one", "two"]}


async def test_embeddings_object_response(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.hf_response_shape = "embeddings"
    results = await service.infer(dense_model(hf_mock.base_url + "/"), ["one"])
    assert results == [TextEmbedding(mock_embedding("one", 4))]


@pytest.mark.parametrize("body", [{"vectors": [[1.0]]}, {"embeddings": "x"}, "text", [1.0, 2.0]])
async def test_unusable_embeddings_response(service: HuggingFaceService, hf_mock: Any, body: Any) -> None:
    url = hf_mock.base_url + "/"
    hf_mock.config.fail_next(200, body)
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(dense_model(url), ["one"])
    assert caught.value.to_es_error("hf-model").body() == {
        "error": {
            "root_cause": [
                {"type": "status_exception", "reason": f"Failed to send Hugging Face text embeddings request to [{url}]"}
            ],
            "type": "status_exception",
            "reason": f"Failed to send Hugging Face text embeddings request to [{url}]",
            "caused_by": {
                "type": "illegal_state_exception",
                "reason": "Failed to find required field [embeddings] in Hugging Face embeddings response",
            },
        },
        "status": 500,
    }


async def test_a_vector_value_that_is_not_a_number(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(200, {"embeddings": [[0.5, "0.5"]]})
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["one"])
    assert caught.value.to_es_error("hf-model").body()["error"]["caused_by"] == {
        "type": "parsing_exception",
        "reason": "Failed to parse object: expecting token of type [VALUE_NUMBER] but found [VALUE_STRING]",
    }


async def test_pretty_printed_vectors_are_served_compact(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(200, b"[\n  [0.5, -1e-05],\n  [ 2 ]\n]")
    results = await service.infer(dense_model(hf_mock.base_url + "/"), ["one", "two"])
    assert [result.json for result in results] == [b"[0.5,-1e-05]", b"[2]"]  # type: ignore[union-attr]


async def test_wrong_number_of_embeddings(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(200, [[1.0]])
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["one", "two"])
    assert caught.value.message == "Expected [2] embeddings in Hugging Face embeddings response, received [1]"


async def test_empty_body(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(200, None)
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["one"])
    assert caught.value.message == f"Response body was empty for request [POST {hf_mock.base_url}/ HTTP/1.1]"


async def test_sparse_response(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.hf_response_shape = "sparse"
    results = await service.infer(sparse_model(hf_mock.base_url + "/"), ["the sky is blue", "port"])
    assert results == [
        SparseEmbedding(mock_sparse_embedding("the sky is blue"), False),
        SparseEmbedding(mock_sparse_embedding("port"), False),
    ]
    assert list(results[0].embedding) == list(mock_sparse_embedding("the sky is blue"))


@pytest.mark.parametrize("body", [{"sky": 1.0}, [["sky"]], [{"sky": "heavy"}]])
async def test_unusable_sparse_response(service: HuggingFaceService, hf_mock: Any, body: Any) -> None:
    url = hf_mock.base_url + "/"
    hf_mock.config.fail_next(200, body)
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(sparse_model(url), ["one"])
    error = caught.value.to_es_error("hf-elser").body()["error"]
    assert error["reason"] == f"Failed to send Hugging Face ELSER request to [{url}]"
    assert error["caused_by"]["reason"] == (
        "Failed to parse the Hugging Face ELSER response: expected an array of token-weight objects"
    )


async def test_max_input_tokens(service: HuggingFaceService, hf_mock: Any) -> None:
    await service.infer(dense_model(hf_mock.base_url + "/", max_input_tokens=1), ["abcdef"])
    assert hf_mock.config.last_request.body == {"inputs": ["abc"]}


@pytest.mark.parametrize(
    ("status", "message", "retryable", "too_large"),
    [
        (429, "Received a rate limit status code", True, False),
        (502, "Received a rate limit status code", True, False),
        (503, "Received a rate limit status code", True, False),
        (500, "Received a server error status code", False, False),
        (504, "Received a server error status code", False, False),
        (401, "Received an authentication error status code", False, False),
        (301, "Unhandled redirection", False, False),
        (400, "Received an unsuccessful status code", False, False),
        (404, "Received an unsuccessful status code", False, False),
    ],
)
async def test_status_mapping(
    service: HuggingFaceService, hf_mock: Any, status: int, message: str, retryable: bool, too_large: bool
) -> None:
    hf_mock.config.fail_next(status, {"error": f"upstream says {status}"}, {"Retry-After": "2"})
    with pytest.raises(ProviderError) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["x"])
    error = caught.value
    assert (error.message, error.status, error.retryable, error.content_too_large) == (
        message, status, retryable, too_large
    )
    assert error.retry_after == 2.0
    assert error.upstream_message == (None if status == 401 else f"upstream says {status}")
    assert hf_mock.config.calls == 1


async def test_rate_limit_error_for_the_caller(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(429, {"error": "Rate limit reached"})
    with pytest.raises(ProviderError) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["x"])
    assert caught.value.to_es_error("hf-model").body() == es_body(
        429,
        "status_exception",
        "Received a rate limit status code for request from inference entity id [hf-model] status [429]. "
        "Error message: [Rate limit reached]",
    )


async def test_content_too_large_truncates_and_retries_once(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.hf_response_shape = "sparse"
    hf_mock.config.max_input_chars = 10
    results = await service.infer(sparse_model(hf_mock.base_url + "/"), ["0123456789abcdef", "short", ""])
    assert [request.body["inputs"] for request in hf_mock.config.requests] == [
        ["0123456789abcdef", "short", ""],
        ["01234567", "sh", ""],
    ]
    assert [result.is_truncated for result in results] == [True, True, False]  # type: ignore[union-attr]
    assert results[0] == SparseEmbedding(mock_sparse_embedding("01234567"), True)


async def test_content_too_large_twice(service: HuggingFaceService, hf_mock: Any) -> None:
    hf_mock.config.fail_next(413, None, times=2)
    with pytest.raises(ProviderError) as caught:
        await service.infer(dense_model(hf_mock.base_url + "/"), ["abcd"])
    assert caught.value.content_too_large
    assert caught.value.message == "Received a content too large status code"
    assert hf_mock.config.calls == 2


async def test_wrong_key_never_shows(service: HuggingFaceService, hf_mock: Any) -> None:
    model = Model(dense_model(hf_mock.base_url + "/").config, {"api_key": "hf_wrong_secret_value"})
    with pytest.raises(ProviderError) as caught:
        await service.infer(model, ["x"])
    assert caught.value.status == 401
    assert "hf_wrong_secret_value" not in repr(caught.value.to_es_error("hf-model").body())


async def test_egress_refusal(context: ServiceContext) -> None:
    http = MagicMock()
    guarded = ServiceContext(context.settings, http, context.es, context.egress)
    with pytest.raises(ElasticsearchError) as caught:
        await HuggingFaceService(guarded).infer(dense_model("http://169.254.169.254/embed"), ["x"])
    assert caught.value.body() == es_body(
        400, "status_exception", "The url host [169.254.169.254] is not allowed by the sidecar's egress policy"
    )
    http.post.assert_not_called()


async def test_missing_stored_key(service: HuggingFaceService, hf_mock: Any) -> None:
    model = Model(dense_model(hf_mock.base_url + "/").config, {})
    with pytest.raises(ElasticsearchError) as caught:
        await service.infer(model, ["x"])
    assert caught.value.body() == es_body(
        500,
        "illegal_state_exception",
        "Failed to load model, model [hf-model] is in an invalid state. Try deleting and reinitializing the service",
    )
