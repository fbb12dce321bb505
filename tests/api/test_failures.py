"""What goes wrong on the way: ELSER that cannot start, provider errors, replicas, crashes mid-create."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from sidecar.devcluster import DevClusterConfig, MlNodeSpec, StartFailure
from tests.api.conftest import ADMIN, ELASTIC, ELSER_BODY, Client, Provider, es_error, openai_body, start_sidecar


async def assert_nothing_stored(sidecar: Client) -> None:
    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert await response.json() == {"models": []}


class TestElserOnABasicLicence:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(license_type="basic", download_delay=0.01)

    async def test_put_fails_with_the_licence_error(self, sidecar: Client) -> None:
        response = await sidecar.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
        assert (response.status, await response.json()) == (
            403,
            es_error(403, "security_exception", "current license is non-compliant for [ml]", **{"license.expired.feature": "ml"}),
        )
        await assert_nothing_stored(sidecar)


async def test_no_ml_capacity_fails_the_put_and_stores_nothing(sidecar: Client, cluster: Any) -> None:
    cluster.config.start_failure = StartFailure.CAPACITY
    response = await sidecar.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
    body = await response.json()
    assert response.status == 429
    assert body["error"]["type"] == "status_exception"
    assert body["error"]["reason"] == "Could not start deployment because no ML nodes with sufficient capacity were found"
    assert body["error"]["caused_by"]["type"] == "illegal_state_exception"
    await assert_nothing_stored(sidecar)
    cluster.config.start_failure = None
    response = await sidecar.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
    assert response.status == 200


class TestElserOnArmNodes:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(ml_nodes=[MlNodeSpec("arm", "Linux", "aarch64")], download_delay=0.01)

    async def test_the_cross_platform_model_is_chosen(self, sidecar: Client) -> None:
        response = await sidecar.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
        assert response.status == 200
        assert (await response.json())["service_settings"]["model_version"] == ".elser_model_2"

    async def test_a_linux_x86_model_cannot_start(self, sidecar: Client) -> None:
        body = {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1,
                                                         "model_version": ".elser_model_2_linux-x86_64"}}
        response = await sidecar.put("/_inference/sparse_embedding/e", json=body, headers=ADMIN)
        payload = await response.json()
        assert response.status == 400
        assert payload["error"]["type"] == "illegal_argument_exception"
        assert payload["error"]["reason"].startswith(
            "The model being deployed ([.elser_model_2_linux-x86_64]) is platform specific and incompatible with ML nodes"
        )
        await assert_nothing_stored(sidecar)


async def test_elser_threads_must_be_a_power_of_two(sidecar: Client) -> None:
    body = {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 3}}
    response = await sidecar.put("/_inference/sparse_embedding/e", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: [threads_per_allocation] must be a power of 2 less than or equal to 32;",
        ),
    )
    await assert_nothing_stored(sidecar)


async def test_provider_rate_limit_is_retried(sidecar: Client, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    openai_provider.config.fail_next(429, headers={"Retry-After": "0"}, times=2)
    calls_before = openai_provider.config.calls
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "x"}, headers=ADMIN)
    assert response.status == 200
    assert openai_provider.config.calls - calls_before == 3


async def test_provider_errors_are_reported_as_elasticsearch_does(sidecar: Client, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    openai_provider.config.fail_next(
        429,
        body={"error": {"message": "Rate limit reached", "type": "requests"}},
        headers={"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "Retry-After": "0"},
        times=1000,
    )
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "y"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        429,
        es_error(
            429,
            "status_exception",
            "Received a rate limit status code. Token limit [unknown], remaining tokens [unknown]. Request limit [60], "
            "remaining requests [0] for request from inference entity id [o] status [429]. Error message: [Rate limit reached]",
        ),
    )
    openai_provider.config.reset()
    openai_provider.config.fail_next(500, body={"error": {"message": "boom"}}, times=1000)
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "z"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "status_exception",
            "Received a server error status code for request from inference entity id [o] status [500]. Error message: [boom]",
        ),
    )


async def test_concurrent_requests_share_provider_calls(make_settings: Any, openai_provider: Provider) -> None:
    client = await start_sidecar(make_settings(batch_window_ms=20, cache_enabled=False))
    try:
        assert (await client.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
        openai_provider.config.reset()
        responses = await asyncio.gather(
            *(client.post("/_inference/text_embedding/o", json={"input": f"text {i}"}, headers=ADMIN) for i in range(20))
        )
        bodies = [await response.json() for response in responses]
        assert all(response.status == 200 for response in responses)
        assert openai_provider.config.calls < 20
        assert openai_provider.config.inputs_seen == 20
        vectors = [body["text_embedding"][0]["embedding"] for body in bodies]
        assert len({tuple(vector) for vector in vectors}) == 20
    finally:
        await client.close()


async def test_a_model_deleted_through_one_replica_stops_everywhere_within_the_ttl(
    make_settings: Any, openai_provider: Provider
) -> None:
    first = await start_sidecar(make_settings(model_cache_ttl=0.3))
    second = await start_sidecar(make_settings(model_cache_ttl=0.3))
    try:
        assert (await first.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
        assert (await second.post("/_inference/text_embedding/o", json={"input": "a"}, headers=ADMIN)).status == 200
        assert (await first.delete("/_inference/text_embedding/o", headers=ADMIN)).status == 200
        assert (await first.post("/_inference/text_embedding/o", json={"input": "a"}, headers=ADMIN)).status == 404
        deadline = time.monotonic() + 0.3
        await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
        response = await second.post("/_inference/text_embedding/o", json={"input": "a"}, headers=ADMIN)
        assert (response.status, await response.json()) == (
            404, es_error(404, "resource_not_found_exception", "Model not found [o]")
        )
    finally:
        await first.close()
        await second.close()


def sidecar_index(cluster: Any, kind: str) -> str:
    """The sidecar's `models` or `secrets` alias on this cluster (a real one gives each test its own prefix)."""
    return f"{getattr(cluster, 'index_prefix', '.sidecar-inference')}-{kind}"


async def put_document(cluster: Any, index: str, doc_id: str, document: dict[str, Any]) -> None:
    async with aiohttp.ClientSession(headers=ELASTIC) as session, session.put(
        f"{cluster.url}/{index}/_doc/{doc_id}?refresh=true", json=document
    ) as response:
        assert response.status in (200, 201), await response.text()


async def test_a_claim_left_by_a_crash_is_taken_over(
    make_settings: Any, cluster: Any, openai_provider: Provider
) -> None:
    client = await start_sidecar(make_settings(es_ml_timeout=1.0))
    try:
        stale = {
            "model_id": "o", "task_type": "text_embedding", "service": "openai", "service_settings": {},
            "task_settings": {}, "state": "creating", "created_at": int((time.time() - 3600) * 1000),
        }
        await put_document(cluster, sidecar_index(cluster, "models"), "model_o", stale)
        assert await (await client.get("/_inference/_all", headers=ADMIN)).json() == {"models": []}
        assert (await client.post("/_inference/o", json={"input": "a"}, headers=ADMIN)).status == 404
        response = await client.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)
        assert response.status == 200
    finally:
        await client.close()


async def crash_after_start(cluster: Any, model_id: str, state: str) -> None:
    """What a sidecar that died in the middle of an ELSER PUT leaves: its deployment runs, its claim is `state`."""
    claim = {
        "model_id": model_id, "task_type": "sparse_embedding", "service": "elser",
        "service_settings": ELSER_BODY["service_settings"], "task_settings": {}, "state": state,
        "created_at": int((time.time() - 3600) * 1000),
    }
    await put_document(cluster, sidecar_index(cluster, "models"), f"model_{model_id}", claim)
    async with aiohttp.ClientSession(headers=ELASTIC) as session, session.delete(
        f"{cluster.url}/{sidecar_index(cluster, 'secrets')}/_doc/model_{model_id}?refresh=true"
    ) as deleted:
        assert deleted.status == 200


async def test_a_deployment_left_by_a_crashed_put_is_stopped_by_the_next(make_settings: Any, cluster: Any) -> None:
    client = await start_sidecar(make_settings(es_ml_timeout=1.0))
    try:
        assert (await client.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)).status == 200
        await crash_after_start(cluster, "e", "starting")
        assert (await client.get("/_inference/e", headers=ADMIN)).status == 404

        response = await client.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)

        assert response.status == 200
        response = await client.post("/_inference/e", json={"input": "the sky"}, headers=ADMIN)
        assert response.status == 200
    finally:
        await client.close()


async def test_a_deployment_a_crashed_put_never_started_is_not_its_to_stop(make_settings: Any, cluster: Any) -> None:
    # The claim never reached `starting`: a deployment with the id is someone else's, and ES's refusal stands.
    client = await start_sidecar(make_settings(es_ml_timeout=1.0))
    try:
        assert (await client.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)).status == 200
        await crash_after_start(cluster, "e", "creating")

        response = await client.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)

        reason = "Could not start model deployment because an existing deployment with the same id [e] exist"
        assert (response.status, await response.json()) == (400, es_error(400, "status_exception", reason))
    finally:
        await client.close()


async def test_a_fresh_claim_means_another_put_is_running(make_settings: Any, cluster: Any, openai_provider: Provider) -> None:
    client = await start_sidecar(make_settings())
    try:
        claim = {
            "model_id": "o", "task_type": "text_embedding", "service": "openai", "service_settings": {},
            "task_settings": {}, "state": "creating", "created_at": int(time.time() * 1000),
        }
        await put_document(cluster, sidecar_index(cluster, "models"), "model_o", claim)
        response = await client.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)
        assert (response.status, await response.json()) == (
            400, es_error(400, "resource_already_exists_exception", "Inference model [o] already exists")
        )
    finally:
        await client.close()


async def test_missing_secrets_are_an_invalid_state(sidecar: Client, cluster: Any, openai_provider: Provider) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    async with aiohttp.ClientSession(headers=ELASTIC) as session, session.delete(
        f"{cluster.url}/{sidecar_index(cluster, 'secrets')}/_doc/model_o?refresh=true"
    ) as deleted:
        assert deleted.status == 200
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "a"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        500,
        es_error(
            500,
            "illegal_state_exception",
            "Failed to load model, model [o] is in an invalid state. Try deleting and reinitializing the service",
        ),
    )
    response = await sidecar.delete("/_inference/text_embedding/o", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})
    assert await (await sidecar.get("/_inference/_all", headers=ADMIN)).json() == {"models": []}


async def test_replicas_see_each_other_to_share_rate_limits(make_settings: Any) -> None:
    from sidecar.api.keys import COMPONENTS

    first = await start_sidecar(make_settings(replica_heartbeat_seconds=0.1))
    second = await start_sidecar(make_settings(replica_heartbeat_seconds=0.1))
    try:
        await asyncio.sleep(0.35)
        assert first.app[COMPONENTS].replicas.count() == 2
        assert second.app[COMPONENTS].replicas.count() == 2
    finally:
        await second.close()
    await asyncio.sleep(0.25)
    try:
        assert first.app[COMPONENTS].replicas.count() == 1
    finally:
        await first.close()


async def test_a_deployment_start_that_times_out_is_taken_down(sidecar: Client, cluster: Any) -> None:
    cluster.config.start_failure = StartFailure.TIMEOUT
    response = await sidecar.put("/_inference/sparse_embedding/e", json=ELSER_BODY, headers=ADMIN)
    body = await response.json()
    assert response.status == 408
    assert body["error"]["reason"].startswith("Timed out after [")
    await assert_nothing_stored(sidecar)
    async with aiohttp.ClientSession(headers=ELASTIC) as session, session.get(
        f"{cluster.url}/_ml/trained_models/_stats"
    ) as stats:
        entries = (await stats.json())["trained_model_stats"]
    assert all("deployment_stats" not in entry for entry in entries)
