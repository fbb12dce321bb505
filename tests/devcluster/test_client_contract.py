"""The official async client against `es_endpoint`: the stand-in, or a real cluster when
SIDECAR_TEST_ES_URL is set. Everything asserted here is what a real 8.x cluster answers."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, ElasticsearchWarning, NotFoundError

HIDDEN = {"index.hidden": True, "index.auto_expand_replicas": "0-1", "number_of_shards": 1}
MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "model_id": {"type": "keyword"},
        "task_type": {"type": "keyword"},
        "service_settings": {"dynamic": False, "properties": {}},
    },
}


def shards_of(body: Any) -> dict[str, int]:
    shards: dict[str, int] = body["_shards"]
    return shards


async def test_info_and_ping(client: AsyncElasticsearch) -> None:
    info = await client.info()
    assert info["tagline"] == "You Know, for Search"
    assert info["version"]["build_flavor"] == "default"
    assert set(info.body) == {"name", "cluster_name", "cluster_uuid", "version", "tagline"}
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert await client.ping() is True


async def test_create_hidden_index_then_already_exists(client: AsyncElasticsearch, scratch_index: str) -> None:
    name = f"{scratch_index}-000001"
    created = await client.indices.create(index=name, settings=HIDDEN, mappings=MAPPINGS)
    assert created.body == {"acknowledged": True, "shards_acknowledged": True, "index": name}
    with pytest.raises(BadRequestError) as raised:
        await client.indices.create(index=name, settings=HIDDEN, mappings=MAPPINGS)
    error = raised.value.body["error"]
    assert error["type"] == "resource_already_exists_exception"
    assert error["reason"] == f"index [{name}/{error['index_uuid']}] already exists"
    assert error["index"] == name
    assert raised.value.body["status"] == 400


async def test_dot_index_without_hidden_warns(client: AsyncElasticsearch, scratch_index: str) -> None:
    with pytest.warns(ElasticsearchWarning, match=r"index name \[.*\] starts with a dot '\.'"):
        await client.indices.create(index=scratch_index)


async def test_create_conflict_get_and_both_404s(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    created = await client.create(
        index=scratch_index, id="model_m", document={"model_id": "m", "task_type": "sparse_embedding"}, refresh=True
    )
    assert created.meta.status == 201
    assert created.body == {
        "_index": scratch_index,
        "_id": "model_m",
        "_version": 1,
        "result": "created",
        "forced_refresh": True,
        "_shards": shards_of(created),
        "_seq_no": 0,
        "_primary_term": 1,
    }
    with pytest.raises(ConflictError) as conflict:
        await client.create(index=scratch_index, id="model_m", document={"model_id": "m"})
    error = conflict.value.body["error"]
    assert (error["type"], error["reason"], error["index"], error["shard"]) == (
        "version_conflict_engine_exception",
        "[model_m]: version conflict, document already exists (current version [1])",
        scratch_index,
        "0",
    )
    found = await client.get(index=scratch_index, id="model_m")
    assert found.body == {
        "_index": scratch_index,
        "_id": "model_m",
        "_version": 1,
        "_seq_no": 0,
        "_primary_term": 1,
        "found": True,
        "_source": {"model_id": "m", "task_type": "sparse_embedding"},
    }
    with pytest.raises(NotFoundError) as missing_doc:
        await client.get(index=scratch_index, id="model_x")
    assert missing_doc.value.body == {"_index": scratch_index, "_id": "model_x", "found": False}
    with pytest.raises(NotFoundError) as missing_index:
        await client.get(index=f"{scratch_index}-missing", id="model_x")
    missing = f"{scratch_index}-missing"
    assert missing_index.value.body["error"]["type"] == "index_not_found_exception"
    assert missing_index.value.body["error"]["reason"] == f"no such index [{missing}]"
    assert missing_index.value.body["error"]["resource.id"] == missing


async def test_overwrite_is_200_updated_and_delete(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    await client.index(index=scratch_index, id="a", document={"model_id": "a"})
    updated = await client.index(index=scratch_index, id="a", document={"model_id": "b"})
    assert (updated.meta.status, updated["result"], updated["_version"]) == (200, "updated", 2)
    deleted = await client.delete(index=scratch_index, id="a", refresh=True)
    assert (deleted["result"], deleted["_version"], deleted["forced_refresh"]) == ("deleted", 3, True)
    with pytest.raises(NotFoundError) as gone:
        await client.delete(index=scratch_index, id="a")
    assert gone.value.body["result"] == "not_found"


async def test_strict_mapping_rejects_unknown_fields(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    with pytest.raises(BadRequestError) as raised:
        await client.index(index=scratch_index, id="x", document={"foo": "bar"})
    error = raised.value.body["error"]
    assert error["type"] == "strict_dynamic_mapping_exception"
    assert error["reason"].endswith("mapping set to strict, dynamic introduction of [foo] within [_doc] is not allowed")
    # fields under a `dynamic: false` object are accepted and kept in _source
    await client.index(index=scratch_index, id="y", document={"service_settings": {"anything": 1}}, refresh=True)
    assert (await client.get(index=scratch_index, id="y"))["_source"] == {"service_settings": {"anything": 1}}


async def test_versioned_index_behind_alias(client: AsyncElasticsearch, scratch_index: str) -> None:
    concrete = f"{scratch_index}-000001"
    await client.indices.create(
        index=concrete, settings=HIDDEN, mappings=MAPPINGS, aliases={scratch_index: {"is_write_index": True}}
    )
    assert await client.indices.exists_alias(name=scratch_index)
    assert await client.indices.exists(index=scratch_index)
    written = await client.create(index=scratch_index, id="m", document={"model_id": "m"}, refresh=True)
    assert written["_index"] == concrete
    aliases = await client.indices.get_alias(name=scratch_index)
    assert aliases.body == {concrete: {"aliases": {scratch_index: {"is_write_index": True}}}}
    await client.indices.put_mapping(index=scratch_index, meta={"v": 2}, properties={"state": {"type": "keyword"}})
    mapping = await client.indices.get_mapping(index=scratch_index)
    assert mapping[concrete]["mappings"]["_meta"] == {"v": 2}
    assert mapping[concrete]["mappings"]["properties"]["state"] == {"type": "keyword"}
    assert (await client.get(index=scratch_index, id="m"))["_index"] == concrete


async def test_search_envelope(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    empty = await client.search(index=scratch_index, query={"term": {"task_type": "sparse_embedding"}})
    assert empty["hits"] == {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}
    assert empty["timed_out"] is False
    assert empty["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    for model_id, task_type in (("b", "sparse_embedding"), ("a", "sparse_embedding"), ("c", "text_embedding")):
        await client.index(
            index=scratch_index, id=f"model_{model_id}", document={"model_id": model_id, "task_type": task_type}
        )
    await client.indices.refresh(index=scratch_index)
    found = await client.search(
        index=scratch_index,
        query={"bool": {"filter": [{"terms": {"task_type": ["sparse_embedding"]}}]}},
        sort=[{"model_id": "asc"}],
        size=10_000,
    )
    assert found["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert found["hits"]["max_score"] is None
    assert [(h["_id"], h["_score"], h["sort"]) for h in found["hits"]["hits"]] == [
        ("model_a", None, ["a"]),
        ("model_b", None, ["b"]),
    ]
    by_ids = await client.search(index=scratch_index, query={"ids": {"values": ["model_c"]}})
    assert [h["_source"] for h in by_ids["hits"]["hits"]] == [{"model_id": "c", "task_type": "text_embedding"}]
    assert by_ids["hits"]["max_score"] == 1.0
    counted = await client.count(index=scratch_index, query={"exists": {"field": "task_type"}})
    assert counted["count"] == 3


async def test_search_missing_index(client: AsyncElasticsearch, scratch_index: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        await client.search(index=scratch_index)
    assert raised.value.body["error"]["type"] == "index_not_found_exception"
    result = await client.search(index=scratch_index, ignore_unavailable=True)
    assert result["hits"]["hits"] == []


async def test_hidden_indices_stay_out_of_wildcards(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    await client.index(index=scratch_index, id="m", document={"model_id": "m"}, refresh=True)
    suffix = scratch_index.removeprefix(".")
    assert (await client.search(index=f"*{suffix}"))["hits"]["hits"] == []
    assert len((await client.search(index=f"{scratch_index}*"))["hits"]["hits"]) == 1
    assert len((await client.search(index=f"*{suffix}", expand_wildcards="all"))["hits"]["hits"]) == 1


async def test_bulk_create_items(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    first = await client.bulk(
        operations=[{"create": {"_index": scratch_index, "_id": "m"}}, {"model_id": "m"}], refresh=True
    )
    assert first["errors"] is False
    assert first["items"][0]["create"]["status"] == 201
    assert first["items"][0]["create"]["forced_refresh"] is True
    second = await client.bulk(
        operations=[
            {"create": {"_index": scratch_index, "_id": "m"}},
            {"model_id": "m"},
            {"delete": {"_index": scratch_index, "_id": "m"}},
        ]
    )
    assert second["errors"] is True
    failed = second["items"][0]["create"]
    assert (failed["status"], failed["error"]["type"], failed["_id"]) == (409, "version_conflict_engine_exception", "m")
    assert second["items"][1]["delete"]["result"] == "deleted"


async def test_refresh_and_delete_by_query(client: AsyncElasticsearch, scratch_index: str) -> None:
    await client.indices.create(index=scratch_index, settings=HIDDEN, mappings=MAPPINGS)
    await client.index(index=scratch_index, id="model_m", document={"model_id": "m"})
    refreshed = await client.indices.refresh(index=scratch_index)
    assert refreshed["_shards"]["failed"] == 0
    deleted = await client.delete_by_query(index=scratch_index, query={"ids": {"values": ["model_m"]}}, refresh=True)
    assert (deleted["deleted"], deleted["failures"], deleted["version_conflicts"]) == (1, [], 0)


async def test_security_authenticate_and_has_privileges(client: AsyncElasticsearch, es_endpoint: Any) -> None:
    if es_endpoint.basic_auth is None:
        pytest.skip("needs credentials")
    me = await client.security.authenticate()
    assert me["username"] == es_endpoint.basic_auth[0]
    assert me["authentication_type"] == "realm"
    assert {
        "username",
        "roles",
        "full_name",
        "email",
        "metadata",
        "enabled",
        "authentication_realm",
        "lookup_realm",
    } <= set(me.body)
    checked = await client.security.has_privileges(cluster=["manage", "monitor"])
    assert set(checked.body) == {"username", "has_all_requested", "cluster", "index", "application"}
    assert checked["index"] == {} and checked["application"] == {}
    assert set(checked["cluster"]) == {"manage", "monitor"}
    with pytest.raises(BadRequestError) as unknown:
        await client.security.has_privileges(cluster=["no_such_privilege"])
    assert "unknown cluster privilege [no_such_privilege]" in unknown.value.body["error"]["reason"]


async def test_forwarding_a_callers_authorization(client: AsyncElasticsearch, es_endpoint: Any) -> None:
    if not es_endpoint.is_standin:
        pytest.skip("uses the stand-in's built-in users")
    import base64

    caller = "Basic " + base64.b64encode(b"monitor_user:changeme").decode()
    checked = await client.options(headers={"authorization": caller}).security.has_privileges(cluster=["manage"])
    assert checked.body == {
        "username": "monitor_user",
        "has_all_requested": False,
        "cluster": {"manage": False},
        "index": {},
        "application": {},
    }


async def test_license_and_nodes(client: AsyncElasticsearch) -> None:
    license_body = (await client.license.get())["license"]
    assert license_body["status"] == "active"
    assert license_body["type"] in {"basic", "standard", "gold", "platinum", "enterprise", "trial"}
    nodes = await client.nodes.info(node_id="ml:true", metric="os")
    for node in nodes["nodes"].values():
        assert "ml" in node["roles"]
        assert {"name", "arch"} <= set(node["os"])


async def test_missing_trained_model_is_404(client: AsyncElasticsearch) -> None:
    with pytest.raises(NotFoundError) as raised:
        await client.ml.get_trained_models(model_id="no-such-model-sidecar-test")
    assert raised.value.body["error"]["type"] == "resource_not_found_exception"
    assert raised.value.body["error"]["reason"] == "No known trained model with model_id [no-such-model-sidecar-test]"
