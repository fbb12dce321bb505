"""Replays the recorded examples of the API specification (./recorded, see its README) against the
stand-in: the same keys and shapes, and the same values wherever they do not depend on time, ids
or the particular cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import AsyncElasticsearch

RECORDED = Path(__file__).parent / "recorded"


def example(name: str) -> Any:
    value = yaml.safe_load((RECORDED / name).read_text())["value"]
    return json.loads(value) if isinstance(value, str) else value


def shape(value: Any) -> Any:
    """Keys and JSON kinds, recursively, with list items reduced to the shape of the first."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def keys(value: Any) -> Any:
    """Only the keys, recursively (for examples written as YAML, whose scalars YAML re-types)."""
    return {key: keys(item) for key, item in value.items()} if isinstance(value, dict) else None


async def test_root_info(es: AsyncElasticsearch) -> None:
    recorded = example("RootNodeInfoResponseExample1.yaml")
    answered = (await es.info()).body
    assert keys(answered) == keys(recorded)
    assert answered["tagline"] == recorded["tagline"]
    assert answered["version"]["build_flavor"] == recorded["version"]["build_flavor"]


async def test_license(es: AsyncElasticsearch) -> None:
    recorded = example("GetLicenseResponseExample1.yaml")
    answered = (await es.license.get()).body
    assert shape(answered) == shape(recorded)
    for key in ("status", "type", "max_nodes", "max_resource_units", "issuer", "start_date_in_millis"):
        assert answered["license"][key] == recorded["license"][key]


async def test_authenticate(es: AsyncElasticsearch) -> None:
    recorded = example("SecurityAuthenticateResponseExample1.yaml")
    answered = (await es.security.authenticate()).body
    assert list(answered) == list(recorded)
    assert shape({**answered, "metadata": {}}) == shape(recorded)
    assert answered["authentication_type"] == recorded["authentication_type"]


async def test_has_privileges(es: AsyncElasticsearch) -> None:
    request = example("SecurityHasPrivilegesRequestExample1.yaml")
    recorded = example("SecurityHasPrivilegesResponseExample1.yaml")
    await es.security.put_role(
        name="rdeniro_role",
        cluster=["monitor"],
        indices=[
            {"names": ["suppliers", "products", "inventory"], "privileges": ["read"]},
        ],
    )
    await es.security.put_user(username="rdeniro", password="changeme", roles=["rdeniro_role"])
    async with AsyncElasticsearch(es.transport.node_pool.get().base_url, basic_auth=("rdeniro", "changeme")) as user:
        answered = (await user.security.has_privileges(**request)).body
    assert answered == recorded


async def test_create_index_examples(es: AsyncElasticsearch) -> None:
    for name, index in (("indicesCreateRequestExample2.yaml", "test"), ("indicesCreateRequestExample3.yaml", "test3")):
        created = await es.indices.create(index=index, **example(name))
        assert created.body == {"acknowledged": True, "shards_acknowledged": True, "index": index}
    aliases = (await es.indices.get_alias(index="test3")).body
    assert aliases == {
        "test3": {
            "aliases": {
                "alias_1": {},
                "alias_2": {
                    "filter": {"term": {"user.id": "kimchy"}},
                    "index_routing": "shard-1",
                    "search_routing": "shard-1",
                },
            }
        }
    }


async def test_document_round_trip(es: AsyncElasticsearch) -> None:
    source = example("CreateRequestExample1.yaml")
    await es.indices.create(index="my-index-000001", settings={"number_of_replicas": 0})
    created = await es.create(index="my-index-000001", id="1", document=source)
    assert created.body == example("CreateResponseExample1.yaml")
    got = await es.get(index="my-index-000001", id="1")
    assert shape(got.body) == shape({**example("GetResponseExample1.yaml"), "_source": source})
    indexed = await es.index(index="my-index-000001", id="2", document=source)
    recorded_index = example("IndexResponseExample2.yaml")
    assert shape(indexed.body) == shape(recorded_index)
    assert (indexed["result"], indexed["_version"]) == (recorded_index["result"], recorded_index["_version"])
    searched = await es.search(index="my-index-000001", query={"term": {"user.id": "kimchy"}})
    assert shape(searched.body) == shape(example("SearchResponseExample1.yaml")) | {
        "hits": shape(searched.body["hits"])
    }
    assert shape(searched["hits"]["hits"][0]) == shape(
        {**example("SearchResponseExample1.yaml")["hits"]["hits"][0], "_source": source}
    )
    deleted = await es.delete(index="my-index-000001", id="1")
    recorded_delete = example("DeleteResponseExample1.yaml")
    assert shape(deleted.body) == shape(recorded_delete)
    assert (deleted["result"], deleted["_version"]) == (recorded_delete["result"], recorded_delete["_version"])


async def test_ml_examples(es: AsyncElasticsearch) -> None:
    await es.perform_request(
        "PUT",
        "/_ml/trained_models/.elser_model_2",
        params={"wait_for_completion": "true"},
        headers={"accept": "application/json", "content-type": "application/json"},
        body={"input": {"field_names": ["text_field"]}},
    )
    await es.ml.start_trained_model_deployment(model_id=".elser_model_2")
    update = example("MlUpdateTrainedModelDeploymentExample1.yaml")
    updated = await es.ml.update_trained_model_deployment(model_id=".elser_model_2", **update)
    assert updated["assignment"]["task_parameters"]["number_of_allocations"] == update["number_of_allocations"]
    await es.ml.stop_trained_model_deployment(model_id=".elser_model_2")
    deleted = await es.ml.delete_trained_model(model_id=".elser_model_2")
    assert deleted.body == example("MlDeleteTrainedModelResponseExample1.yaml")
