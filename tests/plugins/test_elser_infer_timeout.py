"""ELSER `_infer`: the Elasticsearch client outwaits the `timeout` it sends, so ML's own 408 reaches the caller.

ES 8.12 `ElserMlNodeService.infer` sends a fixed `timeout=10s`; the client's request timeout defaults to the
same 10 s, so without a margin the client gave up at the moment ML answered and the caller saw a 503.
The stand-in ES below answers like ML does: the results, or after the `timeout` it was given a 408.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import MagicMock

import pytest
from aiohttp import web

import plugins.elser as elser
from plugins.elser import ElserService
from sidecar.domain.errors import ElasticsearchError
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import SparseEmbedding
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.es.client import build_es_client
from sidecar.http.client import HttpClient
from sidecar.settings import Settings

HEADERS = {"X-elastic-product": "Elasticsearch"}
ML_TIMEOUT_BODY = {
    "error": {
        "root_cause": [{"type": "status_exception", "reason": "timeout [300ms] waiting for inference result"}],
        "type": "status_exception",
        "reason": "timeout [300ms] waiting for inference result",
    },
    "status": 408,
}


class FakeMl:
    """`POST /_ml/trained_models/{id}/_infer`: answers at once, or (`slow`) with ML's 408 after its timeout."""

    def __init__(self) -> None:
        self.slow = False
        self.timeouts: list[str | None] = []

    async def infer(self, request: web.Request) -> web.Response:
        timeout = request.query.get("timeout")
        self.timeouts.append(timeout)
        body = await request.json()
        if self.slow:
            assert timeout == "300ms"
            await asyncio.sleep(0.4)  # ML waits for its `timeout`, then answers; a little late, as on a busy node
            return web.json_response(ML_TIMEOUT_BODY, status=408, headers=HEADERS)
        results = [{"predicted_value": {"sky": 1.5}} for _ in body["docs"]]
        return web.json_response({"inference_results": results}, headers=HEADERS)


@pytest.fixture
async def fake_ml() -> AsyncIterator[tuple[FakeMl, str]]:
    fake = FakeMl()
    app = web.Application()
    app.router.add_post("/_ml/trained_models/{model_id}/_infer", fake.infer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def elser_service(settings: Settings, url: str) -> tuple[ElserService, Any]:
    es = build_es_client(settings, hosts=[url])
    http = HttpClient()
    return ElserService(ServiceContext(settings, http, es, MagicMock())), (es, http)


MODEL = Model(
    ModelConfig(
        "my-elser-model",
        TaskType.SPARSE_EMBEDDING,
        "elser",
        {"num_allocations": 1, "num_threads": 1, "model_version": ".elser_model_2"},
        {},
    )
)


async def test_infer_sends_the_es_812_timeout(fake_ml: tuple[FakeMl, str]) -> None:
    fake, url = fake_ml
    service, (es, http) = await elser_service(Settings(), url)
    try:
        results = await service.infer(MODEL, ["the sky"])
    finally:
        await es.close()
        await http.close()
    assert results == [SparseEmbedding({"sky": 1.5}, False)]
    assert fake.timeouts == ["10s"]


async def test_the_client_outwaits_the_infer_timeout(
    fake_ml: tuple[FakeMl, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled down: `_infer` gets 300 ms and the client's own request timeout is also 300 ms (as 10 s and 10 s)."""
    fake, url = fake_ml
    fake.slow = True
    monkeypatch.setattr(elser, "INFER_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(elser, "INFER_CLIENT_MARGIN_SECONDS", 2.0)
    service, (es, http) = await elser_service(Settings(es_request_timeout=0.3), url)
    try:
        with pytest.raises(ElasticsearchError) as caught:
            await service.infer(MODEL, ["the sky"])
    finally:
        await es.close()
        await http.close()
    # ML's answer, not `503 cluster_unavailable_exception: Elasticsearch is unavailable: ConnectionTimeout`.
    assert (caught.value.status, caught.value.body()) == (408, ML_TIMEOUT_BODY)
    assert fake.timeouts == ["300ms"]
