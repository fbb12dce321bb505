"""The `openai` service (ES 8.12): `text_embedding` through the OpenAI embeddings API.

ES classes mirrored: `OpenAiService`, `OpenAiServiceSettings`, `OpenAiEmbeddingsTaskSettings`,
`DefaultSecretSettings`, `OpenAiEmbeddingsRequestEntity`, `OpenAiResponseHandler`,
`OpenAiEmbeddingsResponseEntity`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from pydantic import BaseModel, ConfigDict

from plugins._http import (
    AUTHENTICATION,
    CONTENT_TOO_LARGE,
    RATE_LIMIT,
    REDIRECTION,
    SERVER_ERROR,
    UNSUCCESSFUL,
    UpstreamResponse,
    empty_body,
    failed_to_send_message,
    not_a_number,
    parse_dense_vectors,
    post_json,
    probe_embedding_size,
    provider_error,
    send_with_truncation,
    truncate_to_tokens,
    unparsable,
    with_service_settings,
)
from plugins._secrets import ApiKeySecrets
from sidecar.domain.errors import ProviderError
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import Embedding, TextEmbedding
from sidecar.domain.service import InferenceService
from sidecar.domain.settings_map import (
    SERVICE_SETTINGS,
    TASK_SETTINGS,
    Validation,
    check_url,
    extract_optional_string,
    extract_rate_limit,
    extract_required_string,
    extract_similarity,
    remove_as_type,
    remove_map_or_throw,
    throw_if_not_empty,
)
from sidecar.domain.task_type import TaskType

NAME = "openai"
DEFAULT_URL = "https://api.openai.com/v1/embeddings"
# OpenAiResponseHandler: a 400 whose error.message contains this means the input was too long.
CONTENT_TOO_LARGE_MESSAGE = "Please reduce your prompt; or completion length."
SERVER_BUSY = "Received a server busy error status code"
RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
)
MISSING_DATA = "Failed to find required field [data] in OpenAI embeddings response"
MISSING_EMBEDDING = "Failed to find required field [embedding] in OpenAI embeddings response"


class OpenAiServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str | None = None
    organization_id: str | None = None
    similarity: str | None = None
    dimensions: int | None = None
    max_input_tokens: int | None = None
    rate_limit: dict[str, int] | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any]) -> OpenAiServiceSettings:
        """ES `OpenAiServiceSettings.fromMap`: removes the keys it reads from `settings`."""
        validation = Validation()
        url = extract_optional_string(settings, "url", SERVICE_SETTINGS, validation)
        organization_id = extract_optional_string(settings, "organization_id", SERVICE_SETTINGS, validation)
        similarity = extract_similarity(settings, SERVICE_SETTINGS, validation)
        dimensions = remove_as_type(settings, "dimensions", int)
        max_input_tokens = remove_as_type(settings, "max_input_tokens", int)
        rate_limit = extract_rate_limit(settings, validation)
        validation.raise_if_any()
        # ES checks the (optional, testing-only) url only once everything else is valid.
        url = check_url(url, "url", SERVICE_SETTINGS, validation)
        validation.raise_if_any()
        return cls(
            url=url,
            organization_id=organization_id,
            similarity=similarity,
            dimensions=dimensions,
            max_input_tokens=max_input_tokens,
            rate_limit=rate_limit,
        )

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> OpenAiServiceSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        """ES key order: url, organization_id, similarity, dimensions, max_input_tokens, rate_limit; nulls left out."""
        return self.model_dump(exclude_none=True)


class OpenAiTaskSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str
    user: str | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any]) -> OpenAiTaskSettings:
        """ES `OpenAiEmbeddingsTaskSettings.fromMap`."""
        validation = Validation()
        model = extract_required_string(settings, "model", TASK_SETTINGS, validation)
        user = extract_optional_string(settings, "user", TASK_SETTINGS, validation)
        validation.raise_if_any()
        assert model is not None
        return cls(model=model, user=user)

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> OpenAiTaskSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class OpenAiService(InferenceService):
    name: ClassVar[str] = NAME
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.TEXT_EMBEDDING})
    default_batch_limit: ClassVar[int] = 2048
    default_requests_per_minute: ClassVar[int | None] = 3000

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        config = dict(config)
        config.pop("service", None)
        service_map = remove_map_or_throw(config, SERVICE_SETTINGS)
        task_map = remove_map_or_throw(config, TASK_SETTINGS)
        self.check_task_type(task_type)
        service_settings = OpenAiServiceSettings.from_request(service_map)
        task_settings = OpenAiTaskSettings.from_request(task_map)
        secrets = ApiKeySecrets.from_request(service_map)
        throw_if_not_empty(config, NAME)
        throw_if_not_empty(service_map, NAME)
        throw_if_not_empty(task_map, NAME)
        return Model(
            ModelConfig(model_id, task_type, NAME, service_settings.to_public(), task_settings.to_public()),
            secrets.to_secrets(),
        )

    def parse_stored(self, config: ModelConfig, secrets: dict[str, Any]) -> Model:
        OpenAiServiceSettings.from_stored(config.service_settings)
        OpenAiTaskSettings.from_stored(config.task_settings)
        return Model(config, secrets)

    def with_task_settings(self, model: Model, task_settings: dict[str, Any]) -> Model:
        """ES `OpenAiEmbeddingsRequestTaskSettings`: a request may override `model` and `user`; others are ignored."""
        if not task_settings:
            return model
        overrides = dict(task_settings)
        validation = Validation()
        requested = {
            key: extract_optional_string(overrides, key, TASK_SETTINGS, validation) for key in ("model", "user")
        }
        validation.raise_if_any()
        merged = {**model.config.task_settings, **{k: v for k, v in requested.items() if v is not None}}
        if merged == model.config.task_settings:
            return model
        config = model.config
        return Model(ModelConfig(config.model_id, config.task_type, config.service, config.service_settings, merged),
                     model.secrets)

    async def prepare(self, model: Model) -> Model:
        """ES `checkModelConfig`: one probe call; stores `similarity: dot_product` and the vector length."""
        dimensions = await probe_embedding_size(self.context, model.model_id, lambda texts: self.infer(model, texts))
        settings = OpenAiServiceSettings.from_stored(model.config.service_settings)
        updated = settings.model_copy(update={"similarity": "dot_product", "dimensions": dimensions})
        return with_service_settings(model, updated.to_public())

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        settings = OpenAiServiceSettings.from_stored(model.config.service_settings)
        task = OpenAiTaskSettings.from_stored(model.config.task_settings)
        api_key = ApiKeySecrets.from_stored(model.secrets, model.model_id).api_key.get_secret_value()
        url = settings.url or DEFAULT_URL
        headers = {"Authorization": f"Bearer {api_key}"}
        if settings.organization_id is not None:
            headers["OpenAI-Organization"] = settings.organization_id
        failed_to_send = failed_to_send_message("OpenAI embeddings", settings.url)

        async def send(texts: list[str]) -> list[TextEmbedding]:
            payload: dict[str, Any] = {"input": texts, "model": task.model}
            if task.user is not None:
                payload["user"] = task.user
            response = await post_json(self.context, url, payload, headers, failed_to_send=failed_to_send)
            if not response.ok:
                raise status_error(response, api_key)
            return parse_embeddings(response, len(texts), url, failed_to_send)

        vectors, _ = await send_with_truncation(truncate_to_tokens(inputs, settings.max_input_tokens), send)
        return list(vectors)


def status_error(response: UpstreamResponse, api_key: str) -> ProviderError:
    """ES `OpenAiResponseHandler.checkForFailureStatusCode`."""
    status = response.status
    if status == 500:
        return provider_error(SERVER_ERROR, response, secret=api_key, retryable=True)
    if status == 503:
        return provider_error(SERVER_BUSY, response, secret=api_key, retryable=True)
    if status > 500:
        return provider_error(SERVER_ERROR, response, secret=api_key)
    if status == 429:
        return provider_error(rate_limit_message(response), response, secret=api_key, retryable=True)
    if _is_content_too_large(response):
        return provider_error(CONTENT_TOO_LARGE, response, secret=api_key, content_too_large=True)
    if status == 401:
        return provider_error(AUTHENTICATION, response, secret=api_key)
    if 300 <= status < 400:
        return provider_error(REDIRECTION, response, secret=api_key)
    return provider_error(UNSUCCESSFUL, response, secret=api_key)


def rate_limit_message(response: UpstreamResponse) -> str:
    """ES `buildRateLimitErrorMessage`: the four `x-ratelimit-*` headers, `unknown` when absent."""
    token_limit, remaining_tokens, request_limit, remaining_requests = (
        response.headers.get(header, "unknown") for header in RATE_LIMIT_HEADERS
    )
    return (
        f"{RATE_LIMIT}. Token limit [{token_limit}], remaining tokens [{remaining_tokens}]. "
        f"Request limit [{request_limit}], remaining requests [{remaining_requests}]"
    )


def _is_content_too_large(response: UpstreamResponse) -> bool:
    if response.status == 413:
        return True
    if response.status != 400:
        return False
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return isinstance(message, str) and CONTENT_TOO_LARGE_MESSAGE in message


class _Embedding(msgspec.Struct):
    embedding: msgspec.Raw


class _EmbeddingsResponse(msgspec.Struct):
    data: list[_Embedding]


_EMBEDDINGS = msgspec.json.Decoder(_EmbeddingsResponse)


def parse_embeddings(response: UpstreamResponse, expected: int, url: str, failed_to_send: str) -> list[TextEmbedding]:
    """ES `OpenAiEmbeddingsResponseEntity`: `data[].embedding` in array order (`index` is not used)."""
    if not response.body.strip():
        raise empty_body(failed_to_send, url, response.status)
    return parse_dense_vectors(
        response,
        expected,
        "OpenAI embeddings",
        failed_to_send,
        lambda body: [item.embedding for item in _EMBEDDINGS.decode(body).data],
        _parse_failure,
    )


def _parse_failure(response: UpstreamResponse, failed_to_send: str) -> ProviderError:
    """What ES reports for a 2xx body that is not an embeddings response (found with a full parse)."""
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return unparsable(failed_to_send, MISSING_DATA, response.status)
    embeddings = [item.get("embedding") if isinstance(item, dict) else None for item in data]
    if not all(isinstance(embedding, list) for embedding in embeddings):
        return unparsable(failed_to_send, MISSING_EMBEDDING, response.status)
    return not_a_number(failed_to_send, embeddings, response.status) or unparsable(
        failed_to_send, MISSING_EMBEDDING, response.status
    )
