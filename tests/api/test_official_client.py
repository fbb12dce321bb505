"""The official elasticsearch-py client, pointed at the sidecar, runs the whole inference cycle."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

from tests.api.conftest import Client, Provider, openai_body


@pytest.fixture
async def es(sidecar: Client) -> Any:
    client = AsyncElasticsearch(str(sidecar.make_url("/")), basic_auth=("admin", "changeme"))
    yield client
    await client.close()


async def test_put_get_infer_delete(es: AsyncElasticsearch, openai_provider: Provider) -> None:
    created = await es.inference.put(
        task_type="text_embedding",
        inference_id="client-model",
        inference_config=openai_body(openai_provider, model="text-embedding-3-small"),
    )
    assert created.body["model_id"] == "client-model"
    assert "api_key" not in created.body["service_settings"]

    fetched = await es.inference.get(task_type="text_embedding", inference_id="client-model")
    assert [model["model_id"] for model in fetched.body["models"]] == ["client-model"]

    result = await es.inference.inference(task_type="text_embedding", inference_id="client-model", input=["a", "b"])
    assert [len(item["embedding"]) for item in result.body["text_embedding"]] == [8, 8]

    deleted = await es.inference.delete(task_type="text_embedding", inference_id="client-model")
    assert deleted.body == {"acknowledged": True}

    with pytest.raises(NotFoundError) as missing:
        await es.inference.get(task_type="text_embedding", inference_id="client-model")
    assert missing.value.message == "resource_not_found_exception"


async def test_errors_raise_the_clients_exception_classes(es: AsyncElasticsearch) -> None:
    with pytest.raises(BadRequestError) as bad:
        await es.inference.put(
            task_type="sparse_embedding", inference_id="x", inference_config={"service": "nope", "service_settings": {}}
        )
    assert (bad.value.message, bad.value.body["error"]["reason"]) == ("status_exception", "Unknown service [nope]")
    with pytest.raises(BadRequestError) as no_handler:
        await es.perform_request("GET", "/_unknown", headers={"accept": "application/json"})
    assert no_handler.value.body == {"error": "no handler found for uri [/_unknown] and method [GET]"}


async def test_compressed_requests_from_the_client(sidecar: Client, openai_provider: Provider) -> None:
    """`http_compress=True` gzips every request body, as Elasticsearch's HTTP layer accepts."""
    client = AsyncElasticsearch(str(sidecar.make_url("/")), basic_auth=("admin", "changeme"), http_compress=True)
    try:
        await client.inference.put(
            task_type="text_embedding",
            inference_id="gzipped",
            inference_config=openai_body(openai_provider, model="text-embedding-3-small"),
        )
        result = await client.inference.inference(task_type="text_embedding", inference_id="gzipped", input=["a"])
    finally:
        await client.close()
    assert [len(item["embedding"]) for item in result.body["text_embedding"]] == [8]
