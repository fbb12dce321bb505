"""Ingest pipelines running ELSER through the ML state: what shows that a deployment the sidecar
created serves the cluster's own pipelines and `text_expansion` queries."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError

from sidecar.devcluster.elser import expand

INPUT = {"field_names": ["text_field"]}


@pytest.fixture
async def deployed(es: AsyncElasticsearch) -> str:
    await es.perform_request(
        "PUT",
        "/_ml/trained_models/.elser_model_2",
        params={"wait_for_completion": "true"},
        headers={"accept": "application/json", "content-type": "application/json"},
        body={"input": INPUT},
    )
    await es.ml.start_trained_model_deployment(model_id=".elser_model_2", deployment_id="my-elser-model")
    return "my-elser-model"


async def test_inference_processor_input_output(es: AsyncElasticsearch, deployed: str) -> None:
    await es.ingest.put_pipeline(
        id="elser",
        processors=[
            {
                "inference": {
                    "model_id": deployed,
                    "input_output": [{"input_field": "text", "output_field": "ml.tokens"}],
                }
            }
        ],
    )
    await es.indices.create(
        index="docs", mappings={"properties": {"text": {"type": "text"}, "ml.tokens": {"type": "rank_features"}}}
    )
    await es.index(index="docs", id="1", document={"text": "football stadium"}, pipeline="elser", refresh=True)
    stored = (await es.get(index="docs", id="1"))["_source"]
    assert stored == {"text": "football stadium", "ml": {"tokens": expand("football stadium").tokens}}
    stats = await es.ml.get_trained_models_stats(model_id=deployed)
    assert stats["trained_model_stats"][0]["pipeline_count"] == 1
    with pytest.raises(ConflictError) as raised:
        await es.ml.stop_trained_model_deployment(model_id=deployed)
    assert raised.value.body["error"]["reason"] == (
        f"Cannot stop deployment [{deployed}] as it is referenced by ingest processors; use force to stop the deployment"
    )
    assert (await es.ml.stop_trained_model_deployment(model_id=deployed, force=True)).body == {"stopped": True}
    with pytest.raises(NotFoundError) as gone:
        await es.index(index="docs", id="2", document={"text": "more"}, pipeline="elser")
    assert gone.value.body["error"]["reason"] == f"Could not find trained model [{deployed}]"


async def test_field_map_form_and_simulate(es: AsyncElasticsearch, deployed: str) -> None:
    processor = {
        "inference": {
            "model_id": deployed,
            "target_field": "ml",
            "field_map": {"text": "text_field"},
            "inference_config": {"text_expansion": {"results_field": "tokens"}},
        }
    }
    simulated = await es.ingest.simulate(pipeline={"processors": [processor]}, docs=[{"_source": {"text": "hello"}}])
    doc = simulated["docs"][0]["doc"]
    assert doc["_source"]["ml"] == {"tokens": expand("hello").tokens, "model_id": deployed}
    assert (doc["_index"], doc["_id"], doc["_version"]) == ("_index", "_id", "-3")
    await es.ingest.put_pipeline(id="old-form", processors=[processor])
    by_id = await es.ingest.simulate(id="old-form", docs=[{"_source": {"other": 1}}])
    assert by_id["docs"][0]["error"]["reason"] == "Input field [text_field] does not exist in the source document"


async def test_default_pipeline_and_text_expansion_query(es: AsyncElasticsearch, deployed: str) -> None:
    await es.ingest.put_pipeline(
        id="elser",
        processors=[
            {"inference": {"model_id": deployed, "input_output": {"input_field": "text", "output_field": "tokens"}}}
        ],
    )
    await es.indices.create(index="docs", settings={"index.default_pipeline": "elser"})
    for doc_id, text in (("1", "football stadium crowd"), ("2", "quiet library books"), ("3", "stadium lights")):
        await es.index(index="docs", id=doc_id, document={"text": text})
    result = await es.search(
        index="docs", query={"text_expansion": {"tokens": {"model_id": deployed, "model_text": "stadium"}}}
    )
    ranked = [hit["_id"] for hit in result["hits"]["hits"]]
    assert set(ranked) == {"1", "3"}
    assert result["hits"]["max_score"] == result["hits"]["hits"][0]["_score"] > 0
    with pytest.raises(BadRequestError) as in_use:
        await es.ingest.delete_pipeline(id="elser")
    assert (
        "cannot be deleted because it is the default pipeline for 1 index(es) including [docs]"
        in (in_use.value.body["error"]["reason"])
    )


async def test_pipeline_errors(es: AsyncElasticsearch, raw: Any) -> None:
    with pytest.raises(BadRequestError) as unknown:
        await es.ingest.put_pipeline(id="p", processors=[{"no_such": {}}])
    assert unknown.value.body["error"]["root_cause"][0] == {
        "type": "parse_exception",
        "reason": "No processor type exists with name [no_such]",
        "processor_type": "no_such",
    }
    with pytest.raises(BadRequestError) as missing_model:
        await es.ingest.put_pipeline(id="p", processors=[{"inference": {}}])
    assert missing_model.value.body["error"]["reason"] == "[model_id] required property is missing"
    with pytest.raises(BadRequestError) as no_pipeline:
        await es.index(index="docs", document={"a": 1}, pipeline="missing")
    assert no_pipeline.value.body["error"]["reason"] == "pipeline with id [missing] does not exist"
    status, body, _ = await raw("GET", "/_ingest/pipeline/missing")
    assert (status, body) == (404, {})
    status, body, _ = await raw("GET", "/_ingest/pipeline")  # none at all: ES's GetPipelineResponse is 404 too
    assert (status, body) == (404, {})
    with pytest.raises(NotFoundError) as delete_missing:
        await es.ingest.delete_pipeline(id="missing")
    assert delete_missing.value.body["error"]["reason"] == "pipeline [missing] is missing"
