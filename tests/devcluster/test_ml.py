"""ML trained models through the official client: the state machine of es-wire.md §D and every
§D.8 error the stand-in implements, with exact bodies."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthorizationException,
    BadRequestError,
    ConflictError,
    NotFoundError,
)

from sidecar.devcluster import DevCluster, DevClusterConfig, MlNodeSpec, StartFailure
from tests.devcluster.devcluster_helpers import es_error

ELSER = ".elser_model_2"
ELSER_LINUX = ".elser_model_2_linux-x86_64"
INPUT = {"field_names": ["text_field"]}


@pytest.fixture
def ml_client(client: AsyncElasticsearch, es_endpoint: Any) -> AsyncElasticsearch:
    if not es_endpoint.is_standin and not os.environ.get("SIDECAR_TEST_ES_ML"):
        pytest.skip("ML lifecycle on a real cluster downloads ELSER; set SIDECAR_TEST_ES_ML=1 to run it")
    return client


async def wait_until_defined(es: AsyncElasticsearch, model_id: str, patience: float = 600.0) -> None:
    for _ in range(int(patience / 0.05)):
        got = await es.ml.get_trained_models(model_id=model_id, include="definition_status")
        if got["trained_model_configs"][0]["fully_defined"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{model_id} never became fully defined")


async def cleanup_ml(es: AsyncElasticsearch, deployment_id: str, model_id: str) -> None:
    await es.options(ignore_status=(404, 409)).ml.stop_trained_model_deployment(model_id=deployment_id, force=True)


async def test_elser_lifecycle(ml_client: AsyncElasticsearch, es_endpoint: Any) -> None:
    es = ml_client
    put = await es.options(ignore_status=400).ml.put_trained_model(model_id=ELSER, input=INPUT)
    if es_endpoint.is_standin:
        assert put.meta.status == 200
        assert put["model_id"] == ELSER
        assert put["model_type"] == "pytorch"
        assert put["created_by"] == "api_user"
        assert put["license_level"] == "platinum"
        assert put["input"] == INPUT
        assert put["model_package"]["packaged_model_id"] == "elser_model_2"
        assert "fully_defined" not in put.body
        listed = await es.ml.get_trained_models(model_id=ELSER, include="definition_status")
        assert (listed["count"], listed["trained_model_configs"][0]["fully_defined"]) == (1, False)
        with pytest.raises(ApiError) as downloading:
            await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="sidecar-elser")
        assert (downloading.value.meta.status, downloading.value.body) == (
            408,
            es_error(
                408,
                "status_exception",
                f"Model download task is currently running. Wait for trained model [{ELSER}] download task to "
                "complete then try again",
            ),
        )
    with pytest.raises(BadRequestError) as duplicate:
        await es.ml.put_trained_model(model_id=ELSER, input=INPUT)
    assert duplicate.value.body == es_error(
        400, "resource_already_exists_exception", f"Trained machine learning model [{ELSER}] already exists"
    )
    await wait_until_defined(es, ELSER)
    stats = await es.ml.get_trained_models_stats(model_id=ELSER)
    assert stats["count"] == 1 and "deployment_stats" not in stats["trained_model_stats"][0]
    try:
        started = await es.options(request_timeout=60).ml.start_trained_model_deployment(
            model_id=ELSER,
            deployment_id="sidecar-elser",
            number_of_allocations=1,
            threads_per_allocation=2,
            wait_for="started",
        )
        parameters = started["assignment"]["task_parameters"]
        assert (parameters["model_id"], parameters["deployment_id"]) == (ELSER, "sidecar-elser")
        assert (parameters["number_of_allocations"], parameters["threads_per_allocation"]) == (1, 2)
        assert started["assignment"]["assignment_state"] == "started"
        stats = await es.ml.get_trained_models_stats(model_id="sidecar-elser")
        deployment = stats["trained_model_stats"][0]["deployment_stats"]
        assert (deployment["state"], deployment["allocation_status"]["state"]) == ("started", "fully_allocated")
        with pytest.raises(BadRequestError) as again:
            await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="sidecar-elser")
        assert again.value.body == es_error(
            400,
            "status_exception",
            "Could not start model deployment because an existing deployment with the same id [sidecar-elser] exist",
        )
        inferred = await es.ml.infer_trained_model(
            model_id="sidecar-elser", docs=[{"text_field": "football stadium"}, {"text_field": "a game"}]
        )
        results = inferred["inference_results"]
        assert len(results) == 2
        assert all(isinstance(w, float) and w > 0 for w in results[0]["predicted_value"].values())
        stopped = await es.ml.stop_trained_model_deployment(model_id="sidecar-elser")
        assert stopped.body == {"stopped": True}
    finally:
        await cleanup_ml(es, "sidecar-elser", ELSER)
    assert (await es.ml.stop_trained_model_deployment(model_id="sidecar-elser")).body == {"stopped": True}
    with pytest.raises(NotFoundError) as strict:
        await es.ml.stop_trained_model_deployment(model_id="sidecar-elser", allow_no_match=False)
    assert strict.value.body == es_error(
        404, "resource_not_found_exception", "No known model deployment with id [sidecar-elser]"
    )


# --- stand-in only from here: timing, failure injection, chosen licence and nodes -----------


async def downloaded(es: AsyncElasticsearch, model_id: str = ELSER) -> None:
    await es.perform_request(
        "PUT",
        f"/_ml/trained_models/{model_id}",
        params={"wait_for_completion": "true"},
        headers={"accept": "application/json", "content-type": "application/json"},
        body={"input": INPUT},
    )


async def test_wait_for_completion_waits_for_the_download(es: AsyncElasticsearch) -> None:
    await downloaded(es)
    listed = await es.ml.get_trained_models(model_id=ELSER, include="definition_status")
    assert listed["trained_model_configs"][0]["fully_defined"] is True


async def test_put_with_a_deployment_id_is_refused(es: AsyncElasticsearch) -> None:
    await downloaded(es)
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="my-elser")
    with pytest.raises(BadRequestError) as raised:
        await es.ml.put_trained_model(model_id="my-elser", input=INPUT)
    assert raised.value.body == es_error(
        400, "status_exception", "Cannot create model [my-elser] the id is the same as an current model deployment"
    )


async def test_infer_errors(es: AsyncElasticsearch) -> None:
    with pytest.raises(NotFoundError) as missing:
        await es.ml.infer_trained_model(model_id="nothing", docs=[{"text_field": "x"}])
    assert missing.value.body == es_error(404, "resource_not_found_exception", "Could not find trained model [nothing]")
    await downloaded(es)
    with pytest.raises(ConflictError) as not_deployed:
        await es.ml.infer_trained_model(model_id=ELSER, docs=[{"text_field": "x"}])
    assert not_deployed.value.body == es_error(
        409,
        "status_exception",
        f"Model [{ELSER}] must be deployed to use. Please deploy with the start trained model deployment API.",
    )
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
    with pytest.raises(BadRequestError) as wrong_field:
        await es.ml.infer_trained_model(model_id="d", docs=[{"text": "x"}])
    assert wrong_field.value.body == es_error(
        400, "status_exception", "Input field [text_field] does not exist in the source document"
    )


async def test_infer_by_model_id_and_truncation(es: AsyncElasticsearch) -> None:
    await downloaded(es)
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
    long_text = " ".join(["word"] * 600)
    inferred = await es.ml.infer_trained_model(model_id=ELSER, docs=[{"text_field": long_text}, {"text_field": "x y"}])
    first, second = inferred["inference_results"]
    assert first["is_truncated"] is True
    assert "is_truncated" not in second
    stats = await es.ml.get_trained_models_stats(model_id="d")
    assert stats["trained_model_stats"][0]["deployment_stats"]["inference_count"] == 2


async def test_start_validation(es: AsyncElasticsearch) -> None:
    await downloaded(es)
    with pytest.raises(BadRequestError) as raised:
        await es.ml.start_trained_model_deployment(
            model_id=ELSER, number_of_allocations=0, threads_per_allocation=3, priority="low"
        )
    assert raised.value.body == es_error(
        400,
        "action_request_validation_exception",
        "Validation Failed: 1: [number_of_allocations] must be a positive integer;"
        "2: [threads_per_allocation] must be a power of 2 less than or equal to 32;"
        "3: [number_of_allocations] must be 1 when [priority] is low;"
        "4: [threads_per_allocation] must be 1 when [priority] is low;",
    )
    with pytest.raises(BadRequestError) as too_many:
        await es.ml.start_trained_model_deployment(model_id=ELSER, threads_per_allocation=64)
    assert too_many.value.body["error"]["reason"] == (
        "Validation Failed: 1: [threads_per_allocation] must be a power of 2 less than or equal to 32;"
    )


async def test_start_unknown_model_and_not_pytorch(es: AsyncElasticsearch) -> None:
    with pytest.raises(NotFoundError) as missing:
        await es.ml.start_trained_model_deployment(model_id="nope")
    assert missing.value.body == es_error(
        404, "resource_not_found_exception", "No known trained model with model_id [nope]"
    )
    with pytest.raises(BadRequestError) as lang_ident:
        await es.ml.start_trained_model_deployment(model_id="lang_ident_model_1")
    assert lang_ident.value.body == es_error(
        400,
        "status_exception",
        "model [lang_ident_model_1] of type [lang_ident] cannot be deployed. Only PyTorch models can be deployed",
    )
    everything = await es.ml.get_trained_models()
    assert [c["model_id"] for c in everything["trained_model_configs"]] == ["lang_ident_model_1"]


async def test_capacity_failure_is_429_and_the_client_retries_it(devcluster: DevCluster) -> None:
    async with AsyncElasticsearch(devcluster.url, basic_auth=("elastic", "changeme")) as es:
        await downloaded(es)
        devcluster.config.start_failure = StartFailure.CAPACITY
        before = devcluster.state.ml.start_requests
        with pytest.raises(ApiError) as raised:
            await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
        assert devcluster.state.ml.start_requests - before == 4
    body = raised.value.body
    assert raised.value.meta.status == 429
    assert body["error"]["root_cause"] == [
        {
            "type": "status_exception",
            "reason": "Could not start deployment because no ML nodes with sufficient capacity were found",
        }
    ]
    assert body["error"]["caused_by"]["type"] == "illegal_state_exception"
    assert body["error"]["caused_by"]["reason"].startswith(
        "Could not start deployment because no suitable nodes were found, allocation explanation ["
    )
    devcluster.config.start_failure = None


async def test_start_timeout_leaves_the_deployment_starting(devcluster: DevCluster, es: AsyncElasticsearch) -> None:
    await downloaded(es)
    devcluster.config.start_failure = StartFailure.TIMEOUT
    with pytest.raises(ApiError) as raised:
        await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="slow")
    assert raised.value.body == es_error(
        408,
        "status_exception",
        "Timed out after [20s] waiting for trained model deployment [slow] to start. Use the trained model stats "
        "API to track the state of the deployment and try again once it has started.",
    )
    devcluster.config.start_failure = None
    with pytest.raises(BadRequestError):
        await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="slow")


class TestSlowStart:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(download_delay=0.01, deployment_start_delay=0.3)

    async def test_natural_timeout_and_wait_for_starting(self, es: AsyncElasticsearch) -> None:
        await downloaded(es)
        with pytest.raises(ApiError) as raised:
            await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="a", timeout="50ms")
        assert raised.value.meta.status == 408
        assert raised.value.body["error"]["reason"].startswith("Timed out after [50ms] waiting for trained model")
        starting = await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="b", wait_for="starting")
        assert starting["assignment"]["assignment_state"] == "starting"
        stats = await es.ml.get_trained_models_stats(model_id="b")
        deployment = stats["trained_model_stats"][0]["deployment_stats"]
        assert (deployment["state"], deployment["allocation_status"]["state"]) == ("starting", "starting")
        with pytest.raises(ConflictError) as busy:
            await es.ml.infer_trained_model(model_id="b", docs=[{"text_field": "x"}])
        assert busy.value.body["error"]["reason"] == "Trained model deployment [b] is not allocated to any nodes"


class TestAarch64:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(ml_nodes=[MlNodeSpec("ml-1", "Linux", "aarch64")], download_delay=0.01)

    async def test_platform_specific_model_is_refused(self, es: AsyncElasticsearch) -> None:
        await downloaded(es, ELSER_LINUX)
        with pytest.raises(BadRequestError) as raised:
            await es.ml.start_trained_model_deployment(model_id=ELSER_LINUX)
        assert raised.value.body == es_error(
            400,
            "illegal_argument_exception",
            f"The model being deployed ([{ELSER_LINUX}]) is platform specific and incompatible with ML nodes in "
            "the cluster; expected [linux-x86_64]; but was [linux-aarch64]",
        )
        await downloaded(es, ELSER)
        assert (await es.ml.start_trained_model_deployment(model_id=ELSER))["assignment"][
            "assignment_state"
        ] == "started"

    async def test_nodes_report_the_arch(self, es: AsyncElasticsearch) -> None:
        nodes = await es.nodes.info(node_id="ml:true", metric="os")
        assert [n["os"]["arch"] for n in nodes["nodes"].values()] == ["aarch64"]


class TestMixedPlatforms:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        nodes = [MlNodeSpec("ml-1", "Linux", "amd64"), MlNodeSpec("ml-2", "Linux", "aarch64")]
        return DevClusterConfig(ml_nodes=nodes, download_delay=0.01)

    async def test_multiple_platforms_is_500(self, es: AsyncElasticsearch) -> None:
        await downloaded(es, ELSER_LINUX)
        with pytest.raises(ApiError) as raised:
            await es.ml.start_trained_model_deployment(model_id=ELSER_LINUX)
        assert raised.value.meta.status == 500
        assert raised.value.body["error"]["type"] == "illegal_state_exception"


class TestNoMlNodes:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(ml_nodes=[], download_delay=0.01)

    async def test_no_ml_node_no_capacity(self, es: AsyncElasticsearch) -> None:
        assert (await es.nodes.info(node_id="ml:true", metric="os"))["nodes"] == {}
        await downloaded(es, ELSER_LINUX)
        with pytest.raises(ApiError) as raised:
            await es.ml.start_trained_model_deployment(model_id=ELSER_LINUX)
        assert raised.value.meta.status == 429


async def test_platform_mismatch_on_demand(devcluster: DevCluster, es: AsyncElasticsearch) -> None:
    await downloaded(es, ELSER_LINUX)
    devcluster.config.start_failure = StartFailure.PLATFORM_MISMATCH
    with pytest.raises(BadRequestError) as raised:
        await es.ml.start_trained_model_deployment(model_id=ELSER_LINUX)
    assert raised.value.body["error"]["type"] == "illegal_argument_exception"
    devcluster.config.start_failure = None
    assert (await es.ml.start_trained_model_deployment(model_id=ELSER_LINUX))["assignment"][
        "assignment_state"
    ] == "started"


class TestBasicLicence:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(license_type="basic")

    async def test_ml_needs_a_licence(self, es: AsyncElasticsearch) -> None:
        license_body = (await es.license.get())["license"]
        assert license_body["type"] == "basic"
        assert "expiry_date_in_millis" not in license_body
        expected = {
            "error": {
                "root_cause": [
                    {
                        "type": "security_exception",
                        "reason": "current license is non-compliant for [ml]",
                        "license.expired.feature": "ml",
                    }
                ],
                "type": "security_exception",
                "reason": "current license is non-compliant for [ml]",
                "license.expired.feature": "ml",
            },
            "status": 403,
        }
        with pytest.raises(AuthorizationException) as put:
            await es.ml.put_trained_model(model_id=ELSER, input=INPUT)
        assert put.value.body == expected
        with pytest.raises(AuthorizationException) as start:
            await es.ml.start_trained_model_deployment(model_id=ELSER)
        assert start.value.body == expected


async def test_update_deployment_body_only_on_812(es: AsyncElasticsearch, raw: Any) -> None:
    await downloaded(es)
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
    updated = await es.ml.update_trained_model_deployment(model_id="d", number_of_allocations=3)
    assert updated["assignment"]["task_parameters"]["number_of_allocations"] == 3
    status, body, _ = await raw("POST", "/_ml/trained_models/d/deployment/_update?number_of_allocations=2", json={})
    assert (status, body["error"]["reason"]) == (
        400,
        "request [/_ml/trained_models/d/deployment/_update] contains unrecognized parameter: [number_of_allocations]",
    )
    with pytest.raises(NotFoundError) as missing:
        await es.ml.update_trained_model_deployment(model_id="other", number_of_allocations=1)
    assert missing.value.body == es_error(
        404, "resource_not_found_exception", "No known model deployment with id [other]"
    )
    status, body, _ = await raw("POST", "/_ml/trained_models/d/deployment/_start?deployment_id=e", json={"x": 1})
    assert (status, body["error"]["reason"]) == (
        400,
        "request [POST /_ml/trained_models/d/deployment/_start] does not support having a body",
    )


async def test_delete_deployed_model_is_409(es: AsyncElasticsearch) -> None:
    await downloaded(es)
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
    with pytest.raises(ConflictError) as raised:
        await es.ml.delete_trained_model(model_id=ELSER)
    assert raised.value.body == es_error(
        409,
        "status_exception",
        f"Cannot delete model [{ELSER}] as it is currently deployed; use force to delete the model",
    )
    assert (await es.ml.delete_trained_model(model_id=ELSER, force=True)).body == {"acknowledged": True}
    with pytest.raises(NotFoundError):
        await es.ml.get_trained_models(model_id=ELSER)


async def test_deprecated_infer_path_warns(es: AsyncElasticsearch, raw: Any) -> None:
    await downloaded(es)
    await es.ml.start_trained_model_deployment(model_id=ELSER, deployment_id="d")
    status, body, headers = await raw(
        "POST", "/_ml/trained_models/d/deployment/_infer", json={"docs": [{"text_field": "hello"}]}
    )
    assert status == 200 and len(body["inference_results"]) == 1
    assert headers.getall("Warning") == [
        '299 Elasticsearch-8.12.2-48a287ab9497e852de30327444b0809e55d46466 "[POST /_ml/trained_models/{model_id}/'
        'deployment/_infer] is deprecated! Use [POST /_ml/trained_models/{model_id}/_infer] instead."'
    ]
