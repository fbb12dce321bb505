"""A stored model whose service plugin is no longer loaded: GET, DELETE and POST answer as Elasticsearch does.

ES 8.12 to 8.15 (TransportGetInferenceModelAction, TransportDeleteInferenceModelAction /
TransportDeleteInferenceEndpointAction, TransportInferenceAction): GET fails with a 500 before comparing task
types, DELETE with a 404 after comparing them (and, in 8.15, after the pipeline check and the dry run), and neither
touches the stored documents.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sidecar.api.keys import COMPONENTS
from tests.api.conftest import ADMIN, ELASTIC, Client, Provider, es_error, openai_body


async def _stored_then_unloaded(sidecar: Client, provider: Provider) -> Any:
    """Store `o1` with the openai service, then unload the service; returns the service to put back."""
    response = await sidecar.put("/_inference/text_embedding/o1", json=openai_body(provider), headers=ADMIN)
    assert response.status == 200
    return sidecar.app[COMPONENTS].services.pop("openai")


def _reloaded(sidecar: Client, service: Any) -> None:
    sidecar.app[COMPONENTS].services["openai"] = service


async def test_delete_is_404_and_keeps_the_model(sidecar: Client, openai_provider: Provider) -> None:
    service = await _stored_then_unloaded(sidecar, openai_provider)
    for path in ("/_inference/text_embedding/o1", "/_inference/o1"):
        response = await sidecar.delete(path, headers=ADMIN)
        assert (response.status, await response.json()) == (
            404,
            es_error(404, "status_exception", "No service found for model o1"),
        )
    _reloaded(sidecar, service)
    response = await sidecar.get("/_inference/o1", headers=ADMIN)
    assert [model["model_id"] for model in (await response.json())["models"]] == ["o1"]


async def test_delete_compares_task_types_first(sidecar: Client, openai_provider: Provider) -> None:
    await _stored_then_unloaded(sidecar, openai_provider)
    response = await sidecar.delete("/_inference/sparse_embedding/o1", headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "status_exception",
            "Requested task type [sparse_embedding] does not match the model's task type [text_embedding]",
        ),
    )


async def test_get_is_500_before_the_task_type_check(sidecar: Client, openai_provider: Provider) -> None:
    await _stored_then_unloaded(sidecar, openai_provider)
    expected = es_error(500, "status_exception", "Unknown service [openai] for model [o1]. ")
    for path in ("/_inference/text_embedding/o1", "/_inference/sparse_embedding/o1", "/_inference/o1"):
        response = await sidecar.get(path, headers=ADMIN)
        assert (response.status, await response.json()) == (500, expected)


async def test_a_listing_that_includes_it_is_500(sidecar: Client, openai_provider: Provider) -> None:
    await _stored_then_unloaded(sidecar, openai_provider)
    expected = es_error(500, "status_exception", "Unknown service [openai] for model [o1]. ")
    for path in ("/_inference/_all", "/_inference", "/_inference/text_embedding/_all"):
        response = await sidecar.get(path, headers=ADMIN)
        assert (response.status, await response.json()) == (500, expected)
    response = await sidecar.get("/_inference/sparse_embedding/_all", headers=ADMIN)  # o1 is not listed there
    assert (response.status, await response.json()) == (200, {"models": []})


async def test_inference_is_500_as_before(sidecar: Client, openai_provider: Provider) -> None:
    await _stored_then_unloaded(sidecar, openai_provider)
    calls = openai_provider.config.calls  # the probe at PUT time
    response = await sidecar.post("/_inference/text_embedding/o1", json={"input": "x"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        500,
        es_error(500, "status_exception", "Unknown service [openai] for model [o1]. "),
    )
    assert openai_provider.config.calls == calls


class TestDialect815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    async def test_delete_is_404_after_the_dry_run(self, sidecar: Client, openai_provider: Provider) -> None:
        await _stored_then_unloaded(sidecar, openai_provider)
        response = await sidecar.delete("/_inference/o1?dry_run=true", headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"acknowledged": False, "pipelines": []})
        for path in ("/_inference/o1", "/_inference/o1?force=true"):
            response = await sidecar.delete(path, headers=ADMIN)
            assert (response.status, await response.json()) == (
                404,
                es_error(404, "status_exception", "No service found for model o1"),
            )

    async def test_get_names_the_inference_endpoint(self, sidecar: Client, openai_provider: Provider) -> None:
        await _stored_then_unloaded(sidecar, openai_provider)
        expected = es_error(500, "status_exception", "Unknown service [openai] for inference endpoint [o1]. ")
        for path in ("/_inference/o1", "/_inference"):
            response = await sidecar.get(path, headers=ADMIN)
            assert (response.status, await response.json()) == (500, expected)

    async def test_a_pipeline_reference_is_refused_first(
        self, sidecar: Client, cluster: Any, openai_provider: Provider
    ) -> None:
        await _stored_then_unloaded(sidecar, openai_provider)
        async with aiohttp.ClientSession(headers=ELASTIC) as session:
            pipeline = {"processors": [{"inference": {"model_id": "o1"}}]}
            async with session.put(f"{cluster.url}/_ingest/pipeline/uses-o1", json=pipeline) as put:
                assert put.status == 200
            try:
                response = await sidecar.delete("/_inference/o1", headers=ADMIN)
                assert (response.status, (await response.json())["error"]["reason"]) == (
                    403,
                    "Model o1 is referenced by pipelines and cannot be deleted. Use `force` to delete it anyway, "
                    "or use `dry_run` to list the pipelines that reference it.",
                )
                response = await sidecar.delete("/_inference/o1?force=true", headers=ADMIN)
                assert (response.status, await response.json()) == (
                    404,
                    es_error(404, "status_exception", "No service found for model o1"),
                )
            finally:
                async with session.delete(f"{cluster.url}/_ingest/pipeline/uses-o1") as deleted:
                    assert deleted.status == 200
