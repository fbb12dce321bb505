"""Index and document details beyond the client contract: aliases, resolution rules, settings and
mapping validation, sequence-number conflicts, updates, `_source` filtering and search errors."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError, ConflictError, NotFoundError

from tests.devcluster.devcluster_helpers import es_error

HIDDEN = {"index.hidden": True}


async def test_missing_alias_body(raw: Any) -> None:
    status, body, _ = await raw("GET", "/_alias/nothing")
    assert (status, body) == (404, {"error": "alias [nothing] missing", "status": 404})
    status, body, _ = await raw("HEAD", "/_alias/nothing")
    assert (status, body) == (404, None)


async def test_alias_swap_and_write_index(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="models-000001", aliases={"models": {"is_write_index": True}})
    await es.indices.create(index="models-000002")
    await es.indices.update_aliases(
        actions=[
            {"add": {"index": "models-000002", "alias": "models", "is_write_index": True}},
            {"add": {"index": "models-000001", "alias": "models", "is_write_index": False}},
        ]
    )
    written = await es.index(index="models", id="a", document={"x": 1})
    assert written["_index"] == "models-000002"
    with pytest.raises(BadRequestError) as raised:
        await es.get(index="models", id="a")
    assert raised.value.body["error"]["reason"] == (
        "alias [models] has more than one index associated with it [models-000001, models-000002], "
        "can't execute a single index op"
    )
    found = await es.search(index="models")
    assert [h["_index"] for h in found["hits"]["hits"]] == ["models-000002"]
    with pytest.raises(BadRequestError) as delete_alias:
        await es.indices.delete(index="models")
    assert delete_alias.value.body["error"]["reason"] == (
        "The provided expression [models] matches an alias, specify the corresponding concrete indices instead."
    )


async def test_require_alias(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="plain")
    with pytest.raises(NotFoundError) as raised:
        await es.index(index="plain", id="1", document={}, require_alias=True)
    assert raised.value.body["error"]["reason"] == "[require_alias] request flag is [true] and [plain] is not an alias"


async def test_index_names_and_settings_are_validated(raw: Any) -> None:
    status, body, _ = await raw("PUT", "/UpperCase")
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400,
        "invalid_index_name_exception",
        "Invalid index name [UpperCase], must be lowercase",
    )
    status, body, _ = await raw("PUT", "/typo", json={"settings": {"index.hiden": True}})
    assert (status, body["error"]["reason"]) == (
        400,
        "unknown setting [index.hiden] please check that any required plugins are installed, or check the breaking "
        "changes documentation for removed settings",
    )
    status, body, _ = await raw("PUT", "/bad-mapping", json={"mappings": {"properties": {"a": {"type": "strang"}}}})
    assert (status, body["error"]["type"], body["error"]["reason"]) == (
        400,
        "mapper_parsing_exception",
        "Failed to parse mapping: No handler for type [strang] declared on field [a]",
    )
    status, body, _ = await raw("PUT", "/bad-key", json={"mapping": {}})
    assert (status, body["error"]["reason"]) == (400, "unknown key [mapping] for create index")
    status, _, _ = await raw("DELETE", "/bad-*")
    assert status == 400


async def test_get_index_describes_settings_mappings_aliases(es: AsyncElasticsearch) -> None:
    await es.indices.create(
        index=".described",
        settings={"index.hidden": True, "index.auto_expand_replicas": "0-1"},
        mappings={"dynamic": False, "properties": {"k": {"type": "keyword"}}},
        aliases={".described-alias": {}},
    )
    body = (await es.indices.get(index=".described"))[".described"]
    assert body["aliases"] == {".described-alias": {}}
    assert body["mappings"] == {"dynamic": "false", "properties": {"k": {"type": "keyword"}}}
    assert body["settings"]["index"]["hidden"] == "true"
    assert body["settings"]["index"]["number_of_shards"] == "1"
    assert body["settings"]["index"]["provided_name"] == ".described"


async def test_sequence_number_conflicts(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="seq")
    first = await es.index(index="seq", id="a", document={"v": 1})
    await es.index(index="seq", id="a", document={"v": 2}, if_seq_no=first["_seq_no"], if_primary_term=1)
    with pytest.raises(ConflictError) as raised:
        await es.index(index="seq", id="a", document={"v": 3}, if_seq_no=first["_seq_no"], if_primary_term=1)
    assert raised.value.body["error"]["reason"] == (
        "[a]: version conflict, required seqNo [0], primary term [1]. current document has seqNo [1] and primary term [1]"
    )


async def test_update_and_source_filtering(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="docs")
    await es.index(index="docs", id="a", document={"keep": 1, "nested": {"x": 1, "y": 2}, "drop": 3})
    updated = await es.update(index="docs", id="a", doc={"nested": {"y": 5}})
    assert (updated["result"], updated["_version"]) == ("updated", 2)
    noop = await es.update(index="docs", id="a", doc={"keep": 1})
    assert noop["result"] == "noop"
    got = await es.get(index="docs", id="a", source_includes=["keep", "nested.y"])
    assert got["_source"] == {"keep": 1, "nested": {"y": 5}}
    got = await es.get(index="docs", id="a", source_excludes=["drop"])
    assert got["_source"] == {"keep": 1, "nested": {"x": 1, "y": 5}}
    assert "_source" not in (await es.get(index="docs", id="a", source=False)).body
    with pytest.raises(NotFoundError) as missing:
        await es.update(index="docs", id="zz", doc={"a": 1})
    assert missing.value.body["error"]["type"] == "document_missing_exception"


async def test_search_errors(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="s", mappings={"properties": {"title": {"type": "text"}, "k": {"type": "keyword"}}})
    with pytest.raises(BadRequestError) as window:
        await es.search(index="s", size=10_001)
    assert window.value.body["error"]["type"] == "search_phase_execution_exception"
    assert window.value.body["error"]["root_cause"][0]["reason"].startswith("Result window is too large")
    with pytest.raises(BadRequestError) as text_sort:
        await es.search(index="s", sort=["title"])
    assert text_sort.value.body["error"]["root_cause"][0]["reason"].startswith("Text fields are not optimised")
    with pytest.raises(BadRequestError) as unmapped:
        await es.search(index="s", sort=[{"nothing": "asc"}])
    assert (
        unmapped.value.body["error"]["root_cause"][0]["reason"] == "No mapping found for [nothing] in order to sort on"
    )
    with pytest.raises(BadRequestError) as unknown:
        await es.search(index="s", query={"fuzzy_thing": {}})
    assert (unknown.value.body["error"]["type"], unknown.value.body["error"]["reason"]) == (
        "parsing_exception",
        "unknown query [fuzzy_thing]",
    )


async def test_search_queries(es: AsyncElasticsearch) -> None:
    await es.indices.create(index="q", mappings={"properties": {"title": {"type": "text"}, "k": {"type": "keyword"}}})
    docs = [("1", "Hello World", "a"), ("2", "hello there", "b"), ("3", "goodbye", None)]
    for doc_id, title, key in docs:
        await es.index(index="q", id=doc_id, document={"title": title, **({"k": key} if key else {})})

    async def ids(query: dict[str, Any], **kwargs: Any) -> list[str]:
        result = await es.search(index="q", query=query, **kwargs)
        return [hit["_id"] for hit in result["hits"]["hits"]]

    assert await ids({"term": {"title": "hello"}}, sort=["_doc"]) == ["1", "2"]
    assert await ids({"match": {"title": {"query": "hello world", "operator": "and"}}}) == ["1"]
    assert await ids({"bool": {"must_not": [{"exists": {"field": "k"}}]}}) == ["3"]
    assert await ids({"bool": {"should": [{"term": {"k": "a"}}, {"term": {"k": "b"}}]}}, sort=[{"k": "desc"}]) == [
        "2",
        "1",
    ]
    assert await ids({"match_all": {}}, sort=[{"k": {"order": "asc", "missing": "_first"}}]) == ["3", "1", "2"]
    assert await ids({"prefix": {"k": "b"}}) == ["2"]
    assert await ids({"constant_score": {"filter": {"ids": {"values": ["3"]}}}}) == ["3"]
    paged = await es.search(index="q", sort=["_doc"], from_=1, size=1)
    assert [h["_id"] for h in paged["hits"]["hits"]] == ["2"]
    assert paged["hits"]["total"] == {"value": 3, "relation": "eq"}
    filtered = await es.search(index="q", query={"bool": {"filter": [{"term": {"k": "a"}}]}})
    assert (filtered["hits"]["max_score"], filtered["hits"]["hits"][0]["_score"]) == (0.0, 0.0)


async def test_bulk_request_errors(raw: Any) -> None:
    ndjson = {"Content-Type": "application/x-ndjson"}
    status, body, _ = await raw("POST", "/_bulk", data=b'{"index":{"_index":"b"}}\n{"a":1}', headers=ndjson)
    assert (status, body["error"]["reason"]) == (400, "The bulk request must be terminated by a newline [\\n]")
    status, body, _ = await raw("POST", "/_bulk", data=b'{"upsert":{"_index":"b"}}\n{}\n', headers=ndjson)
    assert body["error"]["reason"] == (
        "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [upsert]"
    )
    status, body, _ = await raw("POST", "/_bulk", data=b'{"index":{}}\n{}\n', headers=ndjson)
    assert (status, body) == (
        400,
        es_error(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;"),
    )


async def test_bulk_item_authorisation(raw: Any) -> None:
    from tests.devcluster.devcluster_helpers import basic

    data = b'{"index":{"_index":"x"}}\n{"a":1}\n'
    status, body, _ = await raw(
        "POST", "/_bulk", data=data, headers={"Content-Type": "application/x-ndjson"}, auth=basic("nobody")
    )
    assert (status, body["error"]["reason"]) == (
        403,
        "action [indices:data/write/bulk] is unauthorized for user [nobody] with effective roles [nobody], this action "
        "is granted by the index privileges [create_doc,create,delete,index,write,all]",
    )
    status, body, _ = await raw(
        "POST",
        "/_bulk",
        data=b'{"index":{"_index":"other"}}\n{"a":1}\n',
        headers={"Content-Type": "application/x-ndjson"},
        auth=basic("sidecar"),
    )
    assert status == 200 and body["errors"] is True
    item = body["items"][0]["index"]
    assert (item["status"], item["error"]["type"]) == (403, "security_exception")
