"""Local stand-ins for the OpenAI embeddings API and a Hugging Face Inference Endpoint.

Used by the tests and the benchmark; never by the service itself. Each app is configured and observed through
its `MockProviderConfig`: latency, a request-rate limit (token bucket; excess gets 429 with OpenAI's
`x-ratelimit-*` headers and `Retry-After`), scripted failures, the expected API key, input limits, and the
counters `calls`, `inputs_seen`, `last_request` and `requests`.

Vectors are deterministic per input text (`mock_embedding`), so a test can tell which caller got which vector.

    python -m sidecar.testing.mock_providers --port 8089 [--latency-ms 20] [--rate-limit 50] [--api-key KEY]

serves OpenAI at `/v1/embeddings`, Hugging Face embeddings at `/hf` and Hugging Face ELSER (sparse) at `/hf-elser`,
and the counters of all three, read-only, at `GET /_stats` (for a mock in its own process, e.g. the benchmark's).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import math
import re
import struct
import time
from array import array
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

OPENAI_DIMENSIONS = 1536
HUGGING_FACE_DIMENSIONS = 384
OPENAI_PATH = "/v1/embeddings"
HUGGING_FACE_PATH = "/"
STATS_PATH = "/_stats"
OPENAI_CONTENT_TOO_LARGE = (
    "This model's maximum context length is 8192 tokens, however you requested more tokens. "
    "Please reduce your prompt; or completion length."
)

HfShape = Literal["list", "embeddings", "sparse"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedResponse:
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


@dataclass
class MockProviderConfig:
    """How a mock provider behaves, and what it has seen.

    dimensions: vector length (None: 1536 for OpenAI, 384 for Hugging Face).
    latency: seconds each request waits before it is answered.
    rate_limit: requests per second (token bucket of `rate_limit_burst`, default ceil(rate_limit)); None: no limit.
    api_key: the bearer token expected in `Authorization`; None accepts any request.
    max_inputs: more inputs in one call get 413.
    max_input_chars: a longer input gets OpenAI's 400 "Please reduce your prompt; or completion length."
        (Hugging Face: 413), the answers that make the plugins truncate and retry.
    hf_response_shape: `list` (`[[...]]`), `embeddings` (`{"embeddings": [[...]]}`) or `sparse` (`[{tok: w}]`).
    path: the route (None: `/v1/embeddings` for OpenAI, `/` for Hugging Face).
    history: how many requests `requests` keeps.
    """

    dimensions: int | None = None
    latency: float = 0.0
    rate_limit: float | None = None
    rate_limit_burst: int | None = None
    api_key: str | None = None
    max_inputs: int | None = None
    max_input_chars: int | None = None
    hf_response_shape: HfShape = "list"
    path: str | None = None
    history: int = 100

    calls: int = field(default=0, init=False)
    inputs_seen: int = field(default=0, init=False)
    last_request: RecordedRequest | None = field(default=None, init=False)
    requests: deque[RecordedRequest] = field(init=False, repr=False)
    _scripted: deque[ScriptedResponse] = field(default_factory=deque, init=False, repr=False)
    _tokens: float | None = field(default=None, init=False, repr=False)
    _refilled_at: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.requests = deque(maxlen=self.history)

    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` requests with `status`, before any other check.

        `body`: a dict or list is sent as JSON, str or bytes as is; None sends the provider's error JSON (or an
        empty body for a 2xx status).
        """
        self._scripted.append(ScriptedResponse(status, body, dict(headers or {}), times))

    def reset(self) -> None:
        """Forget the counters, the scripted failures and the rate-limit state."""
        self.calls = 0
        self.inputs_seen = 0
        self.last_request = None
        self.requests.clear()
        self._scripted.clear()
        self._tokens = None

    def _record(self, request: web.Request, body: Any) -> None:
        recorded = RecordedRequest(request.method, request.path, dict(request.headers), body)
        self.calls += 1
        self.last_request = recorded
        self.requests.append(recorded)

    def _next_scripted(self) -> ScriptedResponse | None:
        if not self._scripted:
            return None
        scripted = self._scripted[0]
        scripted.remaining -= 1
        if scripted.remaining <= 0:
            self._scripted.popleft()
        return scripted

    def _take_token(self) -> float | None:
        """None when the request may pass; otherwise the seconds until a token is free."""
        if self.rate_limit is None:
            return None
        burst = float(self.rate_limit_burst or max(1, math.ceil(self.rate_limit)))
        now = time.monotonic()
        if self._tokens is None:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (now - self._refilled_at) * self.rate_limit)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.rate_limit

    def _rate_headers(self, wait: float | None) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        per_minute = max(1, round(self.rate_limit * 60))
        headers = {
            "x-ratelimit-limit-requests": str(per_minute),
            "x-ratelimit-remaining-requests": str(max(0, math.floor(self._tokens or 0.0))),
            "x-ratelimit-limit-tokens": "1000000",
            "x-ratelimit-remaining-tokens": "1000000",
        }
        if wait is not None:
            headers["x-ratelimit-reset-requests"] = f"{wait:.3f}s"
            headers["retry-after-ms"] = str(math.ceil(wait * 1000))
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return headers


# --- deterministic outputs ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def _unit_vector(text: str, dimensions: int) -> array[float]:
    # Kept as a packed array: 8 bytes per value, so a full cache of 1536-dimension vectors stays near 25 MB.
    raw = struct.unpack(f"<{dimensions}h", hashlib.shake_256(text.encode("utf-8")).digest(2 * dimensions))
    norm = math.sqrt(math.fsum(value * value for value in raw)) or 1.0
    return array("d", (value / norm for value in raw))


def mock_embedding(text: str, dimensions: int) -> list[float]:
    """The unit vector the mocks return for `text`: seeded from a hash of the text."""
    return _unit_vector(text, dimensions).tolist()


def mock_sparse_embedding(text: str) -> dict[str, float]:
    """The token weights the Hugging Face ELSER mock returns: the text's words, hash-weighted, heaviest first."""
    words = dict.fromkeys(re.findall(r"\w+", text.lower())) or {"empty": None}
    weights = {
        word: round(0.1 + int.from_bytes(hashlib.sha256(f"{text}\x00{word}".encode()).digest()[:2]) / 65535 * 2.9, 4)
        for word in words
    }
    return dict(sorted(weights.items(), key=lambda item: -item[1]))


# --- the apps ---------------------------------------------------------------------------------------------

OPENAI_CONFIG = web.AppKey("mock_openai_config", MockProviderConfig)
HUGGING_FACE_CONFIG = web.AppKey("mock_hugging_face_config", MockProviderConfig)
HUGGING_FACE_ELSER_CONFIG = web.AppKey("mock_hugging_face_elser_config", MockProviderConfig)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def _scripted_response(scripted: ScriptedResponse, default_error: Callable[[str], Any]) -> web.Response:
    body = scripted.body
    if body is None:
        if 200 <= scripted.status < 300:
            return web.Response(status=scripted.status, body=b"", headers=scripted.headers)
        body = default_error(f"Scripted failure with status {scripted.status}")
    if isinstance(body, (dict, list)):
        return _json(scripted.status, body, scripted.headers)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    headers = {"Content-Type": "application/json", **scripted.headers}
    return web.Response(status=scripted.status, body=raw, headers=headers)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


def _masked(key: str) -> str:
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "*" * len(key)


async def _read_json(request: web.Request) -> tuple[bool, Any]:
    raw = await request.read()
    try:
        return True, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, raw.decode("utf-8", "replace")


def _string_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    return None


def _openai_error(message: str, error_type: str = "invalid_request_error", code: str | None = None) -> Any:
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _hf_error(message: str) -> Any:
    return {"error": message}


async def _receive(
    config: MockProviderConfig, request: web.Request, default_error: Callable[[str], Any]
) -> tuple[bool, Any, web.Response | None]:
    """What every mock does first: read and record the request, wait the latency, play a scripted answer."""
    parsed, body = await _read_json(request)
    config._record(request, body)
    if config.latency:
        await asyncio.sleep(config.latency)
    scripted = config._next_scripted()
    return parsed, body, None if scripted is None else _scripted_response(scripted, default_error)


def openai_handler(config: MockProviderConfig) -> Handler:
    """`POST /v1/embeddings` in OpenAI's shape."""

    async def handle(request: web.Request) -> web.StreamResponse:
        parsed, body, scripted = await _receive(config, request, lambda message: _openai_error(message, "server_error"))
        if scripted is not None:
            return scripted
        if config.api_key is not None and _bearer(request) != config.api_key:
            given = _bearer(request)
            message = (
                f"Incorrect API key provided: {_masked(given)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
                if given
                else "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            return _json(401, _openai_error(message, code="invalid_api_key"))
        wait = config._take_token()
        if wait is not None:
            message = (
                f"Rate limit reached for requests. Limit: {round((config.rate_limit or 0) * 60)} / min. "
                "Please try again later."
            )
            return _json(429, _openai_error(message, "requests", "rate_limit_exceeded"), config._rate_headers(wait))
        if not parsed or not isinstance(body, dict):
            return _json(400, _openai_error("We could not parse the JSON body of your request."))
        inputs = _string_list(body.get("input"))
        if inputs is None:
            return _json(400, _openai_error("'$.input' is invalid. Please check the API reference."))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _json(400, _openai_error("you must provide a model parameter"))
        config.inputs_seen += len(inputs)
        if config.max_inputs is not None and len(inputs) > config.max_inputs:
            message = f"Too many inputs: {len(inputs)} > {config.max_inputs}"
            return _json(413, _openai_error(message))
        if config.max_input_chars is not None and any(len(text) > config.max_input_chars for text in inputs):
            return _json(400, _openai_error(OPENAI_CONTENT_TOO_LARGE))
        dimensions = config.dimensions or OPENAI_DIMENSIONS
        data = [
            {"object": "embedding", "index": index, "embedding": mock_embedding(text, dimensions)}
            for index, text in enumerate(inputs)
        ]
        tokens = sum(math.ceil(len(text) / 4) for text in inputs)
        answer = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return _json(200, answer, config._rate_headers(None))

    return handle


def hugging_face_handler(config: MockProviderConfig) -> Handler:
    """A Hugging Face Inference Endpoint: `{"inputs": [...]}` in, `config.hf_response_shape` out."""

    async def handle(request: web.Request) -> web.StreamResponse:
        parsed, body, scripted = await _receive(config, request, _hf_error)
        if scripted is not None:
            return scripted
        if config.api_key is not None and _bearer(request) != config.api_key:
            return _json(401, _hf_error("Authorization header is correct, but the token seems invalid"))
        wait = config._take_token()
        if wait is not None:
            return _json(429, _hf_error("Rate limit reached. Please retry later."), config._rate_headers(wait))
        inputs = _string_list(body.get("inputs")) if parsed and isinstance(body, dict) else None
        if inputs is None:
            return _json(400, _hf_error("Failed to deserialize the JSON body into the target type"))
        config.inputs_seen += len(inputs)
        too_long = config.max_input_chars is not None and any(len(text) > config.max_input_chars for text in inputs)
        if (config.max_inputs is not None and len(inputs) > config.max_inputs) or too_long:
            return _json(413, _hf_error("Payload Too Large"))
        if config.hf_response_shape == "sparse":
            return _json(200, [mock_sparse_embedding(text) for text in inputs])
        dimensions = config.dimensions or HUGGING_FACE_DIMENSIONS
        vectors = [mock_embedding(text, dimensions) for text in inputs]
        return _json(200, {"embeddings": vectors} if config.hf_response_shape == "embeddings" else vectors)

    return handle


def stats_handler(configs: dict[str, MockProviderConfig]) -> Handler:
    """`GET /_stats`: `{"calls": N, "inputs": M, "providers": {name: {"calls": n, "inputs": m}}}`, sums first.

    `calls` counts every request received (rejected ones too); `inputs` the inputs of the requests that passed
    authentication and the rate limit, as `MockProviderConfig.inputs_seen` does.
    """

    async def handle(_request: web.Request) -> web.StreamResponse:
        providers = {name: {"calls": config.calls, "inputs": config.inputs_seen} for name, config in configs.items()}
        calls = sum(counts["calls"] for counts in providers.values())
        inputs = sum(counts["inputs"] for counts in providers.values())
        return _json(200, {"calls": calls, "inputs": inputs, "providers": providers})

    return handle


def create_mock_openai_app(config: MockProviderConfig | None = None) -> web.Application:
    config = config or MockProviderConfig()
    app = web.Application()
    app[OPENAI_CONFIG] = config
    app.router.add_post(config.path or OPENAI_PATH, openai_handler(config))
    return app


def create_mock_hugging_face_app(config: MockProviderConfig | None = None) -> web.Application:
    config = config or MockProviderConfig()
    app = web.Application()
    app[HUGGING_FACE_CONFIG] = config
    app.router.add_post(config.path or HUGGING_FACE_PATH, hugging_face_handler(config))
    return app


def create_mock_providers_app(
    openai: MockProviderConfig | None = None,
    hugging_face: MockProviderConfig | None = None,
    hugging_face_elser: MockProviderConfig | None = None,
) -> web.Application:
    """All three on one port: `/v1/embeddings`, `/hf`, `/hf-elser` (unless the configs name other paths), and
    their counters at `GET /_stats`."""
    openai = openai or MockProviderConfig()
    hugging_face = hugging_face or MockProviderConfig()
    hugging_face_elser = hugging_face_elser or MockProviderConfig(hf_response_shape="sparse")
    app = web.Application()
    app[OPENAI_CONFIG] = openai
    app[HUGGING_FACE_CONFIG] = hugging_face
    app[HUGGING_FACE_ELSER_CONFIG] = hugging_face_elser
    app.router.add_post(openai.path or OPENAI_PATH, openai_handler(openai))
    app.router.add_post(hugging_face.path or "/hf", hugging_face_handler(hugging_face))
    app.router.add_post(hugging_face_elser.path or "/hf-elser", hugging_face_handler(hugging_face_elser))
    configs = {"openai": openai, "hugging_face": hugging_face, "hugging_face_elser": hugging_face_elser}
    app.router.add_get(STATS_PATH, stats_handler(configs))
    return app


async def start_mock_provider(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, *, shutdown_timeout: float = 1.0
) -> tuple[web.AppRunner, str]:
    """Serve `app` (port 0: any free port); returns the runner (call `cleanup()`) and the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}"


# --- command line ------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.testing.mock_providers",
        description="Mock OpenAI (/v1/embeddings) and Hugging Face (/hf, /hf-elser) embedding providers.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second per provider")
    parser.add_argument("--api-key", default=None, help="the bearer token to require (default: accept any)")
    parser.add_argument("--openai-dimensions", type=int, default=OPENAI_DIMENSIONS)
    parser.add_argument("--hf-dimensions", type=int, default=HUGGING_FACE_DIMENSIONS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    common: dict[str, Any] = {
        "latency": args.latency_ms / 1000.0,
        "rate_limit": args.rate_limit,
        "api_key": args.api_key,
    }
    app = create_mock_providers_app(
        MockProviderConfig(dimensions=args.openai_dimensions, **common),
        MockProviderConfig(dimensions=args.hf_dimensions, **common),
        MockProviderConfig(hf_response_shape="sparse", **common),
    )
    base = f"http://{args.host}:{args.port}"
    print(
        f"mock providers: OpenAI {base}{OPENAI_PATH}  Hugging Face {base}/hf  Hugging Face ELSER {base}/hf-elser",
        flush=True,
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
