"""Create, read, delete and run inference models over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sidecar.testing.mock_providers import mock_sparse_embedding
from tests.api.conftest import ADMIN, ELASTIC, ELSER_BODY, HF_KEY, OPENAI_KEY, Client, Provider, es_error, openai_body


async def cluster_get(cluster: Any, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(f"{cluster.url}{path}", headers=ELASTIC) as response:
        return response.status, await response.json()


async def test_elser_lifecycle_deploys_on_the_cluster(sidecar: Client, cluster: Any) -> None:
    response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=ELSER_BODY, headers=ADMIN)
    assert response.status == 200
    assert response.headers["X-elastic-product"] == "Elasticsearch"
    expected = {
        "model_id": "my-elser-model",
        "task_type": "sparse_embedding",
        "service": "elser",
        "service_settings": {"num_allocations": 1, "num_threads": 1, "model_version": ".elser_model_2_linux-x86_64"},
        "task_settings": {},
    }
    assert await response.json() == expected

    status, stats = await cluster_get(cluster, "/_ml/trained_models/.elser_model_2_linux-x86_64/_stats")
    assert status == 200
    deployment = stats["trained_model_stats"][0]["deployment_stats"]
    assert (deployment["deployment_id"], deployment["state"]) == ("my-elser-model", "started")
    assert (deployment["number_of_allocations"], deployment["threads_per_allocation"]) == (1, 1)

    response = await sidecar.get("/_inference/sparse_embedding/my-elser-model", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"models": [expected]})

    response = await sidecar.post(
        "/_inference/sparse_embedding/my-elser-model", json={"input": ["the sky is blue", "port"]}, headers=ADMIN
    )
    assert response.status == 200
    body = await response.json()
    assert len(body["sparse_embedding"]) == 2
    for entry in body["sparse_embedding"]:
        assert entry["is_truncated"] is False
        assert entry["embedding"] and all(isinstance(w, float) for w in entry["embedding"].values())
    status, direct = await cluster_get_infer(cluster, "my-elser-model", ["the sky is blue", "port"])
    assert [r["predicted_value"] for r in direct["inference_results"]] == [e["embedding"] for e in body["sparse_embedding"]]

    response = await sidecar.delete("/_inference/sparse_embedding/my-elser-model", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})
    status, stats = await cluster_get(cluster, "/_ml/trained_models/.elser_model_2_linux-x86_64/_stats")
    assert "deployment_stats" not in stats["trained_model_stats"][0]
    response = await sidecar.get("/_inference/sparse_embedding/my-elser-model", headers=ADMIN)
    assert (response.status, await response.json()) == (
        404, es_error(404, "resource_not_found_exception", "Model not found [my-elser-model]")
    )


async def cluster_get_infer(cluster: Any, deployment: str, texts: list[str]) -> Any:
    async with aiohttp.ClientSession() as session, session.post(
        f"{cluster.url}/_ml/trained_models/{deployment}/_infer",
        json={"docs": [{"text_field": text} for text in texts]},
        headers=ELASTIC,
    ) as response:
        return response.status, await response.json()


async def test_openai_lifecycle(sidecar: Client, openai_provider: Provider) -> None:
    response = await sidecar.put(
        "/_inference/text_embedding/openai_embeddings", json=openai_body(openai_provider, user="me"), headers=ADMIN
    )
    expected = {
        "model_id": "openai_embeddings",
        "task_type": "text_embedding",
        "service": "openai",
        "service_settings": {"url": openai_provider.url, "similarity": "dot_product", "dimensions": 8},
        "task_settings": {"model": "text-embedding-ada-002", "user": "me"},
    }
    assert (response.status, await response.json()) == (200, expected)
    probe = openai_provider.config.last_request
    assert probe is not None and probe.body["input"] == ["how big"]
    assert probe.headers["Authorization"] == f"Bearer {OPENAI_KEY}"

    response = await sidecar.post(
        "/_inference/text_embedding/openai_embeddings", json={"input": ["a", "b"]}, headers=ADMIN
    )
    assert response.status == 200
    body = await response.json()
    assert [len(item["embedding"]) for item in body["text_embedding"]] == [8, 8]
    sent = openai_provider.config.last_request
    assert sent is not None
    assert sent.body == {"input": ["a", "b"], "model": "text-embedding-ada-002", "user": "me"}

    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"models": [expected]})
    response = await sidecar.delete("/_inference/text_embedding/openai_embeddings", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})
    response = await sidecar.post("/_inference/text_embedding/openai_embeddings", json={"input": "a"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        404, es_error(404, "resource_not_found_exception", "Model not found [openai_embeddings]")
    )


async def test_hugging_face_lifecycle(sidecar: Client, hf_provider: Provider) -> None:
    body = {"service": "hugging_face", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
    response = await sidecar.put("/_inference/text_embedding/hf", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {
            "model_id": "hf",
            "task_type": "text_embedding",
            "service": "hugging_face",
            "service_settings": {"url": hf_provider.url, "similarity": "cosine", "dimensions": 4},
            "task_settings": {},
        },
    )
    response = await sidecar.post("/_inference/text_embedding/hf", json={"input": "hello"}, headers=ADMIN)
    assert response.status == 200
    assert len((await response.json())["text_embedding"][0]["embedding"]) == 4
    sent = hf_provider.config.last_request
    assert sent is not None and sent.body == {"inputs": ["hello"]}


async def test_hugging_face_elser_lifecycle(sidecar: Client, hf_provider: Provider) -> None:
    hf_provider.config.hf_response_shape = "sparse"
    body = {"service": "hugging_face_elser", "service_settings": {"api_key": HF_KEY, "url": hf_provider.url}}
    response = await sidecar.put("/_inference/sparse_embedding/hf-elser", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {
            "model_id": "hf-elser",
            "task_type": "sparse_embedding",
            "service": "hugging_face_elser",
            "service_settings": {"url": hf_provider.url},
            "task_settings": {},
        },
    )
    assert hf_provider.config.calls == 0  # no probe for sparse embeddings
    response = await sidecar.post("/_inference/sparse_embedding/hf-elser", json={"input": "the sky"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        200,
        {"sparse_embedding": [{"is_truncated": False, "embedding": mock_sparse_embedding("the sky")}]},
    )
    response = await sidecar.put("/_inference/text_embedding/hf-dense", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(400, "status_exception", "The [hugging_face_elser] service does not support task type [text_embedding]"),
    )


async def test_listing_is_sorted_and_filtered_by_task_type(sidecar: Client, openai_provider: Provider) -> None:
    for model_id in ("b-model", "a-model"):
        response = await sidecar.put(f"/_inference/text_embedding/{model_id}", json=openai_body(openai_provider), headers=ADMIN)
        assert response.status == 200
    response = await sidecar.put("/_inference/sparse_embedding/c-elser", json=ELSER_BODY, headers=ADMIN)
    assert response.status == 200

    async def ids(path: str) -> list[str]:
        response = await sidecar.get(path, headers=ADMIN)
        assert response.status == 200
        return [model["model_id"] for model in (await response.json())["models"]]

    assert await ids("/_inference/_all") == ["a-model", "b-model", "c-elser"]
    assert await ids("/_inference") == ["a-model", "b-model", "c-elser"]
    assert await ids("/_inference/text_embedding/_all") == ["a-model", "b-model"]
    assert await ids("/_inference/TEXT_EMBEDDING/*") == ["a-model", "b-model"]
    assert await ids("/_inference/sparse_embedding/_all") == ["c-elser"]
    assert await ids("/_inference/c-elser") == ["c-elser"]


async def test_empty_store_lists_nothing(sidecar: Client) -> None:
    for path in ("/_inference/_all", "/_inference/sparse_embedding/*", "/_inference/text_embedding/_all"):
        response = await sidecar.get(path, headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"models": []})


async def test_duplicate_id_is_rejected(sidecar: Client, openai_provider: Provider) -> None:
    response = await sidecar.put("/_inference/text_embedding/dup", json=openai_body(openai_provider), headers=ADMIN)
    assert response.status == 200
    response = await sidecar.put("/_inference/sparse_embedding/dup", json=ELSER_BODY, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400, es_error(400, "resource_already_exists_exception", "Inference model [dup] already exists")
    )


async def test_concurrent_puts_of_one_id_have_exactly_one_winner(sidecar: Client, openai_provider: Provider) -> None:
    openai_provider.config.latency = 0.05
    responses = await asyncio.gather(
        *(sidecar.put("/_inference/text_embedding/race", json=openai_body(openai_provider), headers=ADMIN) for _ in range(5))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [200, 400, 400, 400, 400]
    for response in responses:
        if response.status == 400:
            assert await response.json() == es_error(
                400, "resource_already_exists_exception", "Inference model [race] already exists"
            )
    listed = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert [m["model_id"] for m in (await listed.json())["models"]] == ["race"]


async def test_task_type_mismatches(sidecar: Client, openai_provider: Provider) -> None:
    await sidecar.put("/_inference/text_embedding/m", json=openai_body(openai_provider), headers=ADMIN)
    response = await sidecar.get("/_inference/sparse_embedding/m", headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(400, "status_exception", "Requested task type [sparse_embedding] does not match the model's task type [text_embedding]"),
    )
    response = await sidecar.delete("/_inference/sparse_embedding/m", headers=ADMIN)
    assert response.status == 400
    response = await sidecar.post("/_inference/sparse_embedding/m", json={"input": "x"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "status_exception",
            "Incompatible task_type, the requested type [sparse_embedding] does not match the model type [text_embedding]",
        ),
    )
    response = await sidecar.post("/_inference/m", json={"input": "x"}, headers=ADMIN)
    assert response.status == 200


async def test_put_with_task_type_in_the_body(sidecar: Client, openai_provider: Provider) -> None:
    body = {**openai_body(openai_provider), "task_type": "text_embedding"}
    response = await sidecar.put("/_inference/one-segment", json=body, headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["task_type"] == "text_embedding"
    response = await sidecar.put("/_inference/sparse_embedding/conflict", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "status_exception",
            "Cannot resolve conflicting task_type parameter in the request URL [sparse_embedding] and the request body [text_embedding]",
        ),
    )
    response = await sidecar.put("/_inference/no-type", json=openai_body(openai_provider), headers=ADMIN)
    assert (response.status, await response.json()) == (
        400, es_error(400, "status_exception", "model is missing required setting [task_type]")
    )


async def test_failed_probe_stores_nothing(sidecar: Client, openai_provider: Provider) -> None:
    openai_provider.config.fail_next(401)
    response = await sidecar.put("/_inference/text_embedding/bad", json=openai_body(openai_provider), headers=ADMIN)
    cause = {
        "type": "status_exception",
        "reason": "Received an authentication error status code for request from inference entity id [bad] status [401]",
    }
    assert (response.status, await response.json()) == (
        400,
        {
            "error": {
                "root_cause": [cause],
                "type": "status_exception",
                "reason": "Could not determine embedding size",
                "caused_by": cause,
            },
            "status": 400,
        },
    )
    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert await response.json() == {"models": []}
    response = await sidecar.put("/_inference/text_embedding/bad", json=openai_body(openai_provider), headers=ADMIN)
    assert response.status == 200


async def test_request_task_settings_override_model_and_user(sidecar: Client, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    response = await sidecar.post(
        "/_inference/text_embedding/o?timeout=-1",
        json={"input": ["a"], "task_settings": {"model": "other-model", "user": "u"}},
        headers=ADMIN,
    )
    assert response.status == 200
    sent = openai_provider.config.last_request
    assert sent is not None and sent.body == {"input": ["a"], "model": "other-model", "user": "u"}
    response = await sidecar.post(
        "/_inference/text_embedding/o", json={"input": ["a"], "task_settings": {"user": ""}}, headers=ADMIN
    )
    assert (await response.json())["error"]["reason"] == (
        "Validation Failed: 1: [task_settings] Invalid value empty string. [user] must be a non-empty string;"
    )


async def test_rate_limit_setting_is_accepted_and_shown(sidecar: Client, openai_provider: Provider) -> None:
    body = openai_body(openai_provider)
    body["service_settings"]["rate_limit"] = {"requests_per_minute": 120}
    response = await sidecar.put("/_inference/text_embedding/limited", json=body, headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["service_settings"]["rate_limit"] == {"requests_per_minute": 120}
    body["service_settings"]["rate_limit"] = {"requests_per_minute": 0}
    response = await sidecar.put("/_inference/text_embedding/limited-2", json=body, headers=ADMIN)
    assert (await response.json())["error"]["reason"] == (
        "Validation Failed: 1: [rate_limit] Invalid value [0]. [requests_per_minute] must be a positive integer;"
    )
