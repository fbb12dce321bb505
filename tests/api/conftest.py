"""The sidecar over real HTTP, on the Elasticsearch stand-in, with local mock providers.

With `SIDECAR_TEST_ES_URL` (and `SIDECAR_TEST_ES_USERNAME` / `SIDECAR_TEST_ES_PASSWORD`, a superuser)
the same tests run against that cluster instead: the fixture creates the stand-in's test roles and
users there (`admin`, `monitor_user`, `nobody`, `sidecar`, password `changeme`), gives every test its
own index prefix, and removes the test's indices and ELSER deployments afterwards. Tests that need to
stop the cluster or inject failures are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from yarl import URL

from sidecar.app import create_app, create_server
from sidecar.devcluster import DevClusterConfig, start_devcluster
from sidecar.http import App, HttpServer
from sidecar.settings import Settings
from sidecar.testing.mock_providers import (
    MockProviderConfig,
    create_mock_hugging_face_app,
    create_mock_openai_app,
    start_mock_provider,
)
from tests.conftest import real_cluster_endpoint

SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
OPENAI_KEY = "sk-test-openai-0123456789abcdef"
HF_KEY = "hf_testhuggingface0123456789"


def basic(user: str, password: str = "changeme") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ADMIN = basic("admin")
_REAL = real_cluster_endpoint()
ELASTIC = basic(*_REAL.basic_auth) if _REAL is not None and _REAL.basic_auth else basic("elastic")
MONITOR = basic("monitor_user")
NOBODY = basic("nobody")


ELSER_BODY: dict[str, Any] = {
    "service": "elser",
    "service_settings": {"num_allocations": 1, "num_threads": 1},
    "task_settings": {},
}


@dataclass
class Provider:
    config: MockProviderConfig
    url: str


def openai_body(provider: Provider, **task_settings: Any) -> dict[str, Any]:
    """A valid OpenAI PUT body for the mock provider."""
    return {
        "service": "openai",
        "service_settings": {"api_key": OPENAI_KEY, "url": provider.url},
        "task_settings": {"model": "text-embedding-ada-002", **task_settings},
    }


@pytest.fixture
def devcluster_config() -> DevClusterConfig:
    return DevClusterConfig(download_delay=0.05, deployment_start_delay=0.01)


TEST_ROLES: dict[str, dict[str, Any]] = {
    "admin": {"cluster": ["manage", "manage_own_api_key"]},
    "monitor": {"cluster": ["monitor", "manage_own_api_key"]},
    "nobody": {},
    "inference_sidecar": {
        "cluster": ["monitor", "manage_ml"],
        "indices": [{"names": [".sidecar-inference*"], "privileges": ["all"]}],
    },
}
TEST_USERS = {"admin": "admin", "monitor_user": "monitor", "nobody": "nobody", "sidecar": "inference_sidecar"}
# Deployment ids the tests create; removed from a real cluster after each test.
TEST_DEPLOYMENTS = ("my-elser-model", "c-elser", "e", "m")


@dataclass
class RealCluster:
    """A cluster named by SIDECAR_TEST_ES_URL: it cannot be stopped or configured by a test."""

    url: str
    index_prefix: str = field(default_factory=lambda: f".sidecar-inference-test-{uuid.uuid4().hex[:8]}")

    async def stop(self) -> None:
        pytest.skip("stops the cluster: runs on the stand-in only")

    async def start(self) -> None:
        pytest.skip("stops the cluster: runs on the stand-in only")

    async def request(self, method: str, path: str, body: Any = None) -> None:
        async with aiohttp.ClientSession(headers=ELASTIC) as session, session.request(
            method, f"{self.url}{path}", json=body
        ) as response:
            await response.read()

    async def provision(self) -> None:
        for role, body in TEST_ROLES.items():
            await self.request("PUT", f"/_security/role/{role}", body)
        for user, role in TEST_USERS.items():
            await self.request("PUT", f"/_security/user/{user}", {"password": "changeme", "roles": [role]})

    async def clean(self) -> None:
        for deployment in TEST_DEPLOYMENTS:
            await self.request("POST", f"/_ml/trained_models/{deployment}/deployment/_stop?force=true")
        await self.request("DELETE", f"/{self.index_prefix}*?expand_wildcards=all")


@pytest.fixture
async def cluster(devcluster_config: DevClusterConfig) -> AsyncIterator[Any]:
    if _REAL is not None:
        if devcluster_config != DevClusterConfig(download_delay=0.05, deployment_start_delay=0.01):
            pytest.skip("needs a stand-in configured by the test")
        real = RealCluster(_REAL.url)
        await real.provision()
        yield real
        await real.clean()
        return
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
            "index_prefix": getattr(cluster, "index_prefix", ".sidecar-inference"),
            "es_ml_timeout": 10.0,
            "retry_initial_delay": 0.01,
            "retry_max_delay": 0.02,
            "retry_timeout": 0.5,
            **settings_overrides,
            **overrides,
        }
        return Settings(**values)

    return make


class Client:
    """The sidecar's real HTTP server on 127.0.0.1, and an aiohttp client session for it (aiohttp's TestClient,
    for our server): `await client.get(path, ...)` answers an aiohttp `ClientResponse`."""

    def __init__(self, app: App, server: HttpServer, port: int) -> None:
        self.app = app
        self.server = server
        self.base_url = URL(f"http://127.0.0.1:{port}")
        self.session = aiohttp.ClientSession(base_url=self.base_url)
        self._responses: list[aiohttp.ClientResponse] = []

    def make_url(self, path: str) -> URL:
        return self.base_url.join(URL(path))

    async def request(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        response = await self.session.request(method, path, **kwargs)
        self._responses.append(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("PUT", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("POST", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("DELETE", path, **kwargs)

    async def close(self) -> None:
        for response in self._responses:
            response.release()
        await self.session.close()
        await self.server.shutdown(drain_seconds=1.0)


async def serve_sidecar(settings: Settings) -> Client:
    """The sidecar listening, ready or not."""
    app = await create_app(settings)
    server = create_server(app)
    return Client(app, server, await server.start("127.0.0.1", 0))


async def start_sidecar(settings: Settings) -> Client:
    client = await serve_sidecar(settings)
    for _ in range(200):
        response = await client.get("/_sidecar/health/ready")
        if response.status == 200:
            return client
        await asyncio.sleep(0.02)
    await client.close()
    raise AssertionError("the sidecar never became ready")


@pytest.fixture
async def sidecar(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    client = await start_sidecar(make_settings())
    yield client
    await client.close()


def es_error(status: int, error_type: str, reason: str, **extra: Any) -> dict[str, Any]:
    own = {"type": error_type, "reason": reason, **extra}
    return {"error": {"root_cause": [own], **own}, "status": status}


def validation_error(*messages: str) -> dict[str, Any]:
    """ES's numbered `Validation Failed: 1: ...;2: ...;` 400."""
    reason = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, start=1))
    return es_error(400, "validation_exception", reason)


def unknown_settings(rendered: str, service: str) -> dict[str, Any]:
    """ES `throwIfNotEmptyMap`: settings left over after the service parsed what it knows."""
    return es_error(
        400,
        "status_exception",
        f"Model configuration contains settings [{rendered}] unknown to the [{service}] service",
    )
