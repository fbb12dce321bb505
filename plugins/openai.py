"""The `openai` service: `text_embedding` through the OpenAI embeddings API.

ES classes mirrored: `OpenAiService`, `OpenAiServiceSettings` (8.12) / `OpenAiEmbeddingsServiceSettings` (8.13+),
`OpenAiEmbeddingsTaskSettings`, `DefaultSecretSettings`, `OpenAiEmbeddingsRequestEntity`, `OpenAiResponseHandler`,
`OpenAiEmbeddingsResponseEntity`. The request and response shapes follow `api_compat`: 8.12 keeps the model in
`task_settings.model`, 8.15 in `service_settings.model_id`. A stored configuration keeps the shape of the dialect
that created it; everything that reads one accepts either.
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
from sidecar.domain.errors import ProviderError, status_exception
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import Embedding, TextEmbedding
from sidecar.domain.service import InferenceService
from sidecar.domain.settings_map import (
    SERVICE_SETTINGS,
    TASK_SETTINGS,
    Validation,
    check_url,
    extract_optional_positive_int,
    extract_optional_string,
    extract_rate_limit,
    extract_required_string,
    extract_similarity,
    remove_as_type,
    remove_map_or_default_empty,
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
DEFAULT_REQUESTS_PER_MINUTE = 3000  # ES 8.14+ `OpenAiEmbeddingsServiceSettings.DEFAULT_RATE_LIMIT_SETTINGS`
DEFAULT_RATE_LIMIT = {"requests_per_minute": DEFAULT_REQUESTS_PER_MINUTE}
DIMENSIONS_SET_BY_USER = "dimensions_set_by_user"


class OpenAiServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str | None = None
    organization_id: str | None = None
    similarity: str | None = None
    dimensions: int | None = None
    max_input_tokens: int | None = None
    rate_limit: dict[str, int] | None = None
    # 8.13+: the model moved here from `task_settings.model` (ES `OpenAiEmbeddingsServiceSettings`).
    model_id: str | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any]) -> OpenAiServiceSettings:
        """ES 8.12 `OpenAiServiceSettings.fromMap`: removes the keys it reads from `settings`."""
        validation = Validation()
        url = extract_optional_string(settings, "url", SERVICE_SETTINGS, validation)
        organization_id = extract_optional_string(settings, "organization_id", SERVICE_SETTINGS, validation)
        similarity = extract_similarity(settings, SERVICE_SETTINGS, validation)
        # 8.12 takes any integer here (`removeAsType`); a limit below 1 is stored as given but never applied.
        dimensions = remove_as_type(settings, "dimensions", int)
        max_input_tokens = remove_as_type(settings, "max_input_tokens", int)
        rate_limit = extract_rate_limit(settings, validation, NAME)
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
    def from_request_815(cls, settings: dict[str, Any]) -> OpenAiServiceSettings:
        """ES 8.15 `OpenAiEmbeddingsServiceSettings.fromMap` (request context), in its order of checks."""
        validation = Validation()
        url = extract_optional_string(settings, "url", SERVICE_SETTINGS, validation)
        organization_id = extract_optional_string(settings, "organization_id", SERVICE_SETTINGS, validation)
        similarity = extract_similarity(settings, SERVICE_SETTINGS, validation)
        max_input_tokens = extract_optional_positive_int(settings, "max_input_tokens", SERVICE_SETTINGS, validation)
        dimensions = extract_optional_positive_int(settings, "dimensions", SERVICE_SETTINGS, validation)
        url = check_url(url, "url", SERVICE_SETTINGS, validation)
        model_id = extract_required_string(settings, "model_id", SERVICE_SETTINGS, validation)
        rate_limit = extract_rate_limit(settings, validation, NAME)
        validation.raise_if_any()
        return cls(
            url=url,
            organization_id=organization_id,
            similarity=similarity,
            dimensions=dimensions,
            max_input_tokens=max_input_tokens,
            rate_limit=rate_limit,
            model_id=model_id,
        )

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> OpenAiServiceSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        """ES 8.12 key order: url, organization_id, similarity, dimensions, max_input_tokens, rate_limit; no nulls."""
        return self.model_dump(exclude_none=True, exclude={"model_id"})

    def to_public_815(self) -> dict[str, Any]:
        """ES 8.15 `toXContentFragmentOfExposedFields`: `model_id` first; `rate_limit` always, with its default."""
        public: dict[str, Any] = {"model_id": self.model_id, **self.to_public()}
        public["rate_limit"] = dict(self.rate_limit or DEFAULT_RATE_LIMIT)
        return public


class OpenAiTaskSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Required in 8.12; 8.13+ keep the model in `service_settings.model_id` instead.
    model: str | None = None
    user: str | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any]) -> OpenAiTaskSettings:
        """ES 8.12 `OpenAiEmbeddingsTaskSettings.fromMap`."""
        validation = Validation()
        model = extract_required_string(settings, "model", TASK_SETTINGS, validation)
        user = extract_optional_string(settings, "user", TASK_SETTINGS, validation)
        validation.raise_if_any()
        assert model is not None
        return cls(model=model, user=user)

    @classmethod
    def from_request_815(cls, settings: dict[str, Any]) -> OpenAiTaskSettings:
        """ES 8.15 `OpenAiEmbeddingsTaskSettings.fromMap`: `user` only."""
        validation = Validation()
        user = extract_optional_string(settings, "user", TASK_SETTINGS, validation)
        validation.raise_if_any()
        return cls(user=user)

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> OpenAiTaskSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def move_model_to_service_settings(task_settings: dict[str, Any], service_settings: dict[str, Any]) -> None:
    """ES 8.13+ `OpenAiService.moveModelFromTaskToServiceSettings`: an 8.12-style `task_settings.model` (or a
    `task_settings.model_id`) becomes `service_settings.model_id`, unless that is already there."""
    if "model_id" in service_settings:
        return
    old = task_settings.pop("model", None)
    service_settings["model_id"] = old if old is not None else task_settings.pop("model_id", None)


def effective_model(service: OpenAiServiceSettings, task: OpenAiTaskSettings) -> str | None:
    """The model of a stored configuration of either dialect; an 8.12 request override lands in `task_settings`."""
    return task.model or service.model_id


class OpenAiService(InferenceService):
    name: ClassVar[str] = NAME
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.TEXT_EMBEDDING})
    default_batch_limit: ClassVar[int] = 2048
    default_requests_per_minute: ClassVar[int | None] = DEFAULT_REQUESTS_PER_MINUTE

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        if self.dialect == "8.15":
            return self._parse_request_815(model_id, task_type, config)
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

    def _parse_request_815(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        """ES 8.15 `OpenAiService.parseRequestConfig`: `task_settings` optional, the model in `service_settings`."""
        config = dict(config)
        config.pop("service", None)
        service_map = remove_map_or_throw(config, SERVICE_SETTINGS)
        task_map = remove_map_or_default_empty(config, TASK_SETTINGS)
        move_model_to_service_settings(task_map, service_map)
        self.check_task_type(task_type)
        service_settings = OpenAiServiceSettings.from_request_815(service_map)
        task_settings = OpenAiTaskSettings.from_request_815(task_map)
        secrets = ApiKeySecrets.from_request(service_map).to_secrets()
        throw_if_not_empty(config, NAME)
        throw_if_not_empty(service_map, NAME)
        throw_if_not_empty(task_map, NAME)
        if service_settings.dimensions is not None:
            # ES keeps `dimensions_set_by_user` in the stored configuration but never shows it; the sidecar's stored
            # configuration is what GET shows, so the flag travels with the (never shown) secrets.
            secrets[DIMENSIONS_SET_BY_USER] = True
        return Model(
            ModelConfig(model_id, task_type, NAME, service_settings.to_public_815(), task_settings.to_public()),
            secrets,
        )

    def parse_stored(self, config: ModelConfig, secrets: dict[str, Any]) -> Model:
        OpenAiServiceSettings.from_stored(config.service_settings)
        OpenAiTaskSettings.from_stored(config.task_settings)
        return Model(config, secrets)

    def public_config(self, config: ModelConfig) -> ModelConfig:
        """A stored configuration of either dialect as this dialect shows it (8.12: `task_settings.model`;
        8.13+: `service_settings.model_id` and a `rate_limit` that is always shown)."""
        service = OpenAiServiceSettings.from_stored(config.service_settings)
        task = OpenAiTaskSettings.from_stored(config.task_settings)
        model = effective_model(service, task)
        if self.dialect == "8.15":
            service_public = service.model_copy(update={"model_id": model}).to_public_815()
            task_public = task.model_copy(update={"model": None}).to_public()
        else:
            if service.model_id is not None and service.rate_limit == DEFAULT_RATE_LIMIT:
                service = service.model_copy(update={"rate_limit": None})  # 8.15 shows the default; 8.12 does not
            service_public = service.to_public()
            task_public = task.model_copy(update={"model": model}).to_public()
        return ModelConfig(config.model_id, config.task_type, config.service, service_public, task_public)

    def with_task_settings(self, model: Model, task_settings: dict[str, Any]) -> Model:
        """ES `OpenAiEmbeddingsRequestTaskSettings`: a request may override `model` (8.12 only) and `user`; other
        keys are ignored."""
        if not task_settings:
            return model
        overrides = dict(task_settings)
        validation = Validation()
        keys = ("model", "user") if self.dialect == "8.12" else ("user",)
        requested = {key: extract_optional_string(overrides, key, TASK_SETTINGS, validation) for key in keys}
        validation.raise_if_any()
        merged = {**model.config.task_settings, **{k: v for k, v in requested.items() if v is not None}}
        if merged == model.config.task_settings:
            return model
        config = model.config
        return Model(
            ModelConfig(config.model_id, config.task_type, config.service, config.service_settings, merged),
            model.secrets,
        )

    async def prepare(self, model: Model) -> Model:
        """ES `checkModelConfig`: one probe call for the vector length.

        8.12 stores `similarity: dot_product` whatever was asked; 8.13+ keep a requested similarity, and refuse a
        vector length other than the `dimensions` the request asked for.
        """
        dimensions = await probe_embedding_size(self.context, model.model_id, lambda texts: self.infer(model, texts))
        settings = OpenAiServiceSettings.from_stored(model.config.service_settings)
        if self.dialect == "8.12":
            updated = settings.model_copy(update={"similarity": "dot_product", "dimensions": dimensions})
            return with_service_settings(model, updated.to_public())
        if model.secrets.get(DIMENSIONS_SET_BY_USER) and settings.dimensions != dimensions:
            raise status_exception(
                f"The retrieved embeddings size [{dimensions}] does not match the size specified in the settings "
                f"[{settings.dimensions}]. Please recreate the [{model.model_id}] configuration with the correct "
                "dimensions"
            )
        similarity = settings.similarity or "dot_product"
        updated = settings.model_copy(update={"similarity": similarity, "dimensions": dimensions})
        return with_service_settings(model, updated.to_public_815())

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        settings = OpenAiServiceSettings.from_stored(model.config.service_settings)
        task = OpenAiTaskSettings.from_stored(model.config.task_settings)
        api_key = ApiKeySecrets.from_stored(model.secrets, model.model_id).api_key.get_secret_value()
        url = settings.url or DEFAULT_URL
        headers = {"Authorization": f"Bearer {api_key}"}
        if settings.organization_id is not None:
            headers["OpenAI-Organization"] = settings.organization_id
        failed_to_send = failed_to_send_message("OpenAI embeddings", settings.url)
        payload_base: dict[str, Any] = {"model": effective_model(settings, task)}
        if task.user is not None:
            payload_base["user"] = task.user
        if model.secrets.get(DIMENSIONS_SET_BY_USER) and settings.dimensions is not None:
            # ES 8.13+ `OpenAiEmbeddingsRequestEntity`: only dimensions the user asked for are sent.
            payload_base["dimensions"] = settings.dimensions

        async def send(texts: list[str]) -> list[TextEmbedding]:
            response = await post_json(
                self.context, url, {"input": texts, **payload_base}, headers, failed_to_send=failed_to_send
            )
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
