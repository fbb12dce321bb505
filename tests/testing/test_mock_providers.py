from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sidecar.testing.mock_providers import (
    OPENAI_CONFIG,
    MockProviderConfig,
    _parse_args,
    create_mock_hugging_face_app,
    create_mock_openai_app,
    create_mock_providers_app,
    mock_embedding,
    mock_sparse_embedding,
    start_mock_provider,
)

KEY = "sk-mock-0123456789"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: Any, key: str | None = KEY) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(url, json=body, headers=headers) as response:
        raw = await response.read()
        payload = await response.json(content_type=None) if raw else None
        return response.status, payload, response.headers


async def serve(app: Any) -> AsyncIterator[str]:
    runner, base_url = await start_mock_provider(app)
    try:
        yield base_url
    finally:
        await runner.cleanup()


@pytest.fixture
def openai_config() -> MockProviderConfig:
    return MockProviderConfig(api_key=KEY)


@pytest.fixture
async def openai_url(openai_config: MockProviderConfig) -> AsyncIterator[str]:
    async for base_url in serve(create_mock_openai_app(openai_config)):
        yield base_url + "/v1/embeddings"


@pytest.fixture
def hf_config() -> MockProviderConfig:
    return MockProviderConfig(api_key=KEY)


@pytest.fixture
async def hf_url(hf_config: MockProviderConfig) -> AsyncIterator[str]:
    async for base_url in serve(create_mock_hugging_face_app(hf_config)):
        yield base_url + "/"


# --- outputs ----------------------------------------------------------------------------------------------------


def test_vectors_are_deterministic_unit_vectors() -> None:
    vector = mock_embedding("hello", 1536)
    assert len(vector) == 1536
    assert math.isclose(math.fsum(v * v for v in vector), 1.0)
    assert vector == mock_embedding("hello", 1536)
    assert vector != mock_embedding("hello!", 1536)
    assert mock_embedding("hello", 8) != vector[:8]


def test_sparse_weights_are_deterministic() -> None:
    weights = mock_sparse_embedding("The sky, the SKY and the port")
    assert set(weights) == {"the", "sky", "and", "port"}
    assert list(weights.values()) == sorted(weights.values(), reverse=True)
    assert all(0.1 <= weight <= 3.0 for weight in weights.values())
    assert weights == mock_sparse_embedding("The sky, the SKY and the port")
    assert mock_sparse_embedding("") == {"empty": mock_sparse_embedding("")["empty"]}


async def test_start_mock_provider_binds_a_free_local_port() -> None:
    runner, base_url = await start_mock_provider(create_mock_openai_app())
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert int(base_url.rsplit(":", 1)[1]) > 0
    finally:
        await runner.cleanup()


# --- OpenAI ------------------------------------------------------------------------------------------------------


async def test_openai_shape(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    status, body, _ = await post(http, openai_url, {"input": ["a", "bb"], "model": "text-embedding-3-small"})
    assert status == 200
    assert body == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": mock_embedding("a", 1536)},
            {"object": "embedding", "index": 1, "embedding": mock_embedding("bb", 1536)},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    assert openai_config.calls == 1
    assert openai_config.inputs_seen == 2
    assert openai_config.last_request is not None
    assert openai_config.last_request.path == "/v1/embeddings"
    assert openai_config.last_request.headers["Authorization"] == f"Bearer {KEY}"
    assert openai_config.last_request.body == {"input": ["a", "bb"], "model": "text-embedding-3-small"}


async def test_openai_single_string_input_and_dimensions(http: aiohttp.ClientSession) -> None:
    async for base_url in serve(create_mock_openai_app(MockProviderConfig(dimensions=3))):
        status, body, _ = await post(http, base_url + "/v1/embeddings", {"input": "a", "model": "m"}, key=None)
        assert status == 200
        assert body["data"][0]["embedding"] == mock_embedding("a", 3)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("sk-wrong-0123456789", "Incorrect API key provided: sk-********6789. You can find your API key at "
         "https://platform.openai.com/account/api-keys."),
        (None, "You didn't provide an API key. You need to provide your API key in an Authorization header using "
         "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."),
    ],
)
async def test_openai_authentication(http: aiohttp.ClientSession, openai_url: str, key: str | None, message: str) -> None:
    status, body, _ = await post(http, openai_url, {"input": ["a"], "model": "m"}, key=key)
    assert status == 401
    assert body == {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": [], "model": "m"}, "'$.input' is invalid. Please check the API reference."),
        ({"input": [1], "model": "m"}, "'$.input' is invalid. Please check the API reference."),
        ({"input": ["a"]}, "you must provide a model parameter"),
        ([1, 2], "We could not parse the JSON body of your request."),
    ],
)
async def test_openai_bad_bodies(http: aiohttp.ClientSession, openai_url: str, body: Any, message: str) -> None:
    status, answer, _ = await post(http, openai_url, body)
    assert status == 400
    assert answer["error"]["message"] == message


async def test_openai_input_limits(
    http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig
) -> None:
    openai_config.max_inputs = 2
    openai_config.max_input_chars = 5
    status, body, _ = await post(http, openai_url, {"input": ["a", "b", "c"], "model": "m"})
    assert status == 413
    assert body["error"]["message"] == "Too many inputs: 3 > 2"
    status, body, _ = await post(http, openai_url, {"input": ["abcdef"], "model": "m"})
    assert status == 400
    assert "Please reduce your prompt; or completion length." in body["error"]["message"]
    status, _, _ = await post(http, openai_url, {"input": ["abcde"], "model": "m"})
    assert status == 200


async def test_scripted_failures(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    openai_config.fail_next(503, times=2)
    openai_config.fail_next(500, {"error": {"message": "custom"}}, {"X-Custom": "1"})
    openai_config.fail_next(502, {"error": {"message": "gateway"}})
    openai_config.fail_next(200)
    request = {"input": ["a"], "model": "m"}
    statuses = []
    for _ in range(6):
        status, body, headers = await post(http, openai_url, request, key="the wrong key")
        statuses.append((status, body))
        if status == 500:
            assert headers["X-Custom"] == "1"
    assert statuses[:2] == [
        (503, {"error": {"message": "Scripted failure with status 503", "type": "server_error", "param": None,
                         "code": None}}),
    ] * 2
    assert statuses[2] == (500, {"error": {"message": "custom"}})
    assert statuses[3][0] == 502
    assert statuses[4] == (200, None)
    assert statuses[5][0] == 401  # scripted answers come before the key check; then normal behaviour resumes
    assert openai_config.calls == 6


async def test_raw_scripted_body(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    openai_config.fail_next(502, "<html>bad gateway</html>")
    async with http.post(openai_url, json={}) as response:
        assert response.status == 502
        assert await response.text() == "<html>bad gateway</html>"


async def test_rate_limit(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    openai_config.rate_limit = 20.0
    openai_config.rate_limit_burst = 2
    request = {"input": ["a"], "model": "m"}
    first, _, first_headers = await post(http, openai_url, request)
    second, _, _ = await post(http, openai_url, request)
    third, body, headers = await post(http, openai_url, request)
    assert (first, second, third) == (200, 200, 429)
    assert first_headers["x-ratelimit-limit-requests"] == "1200"
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert headers["x-ratelimit-limit-requests"] == "1200"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "1000000"
    assert headers["x-ratelimit-remaining-tokens"] == "1000000"
    assert headers["Retry-After"] == "1"
    assert 0 < int(headers["retry-after-ms"]) <= 50
    await asyncio.sleep(int(headers["retry-after-ms"]) / 1000 + 0.02)
    status, _, _ = await post(http, openai_url, request)
    assert status == 200


async def test_latency(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    openai_config.latency = 0.05
    started = time.monotonic()
    await post(http, openai_url, {"input": ["a"], "model": "m"})
    assert time.monotonic() - started >= 0.05


async def test_history_and_reset(http: aiohttp.ClientSession, openai_url: str, openai_config: MockProviderConfig) -> None:
    openai_config.rate_limit = 0.001
    for text in ["a", "b"]:
        await post(http, openai_url, {"input": [text], "model": "m"})
    assert [request.body["input"] for request in openai_config.requests] == [["a"], ["b"]]
    openai_config.fail_next(500)
    openai_config.reset()
    assert (openai_config.calls, openai_config.inputs_seen, openai_config.last_request) == (0, 0, None)
    assert not openai_config.requests
    status, _, _ = await post(http, openai_url, {"input": ["c"], "model": "m"})
    assert status == 200


# --- Hugging Face ---------------------------------------------------------------------------------------------------


async def test_hugging_face_list_shape(http: aiohttp.ClientSession, hf_url: str, hf_config: MockProviderConfig) -> None:
    status, body, _ = await post(http, hf_url, {"inputs": ["a", "b"]})
    assert status == 200
    assert body == [mock_embedding("a", 384), mock_embedding("b", 384)]
    assert hf_config.inputs_seen == 2
    assert hf_config.last_request is not None
    assert hf_config.last_request.body == {"inputs": ["a", "b"]}


async def test_hugging_face_other_shapes(http: aiohttp.ClientSession, hf_url: str, hf_config: MockProviderConfig) -> None:
    hf_config.hf_response_shape = "embeddings"
    hf_config.dimensions = 2
    _, body, _ = await post(http, hf_url, {"inputs": "a"})
    assert body == {"embeddings": [mock_embedding("a", 2)]}
    hf_config.hf_response_shape = "sparse"
    _, body, _ = await post(http, hf_url, {"inputs": ["the sky"]})
    assert body == [mock_sparse_embedding("the sky")]


async def test_hugging_face_errors(http: aiohttp.ClientSession, hf_url: str, hf_config: MockProviderConfig) -> None:
    status, body, _ = await post(http, hf_url, {"inputs": ["a"]}, key="bad")
    assert (status, body) == (401, {"error": "Authorization header is correct, but the token seems invalid"})
    status, body, _ = await post(http, hf_url, {"text": "a"})
    assert (status, body) == (400, {"error": "Failed to deserialize the JSON body into the target type"})
    hf_config.max_input_chars = 1
    status, body, _ = await post(http, hf_url, {"inputs": ["ab"]})
    assert (status, body) == (413, {"error": "Payload Too Large"})
    hf_config.fail_next(503)
    status, body, _ = await post(http, hf_url, {"inputs": ["a"]})
    assert (status, body) == (503, {"error": "Scripted failure with status 503"})
    hf_config.max_input_chars = None
    hf_config.rate_limit = 0.001
    assert (await post(http, hf_url, {"inputs": ["a"]}))[0] == 200
    status, body, headers = await post(http, hf_url, {"inputs": ["a"]})
    assert status == 429
    assert body == {"error": "Rate limit reached. Please retry later."}
    assert int(headers["Retry-After"]) >= 1


async def test_hugging_face_custom_path(http: aiohttp.ClientSession) -> None:
    async for base_url in serve(create_mock_hugging_face_app(MockProviderConfig(path="/models/e5"))):
        status, _, _ = await post(http, base_url + "/models/e5", {"inputs": ["a"]})
        assert status == 200


# --- all on one port, and the command line ----------------------------------------------------------------------------


async def test_combined_app(http: aiohttp.ClientSession) -> None:
    app = create_mock_providers_app(MockProviderConfig(dimensions=2), MockProviderConfig(dimensions=3))
    async for base_url in serve(app):
        _, body, _ = await post(http, base_url + "/v1/embeddings", {"input": ["a"], "model": "m"})
        assert len(body["data"][0]["embedding"]) == 2
        _, body, _ = await post(http, base_url + "/hf", {"inputs": ["a"]})
        assert body == [mock_embedding("a", 3)]
        _, body, _ = await post(http, base_url + "/hf-elser", {"inputs": ["a b"]})
        assert body == [mock_sparse_embedding("a b")]
        assert app[OPENAI_CONFIG].calls == 1


async def test_stats_route(http: aiohttp.ClientSession) -> None:
    app = create_mock_providers_app(MockProviderConfig(dimensions=2), MockProviderConfig(dimensions=3))
    async for base_url in serve(app):
        await post(http, base_url + "/v1/embeddings", {"input": ["a", "b"], "model": "m"})
        await post(http, base_url + "/v1/embeddings", {"input": "c"})  # no model: a call, not counted as inputs
        await post(http, base_url + "/hf", {"inputs": ["a"]})
        async with http.get(base_url + "/_stats") as response:
            assert response.status == 200
            stats = await response.json()
        assert stats == {
            "calls": 3,
            "inputs": 3,
            "providers": {
                "openai": {"calls": 2, "inputs": 2},
                "hugging_face": {"calls": 1, "inputs": 1},
                "hugging_face_elser": {"calls": 0, "inputs": 0},
            },
        }
        async with http.post(base_url + "/_stats") as response:
            assert response.status == 405


def test_command_line_arguments() -> None:
    args = _parse_args(["--port", "8089", "--latency-ms", "20", "--rate-limit", "50"])
    assert (args.host, args.port, args.latency_ms, args.rate_limit, args.api_key) == ("127.0.0.1", 8089, 20.0, 50.0, None)


async def test_module_entry_point(http: aiohttp.ClientSession, unused_tcp_port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar.testing.mock_providers", "--port", str(unused_tcp_port), "--latency-ms", "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert f"http://127.0.0.1:{unused_tcp_port}/v1/embeddings" in banner.decode()
        base_url = f"http://127.0.0.1:{unused_tcp_port}"
        for _ in range(100):
            try:
                status, body, _ = await post(http, base_url + "/hf", {"inputs": ["a"]})
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert (status, body) == (200, [mock_embedding("a", 384)])
    finally:
        process.terminate()
        await process.communicate()
