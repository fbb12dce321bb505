"""Shared fixtures: a real ServiceContext and mock providers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import MagicMock

import pytest

from sidecar.domain.errors import ElasticsearchError
from sidecar.domain.service import InferenceService, ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.http.client import HttpClient
from sidecar.security.egress import EgressPolicy
from sidecar.settings import Settings
from sidecar.testing.mock_providers import (
    MockProviderConfig,
    create_mock_hugging_face_app,
    create_mock_openai_app,
    start_mock_provider,
)
from tests.api import conftest as api

# The sidecar over HTTP on the Elasticsearch stand-in (tests/api's fixtures), for plugin tests that check the wire.
devcluster_config = api.devcluster_config
cluster = api.cluster
openai_provider = api.openai_provider
hf_provider = api.hf_provider
settings_overrides = api.settings_overrides
make_settings = api.make_settings
sidecar = api.sidecar

API_KEY = "sk-test-0123456789abcdef"
HF_KEY = "hf_test0123456789abcdef"


def parse_error(
    service: InferenceService,
    config: dict[str, Any],
    task_type: TaskType = TaskType.TEXT_EMBEDDING,
    model_id: str = "my-model",
) -> Any:
    """The rendered ES error body of a request configuration that `parse_request` refuses."""
    with pytest.raises(ElasticsearchError) as caught:
        service.parse_request(model_id, task_type, config)
    return caught.value.body()


@pytest.fixture
def settings() -> Settings:
    return Settings(provider_timeout=2.0, retry_initial_delay=0.01, retry_max_delay=0.02, retry_timeout=0.5)


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[ServiceContext]:
    http = HttpClient()
    yield ServiceContext(settings, http, MagicMock(), EgressPolicy(settings.egress_deny_networks))
    await http.close()


class MockServer:
    def __init__(self, config: MockProviderConfig, base_url: str) -> None:
        self.config = config
        self.base_url = base_url


@pytest.fixture
async def openai_mock() -> AsyncIterator[MockServer]:
    config = MockProviderConfig(api_key=API_KEY, dimensions=8)
    runner, base_url = await start_mock_provider(create_mock_openai_app(config))
    yield MockServer(config, base_url)
    await runner.cleanup()


@pytest.fixture
async def hf_mock() -> AsyncIterator[MockServer]:
    config = MockProviderConfig(api_key=HF_KEY, dimensions=4)
    runner, base_url = await start_mock_provider(create_mock_hugging_face_app(config))
    yield MockServer(config, base_url)
    await runner.cleanup()
