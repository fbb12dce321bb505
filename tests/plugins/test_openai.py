from __future__ import annotations

import copy
import email.utils
import time
from typing import Any
from unittest.mock import MagicMock

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from plugins._http import UpstreamFailure, parse_retry_after
from plugins._secrets import ApiKeySecrets
from plugins.openai import (
    DEFAULT_URL,
    OpenAiService,
    OpenAiServiceSettings,
    OpenAiTaskSettings,
)
from sidecar.domain.errors import ElasticsearchError, ProviderError
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import TextEmbedding
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.http.client import HttpClient
from sidecar.security.egress import EgressPolicy
from sidecar.settings import Settings
from sidecar.testing.mock_providers import mock_embedding
from tests.plugins.conftest import API_KEY, parse_error

RATE_LIMIT_HEADERS = {
    "x-ratelimit-limit-tokens": "1000000",
    "x-ratelimit-remaining-tokens": "999",
    "x-ratelimit-limit-requests": "3000",
    "x-ratelimit-remaining-requests": "0",
}


def es_body(status: int, error_type: str, reason: str) -> dict[str, Any]:
    return {"error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
            "status": status}


def validation_body(*messages: str) -> dict[str, Any]:
    reason = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, start=1))
    return es_body(400, "validation_exception", reason)


def request_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "service_settings": {"api_key": API_KEY},
        "task_settings": {"model": "text-embedding-ada-002"},
    }
    config.update(overrides)
    return config



@pytest.fixture
def service(context: ServiceContext) -> OpenAiService:
    return OpenAiService(context)


def model_for(url: str | None, **service_settings: Any) -> Model:
    settings = {"url": url, **service_settings} if url else dict(service_settings)
    return Model(
        ModelConfig("my-model", TaskType.TEXT_EMBEDDING, "openai", settings, {"model": "text-embedding-3-small"}),
        {"api_key": API_KEY},
    )


# --- parse_request: happy paths ------------------------------------------------------------------------


def test_parse_minimal(service: OpenAiService) -> None:
    model = service.parse_request("my-model", TaskType.TEXT_EMBEDDING, request_config())
    assert model.config == ModelConfig(
        "my-model", TaskType.TEXT_EMBEDDING, "openai", {}, {"model": "text-embedding-ada-002"}
    )
    assert model.secrets == {"api_key": API_KEY}


def test_parse_every_setting_renders_in_es_order(service: OpenAiService) -> None:
    config = request_config(
        service_settings={
            "max_input_tokens": 512,
            "dimensions": 1536,
            "similarity": "DOT_PRODUCT",
            "api_key": API_KEY,
            "organization_id": "org-1",
            "url": "http://127.0.0.1:1/v1/embeddings",
        },
        task_settings={"user": "me", "model": "text-embedding-3-small"},
    )
    model = service.parse_request("my-model", TaskType.TEXT_EMBEDDING, config)
    assert list(model.config.service_settings.items()) == [
        ("url", "http://127.0.0.1:1/v1/embeddings"),
        ("organization_id", "org-1"),
        ("similarity", "dot_product"),
        ("dimensions", 1536),
        ("max_input_tokens", 512),
    ]
    assert list(model.config.task_settings.items()) == [("model", "text-embedding-3-small"), ("user", "me")]


def test_parse_does_not_change_the_callers_map(service: OpenAiService) -> None:
    config = request_config()
    before = copy.deepcopy(config)
    service.parse_request("my-model", TaskType.TEXT_EMBEDDING, config)
    assert config == before


def test_parse_tolerates_the_service_key(service: OpenAiService) -> None:
    model = service.parse_request("my-model", TaskType.TEXT_EMBEDDING, request_config(service="openai"))
    assert model.config.service == "openai"


def test_api_key_only_in_secrets(service: OpenAiService) -> None:
    model = service.parse_request("my-model", TaskType.TEXT_EMBEDDING, request_config())
    assert "api_key" not in model.config.service_settings
    assert API_KEY not in repr(model.config.to_document())
    assert API_KEY not in repr(model.config.to_response("8.12"))
    assert API_KEY not in repr(model.config.to_response("8.15"))
    assert API_KEY not in repr(model)
    secrets = ApiKeySecrets.from_stored(model.secrets)
    assert API_KEY not in repr(secrets)
    assert API_KEY not in str(secrets)


# --- parse_request: every validation error -----------------------------------------------------------------


@pytest.mark.parametrize("service_settings", [None, "missing"])
def test_missing_service_settings(service: OpenAiService, service_settings: Any) -> None:
    config = request_config(service_settings=service_settings)
    if service_settings == "missing":
        del config["service_settings"]
    assert parse_error(service, config) == es_body(400, "status_exception", "Missing required field [service_settings]")


def test_missing_task_settings(service: OpenAiService) -> None:
    config = request_config()
    del config["task_settings"]
    assert parse_error(service, config) == es_body(400, "status_exception", "Missing required field [task_settings]")


def test_settings_of_the_wrong_type(service: OpenAiService) -> None:
    assert parse_error(service, request_config(service_settings="x")) == es_body(
        400, "status_exception", "field [service_settings] is not of the expected type. The value [x] cannot be "
        "converted to a [Map]"
    )


def test_task_settings_checked_before_task_type(service: OpenAiService) -> None:
    config = request_config()
    del config["task_settings"]
    assert parse_error(service, config, TaskType.SPARSE_EMBEDDING) == es_body(
        400, "status_exception", "Missing required field [task_settings]"
    )


def test_unsupported_task_type(service: OpenAiService) -> None:
    config = request_config(service_settings={}, task_settings={})
    assert parse_error(service, config, TaskType.SPARSE_EMBEDDING) == es_body(
        400, "status_exception", "The [openai] service does not support task type [sparse_embedding]"
    )


def test_service_settings_messages_are_collected(service: OpenAiService) -> None:
    config = request_config(
        service_settings={"api_key": API_KEY, "url": "", "organization_id": "", "similarity": "foo"},
        task_settings={},
    )
    assert parse_error(service, config) == validation_body(
        "[service_settings] Invalid value empty string. [url] must be a non-empty string",
        "[service_settings] Invalid value empty string. [organization_id] must be a non-empty string",
        "[service_settings] Invalid value [foo] received. [similarity] must be one of [cosine, dot_product, l2_norm]",
    )


def test_bad_url(service: OpenAiService) -> None:
    config = request_config(service_settings={"api_key": API_KEY, "url": "not a url"})
    assert parse_error(service, config) == validation_body(
        "[service_settings] Invalid url [not a url] received for field [url]. Error: unable to parse url "
        "[not a url]. Reason: Illegal character in URL"
    )


def test_url_checked_only_after_the_other_service_settings(service: OpenAiService) -> None:
    config = request_config(service_settings={"api_key": API_KEY, "url": "ftp://x", "organization_id": ""})
    assert parse_error(service, config) == validation_body(
        "[service_settings] Invalid value empty string. [organization_id] must be a non-empty string"
    )


@pytest.mark.parametrize("key", ["dimensions", "max_input_tokens"])
def test_integer_settings_of_the_wrong_type(service: OpenAiService, key: str) -> None:
    config = request_config(service_settings={"api_key": API_KEY, key: "abc", "similarity": "foo"})
    assert parse_error(service, config) == es_body(
        400, "status_exception", f"field [{key}] is not of the expected type. The value [abc] cannot be converted "
        "to a [Integer]"
    )


def test_string_setting_of_the_wrong_type(service: OpenAiService) -> None:
    config = request_config(service_settings={"api_key": API_KEY, "organization_id": 5})
    assert parse_error(service, config) == es_body(
        400, "status_exception", "field [organization_id] is not of the expected type. The value [5] cannot be "
        "converted to a [String]"
    )


def test_missing_model(service: OpenAiService) -> None:
    assert parse_error(service, request_config(task_settings={})) == validation_body(
        "[task_settings] does not contain the required setting [model]"
    )


def test_task_settings_messages_are_collected(service: OpenAiService) -> None:
    assert parse_error(service, request_config(task_settings={"model": "", "user": ""})) == validation_body(
        "[task_settings] Invalid value empty string. [model] must be a non-empty string",
        "[task_settings] Invalid value empty string. [user] must be a non-empty string",
    )


def test_service_settings_fail_before_task_settings(service: OpenAiService) -> None:
    config = request_config(service_settings={"api_key": API_KEY, "url": ""}, task_settings={})
    assert parse_error(service, config) == validation_body(
        "[service_settings] Invalid value empty string. [url] must be a non-empty string"
    )


def test_task_settings_fail_before_the_api_key(service: OpenAiService) -> None:
    assert parse_error(service, request_config(service_settings={}, task_settings={})) == validation_body(
        "[task_settings] does not contain the required setting [model]"
    )


def test_missing_api_key(service: OpenAiService) -> None:
    assert parse_error(service, request_config(service_settings={"organization_id": "org"})) == validation_body(
        "[service_settings] does not contain the required setting [api_key]"
    )


def test_empty_api_key(service: OpenAiService) -> None:
    assert parse_error(service, request_config(service_settings={"api_key": ""})) == validation_body(
        "[service_settings] Invalid value empty string. [api_key] must be a non-empty string"
    )


def test_api_key_of_the_wrong_type_is_not_quoted(service: OpenAiService) -> None:
    body = parse_error(service, request_config(service_settings={"api_key": [API_KEY]}))
    assert body == es_body(
        400, "status_exception", "field [api_key] is not of the expected type. The value [**********] cannot be "
        "converted to a [String]"
    )


def test_unknown_top_level_setting(service: OpenAiService) -> None:
    config = request_config(foo="bar", service_settings={"api_key": API_KEY, "extra": 1})
    assert parse_error(service, config) == es_body(
        400, "status_exception", "Model configuration contains settings [{foo=bar}] unknown to the [openai] service"
    )


def test_unknown_service_setting_never_shows_the_key(service: OpenAiService) -> None:
    config = request_config(service_settings={"api_key": API_KEY, "extra": 1, "nested": {"a": [1, True]}})
    body = parse_error(service, config)
    assert body == es_body(
        400, "status_exception",
        "Model configuration contains settings [{extra=1, nested={a=[1, true]}}] unknown to the [openai] service",
    )
    assert API_KEY not in repr(body)


def test_unknown_task_setting(service: OpenAiService) -> None:
    config = request_config(task_settings={"model": "m", "temperature": 0.5})
    assert parse_error(service, config) == es_body(
        400, "status_exception",
        "Model configuration contains settings [{temperature=0.5}] unknown to the [openai] service",
    )


# --- stored settings ---------------------------------------------------------------------------------------


def test_stored_settings_are_lenient(service: OpenAiService) -> None:
    config = ModelConfig(
        "m", TaskType.TEXT_EMBEDDING, "openai", {"similarity": "dot_product", "dimensions": 3, "later": 1},
        {"model": "x", "later": True},
    )
    model = service.parse_stored(config, {"api_key": API_KEY})
    assert model == Model(config, {"api_key": API_KEY})
    assert OpenAiServiceSettings.from_stored(config.service_settings).to_public() == {
        "similarity": "dot_product",
        "dimensions": 3,
    }
    assert OpenAiTaskSettings.from_stored(config.task_settings).to_public() == {"model": "x"}


def test_batch_limit(service: OpenAiService) -> None:
    assert service.batch_limit(model_for(None)) == 2048


# --- the probe -----------------------------------------------------------------------------------------------


async def test_probe_fills_similarity_and_dimensions(service: OpenAiService, openai_mock: Any) -> None:
    url = openai_mock.base_url + "/v1/embeddings"
    model = service.parse_request(
        "my-model",
        TaskType.TEXT_EMBEDDING,
        request_config(service_settings={"api_key": API_KEY, "url": url, "similarity": "cosine", "dimensions": 3}),
    )
    prepared = await service.prepare(model)
    assert prepared.config.service_settings == {"url": url, "similarity": "dot_product", "dimensions": 8}
    assert list(prepared.config.service_settings) == ["url", "similarity", "dimensions"]
    assert prepared.secrets == {"api_key": API_KEY}
    assert openai_mock.config.last_request.body == {"input": ["how big"], "model": "text-embedding-ada-002"}


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_the_probe_is_retried_like_any_call(service: OpenAiService, openai_mock: Any, status: int) -> None:
    openai_mock.config.fail_next(status, None)
    prepared = await service.prepare(model_for(openai_mock.base_url + "/v1/embeddings"))
    assert prepared.config.service_settings["dimensions"] == 8
    assert [request.body["input"] for request in openai_mock.config.requests] == [["how big"], ["how big"]]


async def test_probe_failure_hides_the_upstream_text(service: OpenAiService, openai_mock: Any) -> None:
    url = openai_mock.base_url + "/v1/embeddings"
    model = model_for(url)
    model = Model(model.config, {"api_key": "sk-wrong-key-0123456789"})
    with pytest.raises(ElasticsearchError) as caught:
        await service.prepare(model)
    cause = {
        "type": "status_exception",
        "reason": "Received an authentication error status code for request from inference entity id [my-model] "
        "status [401]",
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
    assert "sk-" not in repr(caught.value.body())


async def test_probe_failure_when_unreachable(service: OpenAiService, unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/v1/embeddings"
    with pytest.raises(ElasticsearchError) as caught:
        await service.prepare(model_for(url))
    body = caught.value.body()
    assert body["status"] == 400
    assert body["error"]["reason"] == "Could not determine embedding size"
    assert body["error"]["root_cause"] == [
        {"type": "status_exception", "reason": f"Failed to send OpenAI embeddings request to [{url}]"}
    ]
    assert body["error"]["caused_by"]["caused_by"]["type"] == "connect_exception"


async def test_probe_failure_on_an_empty_answer(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(200, {"object": "list", "data": [{"embedding": []}]})
    with pytest.raises(ElasticsearchError) as caught:
        await service.prepare(model_for(openai_mock.base_url + "/v1/embeddings"))
    assert caught.value.body() == es_body(400, "status_exception", "Could not determine embedding size")


async def test_probe_refused_by_egress(service: OpenAiService) -> None:
    with pytest.raises(ElasticsearchError) as caught:
        await service.prepare(model_for("http://169.254.169.254/latest/meta-data"))
    assert caught.value.body() == es_body(
        400, "status_exception", "The url host [169.254.169.254] is not allowed by the sidecar's egress policy"
    )


# --- infer: the request sent upstream ------------------------------------------------------------------------


async def test_request_shape(service: OpenAiService, openai_mock: Any) -> None:
    model = model_for(openai_mock.base_url + "/v1/embeddings")
    results = await service.infer(model, ["first text", "second text"])
    assert results == [TextEmbedding(mock_embedding("first text", 8)), TextEmbedding(mock_embedding("second text", 8))]
    sent = openai_mock.config.last_request
    assert sent.method == "POST"
    assert sent.path == "/v1/embeddings"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert "OpenAI-Organization" not in sent.headers
    assert sent.body == {"input": ["first text", "second text"], "model": "text-embedding-3-small"}


async def test_request_with_organization_and_user(service: OpenAiService, openai_mock: Any) -> None:
    model = service.parse_request(
        "my-model",
        TaskType.TEXT_EMBEDDING,
        request_config(
            service_settings={"api_key": API_KEY, "url": openai_mock.base_url + "/v1/embeddings", "organization_id": "org-7"},
            task_settings={"model": "m", "user": "caller-1"},
        ),
    )
    await service.infer(model, ["x"])
    sent = openai_mock.config.last_request
    assert sent.headers["OpenAI-Organization"] == "org-7"
    assert list(sent.body.items()) == [("input", ["x"]), ("model", "m"), ("user", "caller-1")]


async def test_embeddings_follow_array_order_not_index(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(
        200,
        {"object": "list", "data": [{"index": 1, "embedding": [1.0]}, {"index": 0, "embedding": [0.5]}]},
    )
    results = await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["a", "b"])
    assert results == [TextEmbedding([1.0]), TextEmbedding([0.5])]


class Captured(Exception):
    pass


def capturing_context(context: ServiceContext) -> tuple[ServiceContext, MagicMock]:
    """A context whose session records the call instead of making it; egress is stubbed (no DNS here)."""
    http = MagicMock()
    http.post.side_effect = Captured
    return ServiceContext(context.settings, http, context.es, MagicMock(spec=EgressPolicy)), http


async def test_default_url(context: ServiceContext) -> None:
    offline, http = capturing_context(context)
    with pytest.raises(Captured):
        await OpenAiService(offline).infer(model_for(None), ["hello"])
    (url, body, headers), _ = http.post.call_args
    assert url == DEFAULT_URL == "https://api.openai.com/v1/embeddings"
    assert orjson.loads(body) == {"input": ["hello"], "model": "text-embedding-3-small"}
    assert headers == {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    offline.egress.check_url.assert_called_once_with(DEFAULT_URL)  # type: ignore[attr-defined]


async def test_max_input_tokens_cuts_inputs_up_front(service: OpenAiService, openai_mock: Any) -> None:
    model = model_for(openai_mock.base_url + "/v1/embeddings", max_input_tokens=2)
    await service.infer(model, ["abcdefghij", "abc"])
    assert openai_mock.config.last_request.body["input"] == ["abcdef", "abc"]
    assert openai_mock.config.calls == 1


# --- infer: statuses ---------------------------------------------------------------------------------------------


def openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "message", "retryable", "too_large", "upstream"),
    [
        (500, openai_error("boom"), {}, "Received a server error status code", True, False, "boom"),
        (503, openai_error("busy"), {}, "Received a server busy error status code", True, False, "busy"),
        (502, "<html>bad gateway</html>", {}, "Received a server error status code", False, False, None),
        (
            429,
            openai_error("slow down"),
            RATE_LIMIT_HEADERS,
            "Received a rate limit status code. Token limit [1000000], remaining tokens [999]. "
            "Request limit [3000], remaining requests [0]",
            True,
            False,
            "slow down",
        ),
        (
            429,
            None,
            {},
            "Received a rate limit status code. Token limit [unknown], remaining tokens [unknown]. "
            "Request limit [unknown], remaining requests [unknown]",
            True,
            False,
            "Scripted failure with status 429",
        ),
        (401, openai_error(f"Incorrect API key provided: {API_KEY}"), {},
         "Received an authentication error status code", False, False, None),
        (302, "", {"Location": "http://169.254.169.254/"}, "Unhandled redirection", False, False, None),
        (400, openai_error("bad model"), {}, "Received an unsuccessful status code", False, False, "bad model"),
        (404, {"error": {"message": ""}}, {}, "Received an unsuccessful status code", False, False, None),
    ],
)
async def test_status_mapping(
    service: OpenAiService,
    openai_mock: Any,
    status: int,
    body: Any,
    headers: dict[str, str],
    message: str,
    retryable: bool,
    too_large: bool,
    upstream: str | None,
) -> None:
    openai_mock.config.fail_next(status, body, headers)
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    error = caught.value
    assert (error.message, error.status, error.retryable, error.content_too_large, error.upstream_message) == (
        message, status, retryable, too_large, upstream
    )
    assert openai_mock.config.calls == 1
    assert API_KEY not in repr(error.to_es_error("my-model").body())


async def test_to_es_error_for_a_rate_limit(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(429, openai_error("slow down"), {**RATE_LIMIT_HEADERS, "Retry-After": "7"})
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert caught.value.retry_after == 7.0
    assert caught.value.to_es_error("my-model").body() == es_body(
        429,
        "status_exception",
        "Received a rate limit status code. Token limit [1000000], remaining tokens [999]. Request limit [3000], "
        "remaining requests [0] for request from inference entity id [my-model] status [429]. "
        "Error message: [slow down]",
    )


async def test_a_full_key_echoed_upstream_is_redacted(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(400, openai_error(f"key {API_KEY} is not allowed for this model"))
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert caught.value.upstream_message == "key [REDACTED] is not allowed for this model"


async def test_server_error_maps_to_400_for_the_caller(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(500, openai_error("boom"))
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert caught.value.to_es_error("my-model").status == 400


# --- infer: content too large and truncation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (413, None),
        (400, openai_error("This model's maximum context length is 8191 tokens. Please reduce your prompt; or "
                           "completion length.")),
    ],
)
async def test_content_too_large_retries_once_truncated(
    service: OpenAiService, openai_mock: Any, status: int, body: Any
) -> None:
    openai_mock.config.fail_next(status, body)
    results = await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["abcdefghi", "xy", ""])
    sent = [request.body["input"] for request in openai_mock.config.requests]
    assert sent == [["abcdefghi", "xy", ""], ["abcd", "x", ""]]
    assert results == [TextEmbedding(mock_embedding(text, 8)) for text in ["abcd", "x", ""]]


async def test_truncation_against_the_mock_limit(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.max_input_chars = 10
    results = await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["0123456789abcdef"])
    assert results == [TextEmbedding(mock_embedding("01234567", 8))]
    assert openai_mock.config.calls == 2


async def test_content_too_large_twice_fails(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(413, None, times=3)
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["abcdefgh"])
    assert caught.value.content_too_large
    assert caught.value.message == "Received a content too large status code"
    assert not caught.value.retryable
    assert [r.body["input"] for r in openai_mock.config.requests] == [["abcdefgh"], ["abcd"]]


async def test_other_failures_are_not_retried_by_the_plugin(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(500, None)
    with pytest.raises(ProviderError):
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert openai_mock.config.calls == 1


# --- infer: bodies that cannot be used, transport failures, egress ---------------------------------------------


async def test_missing_data(service: OpenAiService, openai_mock: Any) -> None:
    url = openai_mock.base_url + "/v1/embeddings"
    openai_mock.config.fail_next(200, {"object": "list"})
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(model_for(url), ["x"])
    assert caught.value.retryable
    assert caught.value.to_es_error("my-model").body() == {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": f"Failed to send OpenAI embeddings request to [{url}]"}],
            "type": "status_exception",
            "reason": f"Failed to send OpenAI embeddings request to [{url}]",
            "caused_by": {
                "type": "illegal_state_exception",
                "reason": "Failed to find required field [data] in OpenAI embeddings response",
            },
        },
        "status": 500,
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "Failed to find required field [data] in OpenAI embeddings response"),
        ({"data": [{"index": 0}]}, "Failed to find required field [embedding] in OpenAI embeddings response"),
        ({"data": [{"embedding": [1.0]}]}, "Expected [2] embeddings in OpenAI embeddings response, received [1]"),
    ],
)
async def test_unusable_bodies(service: OpenAiService, openai_mock: Any, body: Any, reason: str) -> None:
    openai_mock.config.fail_next(200, body)
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x", "y"])
    assert caught.value.message == reason
    assert caught.value.retryable


async def test_pretty_printed_vectors_are_served_compact(service: OpenAiService, openai_mock: Any) -> None:
    # OpenAI indents its JSON; the vectors are passed on as sent, less the whitespace.
    body = '{\n  "object": "list",\n  "data": [\n    {\n      "object": "embedding",\n      "index": 0,\n      "embedding": [\n'
    body += '        0.0069292835,\n        -1e-05,\n        2\n      ]\n    }\n  ],\n  "model": "m"\n}\n'
    openai_mock.config.fail_next(200, body)
    results = await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert [result.json for result in results] == [b"[0.0069292835,-1e-05,2]"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "token"),
    [("0.5", "VALUE_STRING"), (None, "VALUE_NULL"), (True, "VALUE_BOOLEAN"), ([1.0], "START_ARRAY"), ({}, "START_OBJECT")],
)
async def test_a_vector_value_that_is_not_a_number(service: OpenAiService, openai_mock: Any, value: Any, token: str) -> None:
    url = openai_mock.base_url + "/v1/embeddings"
    openai_mock.config.fail_next(200, {"data": [{"embedding": [0.25]}, {"embedding": [0.5, value]}]})
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(model_for(url), ["x", "y"])
    assert caught.value.retryable
    assert caught.value.to_es_error("my-model").body()["error"]["caused_by"] == {
        "type": "parsing_exception",
        "reason": f"Failed to parse object: expecting token of type [VALUE_NUMBER] but found [{token}]",
    }


async def test_empty_body(service: OpenAiService, openai_mock: Any) -> None:
    url = openai_mock.base_url + "/v1/embeddings"
    openai_mock.config.fail_next(200, None)
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(model_for(url), ["x"])
    assert not caught.value.retryable
    assert caught.value.message == f"Response body was empty for request [POST {url} HTTP/1.1]"


async def test_timeout(context: ServiceContext, openai_mock: Any) -> None:
    fast = ServiceContext(Settings(provider_timeout=0.05), context.http, context.es, context.egress)
    openai_mock.config.latency = 0.5
    url = openai_mock.base_url + "/v1/embeddings"
    with pytest.raises(UpstreamFailure) as caught:
        await OpenAiService(fast).infer(model_for(url), ["x"])
    assert caught.value.to_es_error("my-model").body()["error"]["caused_by"] == {
        "type": "timeout_exception",
        "reason": "The request timed out after [0.05s]",
    }


async def test_unreachable(service: OpenAiService, unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/v1/embeddings"
    with pytest.raises(UpstreamFailure) as caught:
        await service.infer(model_for(url), ["x"])
    assert not caught.value.retryable
    body = caught.value.to_es_error("my-model").body()
    assert body["status"] == 500
    assert body["error"]["reason"] == f"Failed to send OpenAI embeddings request to [{url}]"
    assert body["error"]["caused_by"]["type"] == "connect_exception"


async def test_an_answer_over_the_size_limit(context: ServiceContext, openai_mock: Any) -> None:
    http = HttpClient(max_response_bytes=64)
    small = ServiceContext(context.settings, http, context.es, context.egress)
    url = openai_mock.base_url + "/v1/embeddings"
    try:
        with pytest.raises(UpstreamFailure) as caught:
            await OpenAiService(small).infer(model_for(url), ["x"])
    finally:
        await http.close()
    assert not caught.value.retryable
    assert caught.value.to_es_error("my-model").body() == {
        "error": {
            "root_cause": [
                {"type": "status_exception", "reason": f"Failed to send OpenAI embeddings request to [{url}]"}
            ],
            "type": "status_exception",
            "reason": f"Failed to send OpenAI embeddings request to [{url}]",
            "caused_by": {"type": "i_o_exception", "reason": "Maximum limit of [64] bytes reached"},
        },
        "status": 500,
    }


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/v1/embeddings"])
async def test_egress_refusal(context: ServiceContext, url: str) -> None:
    http = MagicMock()
    guarded = ServiceContext(context.settings, http, context.es, context.egress)
    with pytest.raises(ElasticsearchError) as caught:
        await OpenAiService(guarded).infer(model_for(url), ["x"])
    host = url.split("/")[2].strip("[]")
    assert caught.value.body() == es_body(
        400, "status_exception", f"The url host [{host}] is not allowed by the sidecar's egress policy"
    )
    http.post.assert_not_called()


async def test_redirects_are_not_followed(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.fail_next(307, "", {"Location": openai_mock.base_url + "/v1/embeddings"})
    with pytest.raises(ProviderError) as caught:
        await service.infer(model_for(openai_mock.base_url + "/v1/embeddings"), ["x"])
    assert caught.value.message == "Unhandled redirection"
    assert openai_mock.config.calls == 1


# --- Retry-After ----------------------------------------------------------------------------------------------------


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({key.replace("_", "-"): value for key, value in values.items()}))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, None),
        ({"Retry_After": "3"}, 3.0),
        ({"Retry_After": " 1.5 "}, 1.5),
        ({"Retry_After": "-1"}, None),
        ({"Retry_After": "soon"}, None),
        ({"Retry_After": "nan"}, None),
        ({"retry_after_ms": "250", "Retry_After": "1"}, 0.25),
        ({"retry_after_ms": "bad", "Retry_After": "2"}, 2.0),
    ],
)
def test_parse_retry_after(values: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers(**values)) == expected


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(headers(Retry_After=date), now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(headers(Retry_After=past), now=now) == 0.0

