"""The `hugging_face` and `hugging_face_elser` services: a Hugging Face Inference Endpoint.

`hugging_face`: `text_embedding` (ES `HuggingFaceEmbeddingsModel`) and `sparse_embedding` (ES
`HuggingFaceElserModel`: an ELSER model served by the endpoint); `hugging_face_elser` (ES `HuggingFaceElserService`):
`sparse_embedding` only, the same way. ES classes mirrored: `HuggingFaceBaseService`, `HuggingFaceService`,
`HuggingFaceServiceSettings`, `HuggingFaceElserServiceSettings`, `DefaultSecretSettings`,
`HuggingFaceInferenceRequestEntity`, `HuggingFaceResponseHandler`, `HuggingFaceEmbeddingsResponseEntity`,
`HuggingFaceElserResponseEntity`.

Both dialects read the same request keys (8.15 refuses `dimensions` / `max_input_tokens` below 1). What 8.15 shows
differs: `rate_limit` always, with its default, and for `sparse_embedding` the fixed `max_input_tokens` of ELSER, which
8.15 also applies (inputs cut to 512 tokens). A stored configuration keeps the shape of the dialect that created it;
everything that reads one accepts either.
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
from sidecar.domain.model import Dialect, Model, ModelConfig
from sidecar.domain.results import Embedding, SparseEmbedding, TextEmbedding
from sidecar.domain.service import InferenceService
from sidecar.domain.settings_map import (
    SERVICE_SETTINGS,
    Validation,
    check_url,
    extract_optional_positive_int,
    extract_rate_limit,
    extract_required_string,
    extract_similarity,
    remove_as_type,
    remove_map_or_throw,
    throw_if_not_empty,
)
from sidecar.domain.task_type import TaskType

__all__ = [
    "ApiKeySecrets",
    "HuggingFaceElserServiceSettings",
    "HuggingFaceService",
    "HuggingFaceServiceSettings",
]

NAME = "hugging_face"
ELSER_NAME = "hugging_face_elser"
DEFAULT_SIMILARITY = "cosine"
MISSING_EMBEDDINGS = "Failed to find required field [embeddings] in Hugging Face embeddings response"
BAD_SPARSE_RESPONSE = "Failed to parse the Hugging Face ELSER response: expected an array of token-weight objects"
RETRYABLE_STATUSES = frozenset({429, 502, 503})
# ES 8.15 `HuggingFaceServiceSettings` / `HuggingFaceElserServiceSettings.DEFAULT_RATE_LIMIT_SETTINGS`.
DEFAULT_REQUESTS_PER_MINUTE = 3000
DEFAULT_RATE_LIMIT = {"requests_per_minute": DEFAULT_REQUESTS_PER_MINUTE}
# ES 8.13+ `HuggingFaceElserServiceSettings.ELSER_TOKEN_LIMIT`: shown as `max_input_tokens`, never read from a request.
ELSER_TOKEN_LIMIT = 512
MAX_INPUT_TOKENS = "max_input_tokens"


def _extract_url(settings: dict[str, Any], validation: Validation) -> str | None:
    """ES `HuggingFaceServiceSettings.extractUri`: required, then parsed as a URI."""
    url = extract_required_string(settings, "url", SERVICE_SETTINGS, validation)
    return check_url(url, "url", SERVICE_SETTINGS, validation)


class HuggingFaceServiceSettings(BaseModel):
    """`text_embedding` settings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str
    similarity: str | None = None
    dimensions: int | None = None
    max_input_tokens: int | None = None
    rate_limit: dict[str, int] | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any], dialect: Dialect = "8.12") -> HuggingFaceServiceSettings:
        validation = Validation()
        url = _extract_url(settings, validation)
        similarity = extract_similarity(settings, SERVICE_SETTINGS, validation)
        if dialect == "8.12":
            # 8.12 takes any integer here (`removeAsType`); a limit below 1 is stored as given but never applied.
            dimensions = remove_as_type(settings, "dimensions", int)
            max_input_tokens = remove_as_type(settings, "max_input_tokens", int)
        else:  # 8.15 `HuggingFaceServiceSettings.fromMap`: `extractOptionalPositiveInteger`
            dimensions = extract_optional_positive_int(settings, "dimensions", SERVICE_SETTINGS, validation)
            max_input_tokens = extract_optional_positive_int(settings, "max_input_tokens", SERVICE_SETTINGS, validation)
        rate_limit = extract_rate_limit(settings, validation, NAME)
        validation.raise_if_any()
        assert url is not None
        return cls(
            url=url,
            similarity=similarity,
            dimensions=dimensions,
            max_input_tokens=max_input_tokens,
            rate_limit=rate_limit,
        )

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> HuggingFaceServiceSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        """ES key order: url, similarity, dimensions, max_input_tokens; nulls left out."""
        return self.model_dump(exclude_none=True)

    def to_public_815(self) -> dict[str, Any]:
        """ES 8.15 `toXContentFragmentOfExposedFields`: the 8.12 keys, then `rate_limit` always, with its default."""
        public = self.model_dump(exclude_none=True, exclude={"rate_limit"})
        public["rate_limit"] = _rate_limit(self.rate_limit)
        return public


class HuggingFaceElserServiceSettings(BaseModel):
    """`sparse_embedding` settings: the endpoint URL (and the sidecar's `rate_limit`); other keys are unknown.

    A stored 8.15 configuration also holds the fixed `max_input_tokens`, which is ignored here.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str
    rate_limit: dict[str, int] | None = None

    @classmethod
    def from_request(cls, settings: dict[str, Any]) -> HuggingFaceElserServiceSettings:
        validation = Validation()
        url = _extract_url(settings, validation)
        # ES 8.15 `HuggingFaceElserServiceSettings` names `hugging_face` here for both services.
        rate_limit = extract_rate_limit(settings, validation, NAME)
        validation.raise_if_any()
        assert url is not None
        return cls(url=url, rate_limit=rate_limit)

    @classmethod
    def from_stored(cls, settings: dict[str, Any]) -> HuggingFaceElserServiceSettings:
        return cls.model_validate(settings)

    def to_public(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def to_public_815(self) -> dict[str, Any]:
        """ES 8.15 `toXContentFragmentOfExposedFields`: url, the ELSER token limit, `rate_limit` with its default."""
        return {"url": self.url, MAX_INPUT_TOKENS: ELSER_TOKEN_LIMIT, "rate_limit": _rate_limit(self.rate_limit)}


def _rate_limit(rate_limit: dict[str, int] | None) -> dict[str, int]:
    return dict(rate_limit or DEFAULT_RATE_LIMIT)


class HuggingFaceService(InferenceService):
    name: ClassVar[str] = NAME
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.TEXT_EMBEDDING, TaskType.SPARSE_EMBEDDING})
    # Inputs per call to the endpoint. Embedding endpoints run Text Embeddings Inference, whose
    # `--max-client-batch-size` defaults to 32 and which answers a larger batch with 413 (no truncation helps).
    # ES 8.12 sends a caller's inputs in one request; the engine also merges callers, so stay at TEI's default
    # unless SIDECAR_HUGGING_FACE_BATCH_SIZE says otherwise.
    default_batch_limit: ClassVar[int] = 32
    default_requests_per_minute: ClassVar[int | None] = DEFAULT_REQUESTS_PER_MINUTE

    def batch_limit(self, model: Model) -> int:
        return self.context.settings.hugging_face_batch_size

    def parse_request(self, model_id: str, task_type: TaskType, config: dict[str, Any]) -> Model:
        """ES `HuggingFaceBaseService.parseRequestConfig` (8.12 and 8.15 alike): the model as the request gives it;
        `prepare` adds what 8.15 shows by default."""
        # Only `service_settings` is read: a `task_settings` key (even `{}`) is left over and reported as unknown.
        config = dict(config)
        config.pop("service", None)
        service_map = remove_map_or_throw(config, SERVICE_SETTINGS)
        self.check_task_type(task_type)
        settings: HuggingFaceServiceSettings | HuggingFaceElserServiceSettings
        if task_type is TaskType.TEXT_EMBEDDING:
            settings = HuggingFaceServiceSettings.from_request(service_map, self.dialect)
        else:
            settings = HuggingFaceElserServiceSettings.from_request(service_map)
        secrets = ApiKeySecrets.from_request(service_map)
        throw_if_not_empty(config, self.name)
        throw_if_not_empty(service_map, self.name)
        return Model(ModelConfig(model_id, task_type, self.name, settings.to_public(), {}), secrets.to_secrets())

    def parse_stored(self, config: ModelConfig, secrets: dict[str, Any]) -> Model:
        if config.task_type is TaskType.TEXT_EMBEDDING:
            HuggingFaceServiceSettings.from_stored(config.service_settings)
        else:
            HuggingFaceElserServiceSettings.from_stored(config.service_settings)
        return Model(config, secrets)

    def public_config(self, config: ModelConfig) -> ModelConfig:
        """A stored configuration of either dialect as this dialect shows it (8.15: `rate_limit` always; sparse with
        ELSER's `max_input_tokens`)."""
        if config.task_type is TaskType.TEXT_EMBEDDING:
            if self.dialect == "8.12":
                # A stored `rate_limit` is shown as stored: the 8.12 dialect takes it in a request too, so an 8.15
                # default cannot be told from one a user gave.
                return config
            public = HuggingFaceServiceSettings.from_stored(config.service_settings).to_public_815()
        else:
            settings = HuggingFaceElserServiceSettings.from_stored(config.service_settings)
            if self.dialect == "8.15":
                public = settings.to_public_815()
            elif MAX_INPUT_TOKENS not in config.service_settings:
                return config  # stored in the 8.12 shape
            else:
                if settings.rate_limit == DEFAULT_RATE_LIMIT:
                    settings = settings.model_copy(update={"rate_limit": None})  # 8.15 shows the default; 8.12 does not
                public = settings.to_public()
        return ModelConfig(config.model_id, config.task_type, config.service, public, config.task_settings)

    async def prepare(self, model: Model) -> Model:
        """`text_embedding`: one probe call for the vector length; similarity defaults to cosine, the probed length
        replaces any requested `dimensions` (ES 8.12 and 8.15 `updateModelWithEmbeddingDetails`). Sparse: no probe.
        8.15 stores what it shows: `rate_limit` with its default, and for sparse ELSER's `max_input_tokens`."""
        if model.task_type is not TaskType.TEXT_EMBEDDING:
            if self.dialect == "8.12":
                return model
            settings_815 = HuggingFaceElserServiceSettings.from_stored(model.config.service_settings).to_public_815()
            return with_service_settings(model, settings_815)
        dimensions = await probe_embedding_size(self.context, model.model_id, lambda texts: self.infer(model, texts))
        settings = HuggingFaceServiceSettings.from_stored(model.config.service_settings)
        updated = settings.model_copy(
            update={"similarity": settings.similarity or DEFAULT_SIMILARITY, "dimensions": dimensions}
        )
        return with_service_settings(model, updated.to_public() if self.dialect == "8.12" else updated.to_public_815())

    async def infer(self, model: Model, inputs: list[str]) -> list[Embedding]:
        api_key = ApiKeySecrets.from_stored(model.secrets, model.model_id).api_key.get_secret_value()
        headers = {"Authorization": f"Bearer {api_key}"}
        dense = model.task_type is TaskType.TEXT_EMBEDDING
        if dense:
            settings = HuggingFaceServiceSettings.from_stored(model.config.service_settings)
            url, max_input_tokens, what = settings.url, settings.max_input_tokens, "text embeddings"
        else:
            url = HuggingFaceElserServiceSettings.from_stored(model.config.service_settings).url
            # ES 8.15 `HuggingFaceElserModel.getTokenLimit`: every input is cut to ELSER's 512 tokens up front.
            max_input_tokens = ELSER_TOKEN_LIMIT if self.dialect == "8.15" else None
            what = "ELSER"
        failed_to_send = failed_to_send_message(f"Hugging Face {what}", url)

        async def send(texts: list[str]) -> Any:
            response = await post_json(self.context, url, {"inputs": texts}, headers, failed_to_send=failed_to_send)
            if not response.ok:
                raise status_error(response, api_key)
            if not response.body.strip():
                raise empty_body(failed_to_send, url, response.status)
            if dense:
                return parse_embeddings(response, len(texts), failed_to_send)
            return parse_sparse(response, len(texts), failed_to_send)

        results, truncated = await send_with_truncation(truncate_to_tokens(inputs, max_input_tokens), send)
        if dense:
            return list(results)
        return [SparseEmbedding(weights, flag) for weights, flag in zip(results, truncated, strict=True)]


class HuggingFaceElserService(HuggingFaceService):
    name: ClassVar[str] = ELSER_NAME
    task_types: ClassVar[frozenset[TaskType]] = frozenset({TaskType.SPARSE_EMBEDDING})


def status_error(response: UpstreamResponse, api_key: str) -> ProviderError:
    """ES `HuggingFaceResponseHandler.checkForFailureStatusCode`."""
    status = response.status
    if status in RETRYABLE_STATUSES:
        return provider_error(RATE_LIMIT, response, secret=api_key, retryable=True)
    if status >= 500:
        return provider_error(SERVER_ERROR, response, secret=api_key)
    if status == 401:
        return provider_error(AUTHENTICATION, response, secret=api_key)
    if status == 413:
        return provider_error(CONTENT_TOO_LARGE, response, secret=api_key, content_too_large=True)
    if 300 <= status < 400:
        return provider_error(REDIRECTION, response, secret=api_key)
    return provider_error(UNSUCCESSFUL, response, secret=api_key)


class _Embeddings(msgspec.Struct):
    embeddings: list[msgspec.Raw]


_EMBEDDINGS = msgspec.json.Decoder(list[msgspec.Raw] | _Embeddings)


def parse_embeddings(response: UpstreamResponse, expected: int, failed_to_send: str) -> list[TextEmbedding]:
    """ES `HuggingFaceEmbeddingsResponseEntity`: `[[...],[...]]` or `{"embeddings":[[...],[...]]}`."""
    return parse_dense_vectors(
        response, expected, "Hugging Face embeddings", failed_to_send, _raw_vectors, _parse_failure
    )


def _raw_vectors(body: bytes) -> list[msgspec.Raw]:
    decoded = _EMBEDDINGS.decode(body)
    return decoded.embeddings if isinstance(decoded, _Embeddings) else decoded


def _parse_failure(response: UpstreamResponse, failed_to_send: str) -> ProviderError:
    """What ES reports for a 2xx body that is not an embeddings response (found with a full parse)."""
    body = response.json()
    if isinstance(body, dict):
        body = body.get("embeddings")
    if not isinstance(body, list) or not all(isinstance(vector, list) for vector in body):
        return unparsable(failed_to_send, MISSING_EMBEDDINGS, response.status)
    return not_a_number(failed_to_send, body, response.status) or unparsable(
        failed_to_send, MISSING_EMBEDDINGS, response.status
    )


def parse_sparse(response: UpstreamResponse, expected: int, failed_to_send: str) -> list[dict[str, float]]:
    """ES `HuggingFaceElserResponseEntity`: `[{"token": weight, ...}, ...]`, one object per input."""
    body = response.json()
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise unparsable(failed_to_send, BAD_SPARSE_RESPONSE, response.status)
    try:
        weights = [{str(token): float(weight) for token, weight in item.items()} for item in body]
    except (TypeError, ValueError):
        raise unparsable(failed_to_send, BAD_SPARSE_RESPONSE, response.status) from None
    if len(weights) != expected:
        raise unparsable(
            failed_to_send,
            f"Expected [{expected}] results in Hugging Face ELSER response, received [{len(weights)}]",
            response.status,
        )
    return weights
