"""What the HTTP-provider plugins share: the JSON POST, ES's status handling pieces, truncation, the probe.

ES names: `BaseResponseHandler` (messages, `toRestStatus`), `Truncator` (3 characters per token; retry once
with every input cut to half), `ActionUtils.createInternalServerError` (failures that are not a status code:
500 `Failed to send ... request to [url]` with the cause under `caused_by`), `ServiceUtils.getEmbeddingSize`
(the PUT-time probe with `["how big"]`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import msgspec
import orjson
from multidict import CIMultiDictProxy

from sidecar.domain.errors import ElasticsearchError, ProviderError, status_exception
from sidecar.domain.model import Model
from sidecar.domain.provider_call import current_call
from sidecar.domain.results import TextEmbedding
from sidecar.domain.service import ServiceContext
from sidecar.engine import timing
from sidecar.engine.retry import RetryPolicy, call_with_retry
from sidecar.http.client import ClientError, ConnectError

T = TypeVar("T")

# BaseResponseHandler's messages.
SERVER_ERROR = "Received a server error status code"
RATE_LIMIT = "Received a rate limit status code"
AUTHENTICATION = "Received an authentication error status code"
REDIRECTION = "Unhandled redirection"
CONTENT_TOO_LARGE = "Received a content too large status code"
UNSUCCESSFUL = "Received an unsuccessful status code"

# ServiceUtils.TEST_EMBEDDING_INPUT and the probe's failure message.
PROBE_INPUT = "how big"
PROBE_FAILED = "Could not determine embedding size"

# Truncator: ES assumes a token every 3 characters; `xpack.inference.truncator.reducation_percentage`.
CHARS_PER_TOKEN = 3
REDUCTION_RATIO = 0.5

@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class UpstreamFailure(ProviderError):
    """A provider call that failed without a usable status: unreachable, timed out, or an unusable 2xx body.

    ES wraps such failures (`ActionUtils.createInternalServerError`): 500 `status_exception`
    `Failed to send <what> request to [<url>]`, with the cause under `caused_by`.
    """

    def __init__(
        self,
        failed_to_send: str,
        cause_type: str,
        cause: str,
        *,
        status: int = 0,
        retryable: bool = False,
    ) -> None:
        super().__init__(cause, status=status, retryable=retryable)
        self.failed_to_send = failed_to_send
        self.cause_type = cause_type

    def to_es_error(self, model_id: str) -> ElasticsearchError:
        return ElasticsearchError(
            500,
            "status_exception",
            self.failed_to_send,
            caused_by={"type": self.cause_type, "reason": self.message},
        )


def failed_to_send_message(what: str, url: str | None) -> str:
    """ES `ActionUtils.constructFailedToSendRequestMessage`."""
    return f"Failed to send {what} request to [{url}]" if url else f"Failed to send {what} request"


async def post_json(
    context: ServiceContext,
    url: str,
    payload: Any,
    headers: dict[str, str],
    *,
    failed_to_send: str,
) -> UpstreamResponse:
    """POST a JSON body; redirects are not followed (ES answers 3xx with `Unhandled redirection`)."""
    context.egress.check_url(url)
    timeout = context.settings.provider_timeout
    body = orjson.dumps(payload)
    try:
        async with asyncio.timeout(timeout):
            response = await context.http.post(url, body, {"Content-Type": "application/json", **headers})
    except TimeoutError:
        raise UpstreamFailure(
            failed_to_send, "timeout_exception", f"The request timed out after [{timeout:g}s]"
        ) from None
    # The client's messages name host and port (public model settings), never the request's headers.
    except ConnectError as exc:
        raise UpstreamFailure(failed_to_send, "connect_exception", str(exc)) from None
    except ClientError as exc:
        raise UpstreamFailure(failed_to_send, "i_o_exception", str(exc)) from None
    return UpstreamResponse(response.status, response.headers, response.body)


# --- status handling ----------------------------------------------------------------------------------


def provider_error(
    message: str,
    response: UpstreamResponse,
    *,
    secret: str | None,
    retryable: bool = False,
    content_too_large: bool = False,
) -> ProviderError:
    """A ProviderError carrying the upstream status, `Retry-After` and the upstream error text.

    The upstream text of a 401 is dropped: providers quote (part of) the rejected key in it.
    """
    upstream = None if response.status == 401 else upstream_error_message(response.json())
    if upstream is not None and secret:
        upstream = upstream.replace(secret, "[REDACTED]")
    return ProviderError(
        message,
        status=response.status,
        retryable=retryable,
        retry_after=parse_retry_after(response.headers),
        content_too_large=content_too_large,
        upstream_message=upstream,
    )


def upstream_error_message(body: Any) -> str | None:
    """`{"error":{"message":"..."}}` (OpenAI) or `{"error":"..."}` (Hugging Face); None otherwise or when empty."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) and error else None


def parse_retry_after(headers: CIMultiDictProxy[str], now: float | None = None) -> float | None:
    """Seconds to wait: OpenAI's `retry-after-ms`, else `Retry-After` as seconds or as an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    header = headers.get("Retry-After")
    if header is None:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        return max(0.0, when.timestamp() - current)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# --- truncation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truncation:
    texts: list[str]
    truncated: list[bool]


def truncate_to_tokens(texts: Sequence[str], max_tokens: int | None) -> Truncation:
    """ES `Truncator.truncate(input, tokenLimit)`: cut to `max_tokens * 3` characters; no limit, no cut.

    A limit below 1 (the 8.12 dialect stores any integer) is not applied: it would cut every input to nothing, where
    ES 8.12 sends "" for 0 and fails for a negative.
    """
    if max_tokens is None or max_tokens < 1:
        return Truncation(list(texts), [False] * len(texts))
    return _cut(texts, [max_tokens * CHARS_PER_TOKEN] * len(texts))


def truncate_by_ratio(texts: Sequence[str], ratio: float = REDUCTION_RATIO) -> Truncation:
    """ES `Truncator.truncate(input)`: cut every input to `floor(len * ratio)` characters."""
    return _cut(texts, [math.floor(len(text) * ratio) for text in texts])


def _cut(texts: Sequence[str], lengths: list[int]) -> Truncation:
    cut = [text[:length] for text, length in zip(texts, lengths, strict=True)]
    return Truncation(cut, [len(new) < len(old) for new, old in zip(cut, texts, strict=True)])


async def send_with_truncation(
    first: Truncation, send: Callable[[list[str]], Awaitable[T]]
) -> tuple[T, list[bool]]:
    """Send; on "content too large", once more with every input cut by the Truncator. Other failures propagate.

    On a call the engine shares between requests, "content too large" propagates too: the engine then sends each
    request on its own (see `sidecar.domain.provider_call`).
    """
    call = current_call()
    try:
        return await send(first.texts), first.truncated
    except ProviderError as exc:
        if not exc.content_too_large or call.shared:
            raise
    call.truncated = True
    retry = truncate_by_ratio(first.texts)
    flags = [before or now for before, now in zip(first.truncated, retry.truncated, strict=True)]
    return await send(retry.texts), flags


# --- the probe ------------------------------------------------------------------------------------------


async def probe_embedding_size(
    context: ServiceContext, model_id: str, infer: Callable[[list[str]], Awaitable[list[Any]]]
) -> int:
    """ES `ServiceUtils.getEmbeddingSize`: embed `["how big"]`; any failure is 400 `Could not determine embedding size`.

    Like any ES inference call the probe is retried (429 and 5xx) within the retry settings. The cause goes
    under `caused_by` without the provider's own error text, which may quote a key.
    """
    settings = context.settings
    policy = RetryPolicy(settings.retry_initial_delay, settings.retry_max_delay, settings.retry_timeout)
    try:
        results = await call_with_retry(
            lambda: infer([PROBE_INPUT]), policy, clock=timing.monotonic, sleep=timing.sleep, rng=random.Random()
        )
    except ProviderError as exc:
        raise _probe_failed(_sanitized_cause(exc, model_id)) from None
    if not results or not getattr(results[0], "embedding", None):
        raise status_exception(PROBE_FAILED)
    return len(results[0].embedding)


def _sanitized_cause(exc: ProviderError, model_id: str) -> dict[str, Any]:
    if isinstance(exc, UpstreamFailure):
        return exc.to_es_error(model_id).body()["error"]
    safe = ProviderError(exc.message, status=exc.status)
    return safe.to_es_error(model_id).body()["error"]


def _probe_failed(cause: dict[str, Any]) -> ElasticsearchError:
    # ES renders the deepest Elasticsearch exception as the root cause.
    root = {"type": cause["type"], "reason": cause["reason"]}
    caused_by = {key: value for key, value in cause.items() if key != "root_cause"}
    return ElasticsearchError(400, "status_exception", PROBE_FAILED, caused_by=caused_by, root_cause=[root])


def empty_body(failed_to_send: str, url: str, status: int) -> UpstreamFailure:
    """ES `HttpUtils.checkForEmptyBody`: a 2xx without a body; not retried."""
    return UpstreamFailure(
        failed_to_send,
        "illegal_state_exception",
        f"Response body was empty for request [POST {url} HTTP/1.1]",
        status=status,
    )


def unparsable(failed_to_send: str, reason: str, status: int) -> UpstreamFailure:
    """A 2xx body without the expected fields; ES retries response-parsing failures."""
    return UpstreamFailure(failed_to_send, "illegal_state_exception", reason, status=status, retryable=True)


# --- dense vectors ------------------------------------------------------------------------------------


def parse_dense_vectors(
    response: UpstreamResponse,
    expected: int,
    what: str,
    failed_to_send: str,
    raw_vectors: Callable[[bytes], Sequence[msgspec.Raw]],
    failure: Callable[[UpstreamResponse, str], ProviderError],
) -> list[TextEmbedding]:
    """The `expected` vectors of a `what` response (e.g. "OpenAI embeddings"), each kept as its JSON array text.

    `raw_vectors` decodes the body with `msgspec.Raw` in place of each vector: msgspec checks that the JSON is
    well-formed without building a float. A body it refuses, or a vector that is not numbers only, is handed to
    `failure`, which parses it fully to name what is wrong.
    """
    try:
        raws = raw_vectors(response.body)
    except msgspec.DecodeError:
        raise failure(response, failed_to_send) from None
    vectors = []
    for raw in raws:
        vector = TextEmbedding.from_json_array(raw)
        if vector is None:
            raise failure(response, failed_to_send)
        vectors.append(vector)
    if len(vectors) != expected:
        raise unparsable(
            failed_to_send,
            f"Expected [{expected}] embeddings in {what} response, received [{len(vectors)}]",
            response.status,
        )
    return vectors


def not_a_number(failed_to_send: str, vectors: Sequence[Any], status: int) -> UpstreamFailure | None:
    """ES `XContentParserUtils.ensureExpectedToken(VALUE_NUMBER, ...)` for the first value that is not a number."""
    for vector in vectors:
        for value in vector:
            if isinstance(value, bool) or not isinstance(value, int | float):
                reason = f"Failed to parse object: expecting token of type [VALUE_NUMBER] but found [{_token(value)}]"
                return UpstreamFailure(failed_to_send, "parsing_exception", reason, status=status, retryable=True)
    return None


def _token(value: Any) -> str:
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if value is None:
        return "VALUE_NULL"
    return "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"


def with_service_settings(model: Model, service_settings: dict[str, Any]) -> Model:
    return dataclasses.replace(model, config=dataclasses.replace(model.config, service_settings=service_settings))
