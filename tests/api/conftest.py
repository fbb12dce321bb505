"""The sidecar over real HTTP, on the Elasticsearch stand-in, with local mock providers."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sidecar.app import create_app
from sidecar.devcluster import DevClusterConfig, start_devcluster
from sidecar.settings import Settings
from sidecar.testing.mock_providers import (
    MockProviderConfig,
    create_mock_hugging_face_app,
    create_mock_openai_app,
    start_mock_provider,
)

SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
OPENAI_KEY = "sk-test-openai-0123456789abcdef"
HF_KEY = "hf_testhuggingface0123456789"


def basic(user: str, password: str = "changeme") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ADMIN = basic("admin")
ELASTIC = basic("elastic")
MONITOR = basic("monitor_user")
NOBODY = basic("nobody")


@dataclass
class Provider:
    config: MockProviderConfig
    url: str


@pytest.fixture
def devcluster_config() -> DevClusterConfig:
    return DevClusterConfig(download_delay=0.05, deployment_start_delay=0.01)


@pytest.fixture
async def cluster(devcluster_config: DevClusterConfig) -> AsyncIterator[Any]:
    running = await start_devcluster(devcluster_config, "127.0.0.1", 0)
    yield running
    await running.stop()


@pytest.fixture
async def openai_provider() -> AsyncIterator[Provider]:
    config = MockProviderConfig(api_key=OPENAI_KEY, dimensions=8)
    runner, base_url = await start_mock_provider(create_mock_openai_app(config))
    yield Provider(config, f"{base_url}/v1/embeddings")
    await runner.cleanup()


@pytest.fixture
async def hf_provider() -> AsyncIterator[Provider]:
    config = MockProviderConfig(api_key=HF_KEY, dimensions=4)
    runner, base_url = await start_mock_provider(create_mock_hugging_face_app(config))
    yield Provider(config, f"{base_url}/")
    await runner.cleanup()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def make_settings(cluster: Any, settings_overrides: dict[str, Any]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "es_url": cluster.url,
            "es_username": "sidecar",
            "es_password": "changeme",
            "secrets_key": SECRETS_KEY,
            "es_ml_timeout": 10.0,
            "retry_initial_delay": 0.01,
            "retry_max_delay": 0.02,
            "retry_timeout": 0.5,
            **settings_overrides,
            **overrides,
        }
        return Settings(**values)

    return make


async def start_sidecar(settings: Settings) -> TestClient[web.Request, web.Application]:
    app = await create_app(settings)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    for _ in range(200):
        response = await client.get("/_sidecar/health/ready")
        if response.status == 200:
            return client
        await asyncio.sleep(0.02)
    await client.close()
    raise AssertionError("the sidecar never became ready")


@pytest.fixture
async def sidecar(make_settings: Callable[..., Settings]) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await start_sidecar(make_settings())
    yield client
    await client.close()


def es_error(status: int, error_type: str, reason: str, **extra: Any) -> dict[str, Any]:
    own = {"type": error_type, "reason": reason, **extra}
    return {"error": {"root_cause": [own], **own}, "status": status}
