"""Fixtures shared by every test folder.

`es_endpoint` is the Elasticsearch the contract tests talk to: the in-process stand-in by default,
or a real cluster when `SIDECAR_TEST_ES_URL` is set (with `SIDECAR_TEST_ES_USERNAME` and
`SIDECAR_TEST_ES_PASSWORD`). Tests that only make sense on the stand-in (failure injection, a chosen
licence or version) take `standin_endpoint`, which skips on a real cluster.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from sidecar.devcluster import ClusterState, DevClusterConfig, start_devcluster

REAL_CLUSTER_URL = "SIDECAR_TEST_ES_URL"


@dataclass
class EsEndpoint:
    url: str
    basic_auth: tuple[str, str] | None
    is_standin: bool
    standin: ClusterState | None


def real_cluster_endpoint() -> EsEndpoint | None:
    url = os.environ.get(REAL_CLUSTER_URL)
    if not url:
        return None
    username = os.environ.get("SIDECAR_TEST_ES_USERNAME")
    password = os.environ.get("SIDECAR_TEST_ES_PASSWORD", "")
    return EsEndpoint(url.rstrip("/"), (username, password) if username else None, False, None)


@pytest.fixture
def es_endpoint_config() -> DevClusterConfig:
    """The stand-in's configuration for `es_endpoint`; override it in a test module to change it."""
    return DevClusterConfig(download_delay=0.05, deployment_start_delay=0.01)


@pytest.fixture
async def es_endpoint(es_endpoint_config: DevClusterConfig) -> AsyncIterator[EsEndpoint]:
    real = real_cluster_endpoint()
    if real is not None:
        yield real
        return
    cluster = await start_devcluster(es_endpoint_config, "127.0.0.1", 0)
    try:
        yield EsEndpoint(cluster.url, ("elastic", "changeme"), True, cluster.state)
    finally:
        await cluster.stop()


@pytest.fixture
def standin_endpoint(es_endpoint: EsEndpoint) -> EsEndpoint:
    if not es_endpoint.is_standin:
        pytest.skip("needs the Elasticsearch stand-in (SIDECAR_TEST_ES_URL points at a real cluster)")
    return es_endpoint
