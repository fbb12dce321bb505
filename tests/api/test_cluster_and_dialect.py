"""The 8.15 dialect, the cluster's own ingest pipelines using ELSER, and a cluster that goes away."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import (
    ADMIN,
    ELASTIC,
    ELSER_BODY,
    MONITOR,
    Client,
    Provider,
    es_error,
    openai_body,
    serve_sidecar,
)


async def test_elser_deployment_serves_the_clusters_ingest_pipeline(sidecar: Client, cluster: Any) -> None:
    response = await sidecar.put("/_inference/sparse_embedding/my-elser-model", json=ELSER_BODY, headers=ADMIN)
    assert response.status == 200
    pipeline = {
        "processors": [
            {"inference": {"model_id": "my-elser-model", "input_output": [{"input_field": "text", "output_field": "ml.tokens"}]}}
        ]
    }
    async with aiohttp.ClientSession(headers=ELASTIC) as session:
        async with session.put(f"{cluster.url}/_ingest/pipeline/elser-pipeline", json=pipeline) as put:
            assert put.status == 200
        async with session.put(
            f"{cluster.url}/docs/_doc/1?pipeline=elser-pipeline&refresh=true", json={"text": "the sky is blue"}
        ) as indexed:
            assert indexed.status == 201
        async with session.get(f"{cluster.url}/docs/_doc/1") as fetched:
            document = (await fetched.json())["_source"]
    inferred = await sidecar.post(
        "/_inference/sparse_embedding/my-elser-model", json={"input": "the sky is blue"}, headers=ADMIN
    )
    assert document["ml"]["tokens"] == (await inferred.json())["sparse_embedding"][0]["embedding"]
    response = await sidecar.delete("/_inference/sparse_embedding/my-elser-model", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})


class TestDialect815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_responses_use_inference_id_and_endpoints(self, sidecar: Client, openai_provider: Provider) -> None:
        body = openai_body(openai_provider)
        response = await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)
        assert (await response.json())["inference_id"] == "e"
        response = await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)
        assert await response.json() == es_error(
            400, "resource_already_exists_exception", "Inference endpoint [e] already exists"
        )
        response = await sidecar.get("/_inference", headers=ADMIN)
        assert [e["inference_id"] for e in (await response.json())["endpoints"]] == ["e"]
        response = await sidecar.delete("/_inference/e", headers=ADMIN)
        assert await response.json() == {"acknowledged": True, "pipelines": []}
        response = await sidecar.get("/_inference/e", headers=ADMIN)
        assert await response.json() == es_error(404, "resource_not_found_exception", "Inference endpoint not found [e]")


async def test_cluster_down_gives_503_and_recovers(sidecar: Client, cluster: Any) -> None:
    assert (await sidecar.get("/_inference/_all", headers=ADMIN)).status == 200
    await cluster.stop()
    response = await sidecar.get("/_inference/_all", headers={"Authorization": "Basic ZnJlc2g6dXNlcg=="})
    assert response.status == 503
    body = await response.json()
    assert body["status"] == 503 and body["error"]["type"] == "cluster_unavailable_exception"
    await cluster.start()
    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert response.status == 200


async def test_an_unknown_route_with_the_cluster_down_is_503(sidecar: Client, cluster: Any) -> None:
    """Credentials come before routing (ES 8.9+); with no cluster to ask, the answer is the clean 503."""
    await cluster.stop()
    response = await sidecar.get("/_nope", headers={"Authorization": "Basic ZnJlc2g6dXNlcg=="})
    assert response.status == 503
    assert (await response.json())["error"]["type"] == "cluster_unavailable_exception"
    await cluster.start()
    response = await sidecar.get("/_nope", headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        {"error": "no handler found for uri [/_nope] and method [GET]"},
    )


async def test_readiness_waits_for_a_cluster_that_is_not_up_yet(cluster: Any, make_settings: Any) -> None:
    await cluster.stop()
    client = await serve_sidecar(make_settings())
    try:
        response = await client.get("/_sidecar/health/ready")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "not_ready"
        assert body["reason"] in ("starting: waiting for the preflight checks", "cannot connect to Elasticsearch: ConnectionError")
        assert (await client.get("/_sidecar/health/live")).status == 200
        await cluster.start()
        for _ in range(100):
            if (await client.get("/_sidecar/health/ready")).status == 200:
                break
            await asyncio.sleep(0.1)
        assert (await client.get("/_sidecar/health/ready")).status == 200
    finally:
        await client.close()


async def test_pretty_output(sidecar: Client) -> None:
    """Jackson's DefaultPrettyPrinter as ES sets it up: `"name" : value`, `[ ]`, and a final line feed."""
    response = await sidecar.get("/_inference/_all?pretty", headers=ADMIN)
    assert await response.text() == '{\n  "models" : [ ]\n}\n'
    response = await sidecar.get("/_inference/_all?pretty=true", headers=ADMIN)
    assert await response.text() == '{\n  "models" : [ ]\n}\n'
    response = await sidecar.get("/_inference/_all?pretty=false", headers=ADMIN)
    assert await response.text() == '{"models":[]}'
    response = await sidecar.get("/_inference/text_embedding/missing?pretty", headers=ADMIN)
    reason = "Model not found [missing]"
    assert await response.text() == (
        "{\n"
        '  "error" : {\n'
        '    "root_cause" : [\n'
        "      {\n"
        '        "type" : "resource_not_found_exception",\n'
        f'        "reason" : "{reason}"\n'
        "      }\n"
        "    ],\n"
        '    "type" : "resource_not_found_exception",\n'
        f'    "reason" : "{reason}"\n'
        "  },\n"
        '  "status" : 404\n'
        "}\n"
    )


class TestDryRun:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_dry_run_deletes_nothing(self, sidecar: Client, openai_provider: Provider) -> None:
        body = openai_body(openai_provider)
        assert (await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)).status == 200
        response = await sidecar.delete("/_inference/e?dry_run=true", headers=ADMIN)
        assert await response.json() == {"acknowledged": False, "pipelines": []}
        assert (await sidecar.get("/_inference/e", headers=ADMIN)).status == 200

    async def test_an_endpoint_used_by_pipelines_is_deleted_only_when_forced(
        self, sidecar: Client, cluster: Any, openai_provider: Provider
    ) -> None:
        body = openai_body(openai_provider)
        assert (await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)).status == 200
        response = await sidecar.delete("/_inference/e?dry_run=true", headers=ADMIN)  # no pipeline uses it yet
        assert await response.json() == {"acknowledged": False, "pipelines": []}
        uses_e = {"processors": [{"set": {"field": "a", "value": 1, "on_failure": [{"inference": {"model_id": "e"}}]}}]}
        uses_other = {"processors": [{"inference": {"model_id": "other"}}]}
        pipelines = {"uses-e": uses_e, "also-e": uses_e, "uses-other": uses_other}
        async with aiohttp.ClientSession(headers=ELASTIC) as session:
            for pipeline_id, pipeline in pipelines.items():
                async with session.put(f"{cluster.url}/_ingest/pipeline/{pipeline_id}", json=pipeline) as put:
                    assert put.status == 200
            try:
                await self._deleted_only_when_forced(sidecar)
            finally:  # pipelines are cluster-wide: none is left behind on a real cluster
                for pipeline_id in pipelines:
                    async with session.delete(f"{cluster.url}/_ingest/pipeline/{pipeline_id}") as deleted:
                        assert deleted.status == 200

    @staticmethod
    async def _deleted_only_when_forced(sidecar: Client) -> None:
        response = await sidecar.delete("/_inference/e?dry_run=true", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"acknowledged": False, "pipelines": ["also-e", "uses-e"]})
        response = await sidecar.delete("/_inference/text_embedding/e", headers=ADMIN)
        reason = (
            "Model e is referenced by pipelines and cannot be deleted. Use `force` to delete it anyway, "
            "or use `dry_run` to list the pipelines that reference it."
        )
        assert (response.status, await response.json()) == (403, es_error(403, "status_exception", reason))
        assert (await sidecar.get("/_inference/e", headers=ADMIN)).status == 200

        response = await sidecar.delete("/_inference/e?force=true", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"acknowledged": True, "pipelines": []})
        assert (await sidecar.get("/_inference/e", headers=ADMIN)).status == 404


class TestPipelinesReadAsTheCaller:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15", "privilege_delete": "monitor"}

    async def test_a_caller_who_cannot_read_pipelines_is_told_by_the_cluster(
        self, sidecar: Client, openai_provider: Provider
    ) -> None:
        body = openai_body(openai_provider)
        assert (await sidecar.put("/_inference/text_embedding/e", json=body, headers=ADMIN)).status == 200
        response = await sidecar.delete("/_inference/e", headers=MONITOR)
        reason = (
            "action [cluster:admin/ingest/pipeline/get] is unauthorized for user [monitor_user] with effective roles "
            "[monitor], this action is granted by the cluster privileges "
            "[read_pipeline,manage_ingest_pipelines,manage_pipeline,manage,all]"
        )
        assert (response.status, await response.json()) == (403, es_error(403, "security_exception", reason))
        response = await sidecar.delete("/_inference/e?force=true", headers=MONITOR)  # force reads no pipeline
        assert (response.status, await response.json()) == (200, {"acknowledged": True, "pipelines": []})


async def test_readiness_follows_the_cluster(sidecar: Client, cluster: Any) -> None:
    from sidecar import readiness

    assert (await sidecar.get("/_sidecar/health/ready")).status == 200
    await cluster.stop()
    await asyncio.sleep(readiness.CHECK_TTL)
    response = await sidecar.get("/_sidecar/health/ready")
    assert (response.status, await response.json()) == (
        503, {"status": "not_ready", "reason": "cannot reach Elasticsearch: ConnectionError"}
    )
    assert (await sidecar.get("/_sidecar/health/live")).status == 200
    await cluster.start()
    await asyncio.sleep(readiness.CHECK_TTL)
    assert (await sidecar.get("/_sidecar/health/ready")).status == 200
