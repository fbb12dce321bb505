"""Fixtures for the stand-in's own tests: a running stand-in, the official async client, raw HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from elasticsearch import AsyncElasticsearch

from sidecar.devcluster import DevCluster, DevClusterConfig, start_devcluster
from tests.conftest import REAL_CLUSTER_URL
from tests.devcluster.devcluster_helpers import ELASTIC


@pytest.fixture
def devcluster_config() -> DevClusterConfig:
    return DevClusterConfig(download_delay=0.05, deployment_start_delay=0.01)


@pytest.fixture
async def devcluster(devcluster_config: DevClusterConfig) -> AsyncIterator[DevCluster]:
    """A stand-in of this test's own; stand-in-only tests skip when a real cluster is configured."""
    if os.environ.get(REAL_CLUSTER_URL):
        pytest.skip(f"stand-in only ({REAL_CLUSTER_URL} is set)")
    cluster = await start_devcluster(devcluster_config, "127.0.0.1", 0)
    yield cluster
    await cluster.stop()


@pytest.fixture
async def es(devcluster: DevCluster) -> AsyncIterator[AsyncElasticsearch]:
    client = AsyncElasticsearch(devcluster.url, basic_auth=("elastic", "changeme"), max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Raw:
    """Raw HTTP against the stand-in: `await raw("GET", "/", headers=..., json=...)` -> (status, body, headers)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def __call__(
        self, method: str, path: str, *, auth: dict[str, str] | None = ELASTIC, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        headers = {**(auth or {}), **kwargs.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as response:
            text = await response.text()
            body: Any = None
            if text:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = text
            return response.status, body, response.headers


@pytest.fixture
def raw(http: aiohttp.ClientSession, devcluster: DevCluster) -> Raw:
    return Raw(http, devcluster.url)


@pytest.fixture
async def client(es_endpoint: Any) -> AsyncIterator[AsyncElasticsearch]:
    """The official client against `es_endpoint` (stand-in or real cluster), retries off."""
    es_client = AsyncElasticsearch(es_endpoint.url, basic_auth=es_endpoint.basic_auth, max_retries=0)
    yield es_client
    await es_client.close()


@pytest.fixture
async def scratch_index(client: AsyncElasticsearch) -> AsyncIterator[str]:
    """A unique hidden-index name for this test, deleted afterwards (also on a real cluster)."""
    name = f".sidecar-inference-test-{uuid.uuid4().hex[:12]}"
    yield name
    existing = await client.options(ignore_status=404).indices.get(index=f"{name}*", expand_wildcards="all")
    for index in existing.body if existing.meta.status == 200 else {}:
        await client.options(ignore_status=404).indices.delete(index=index)
