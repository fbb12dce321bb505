"""Raw HTTP: the product header everywhere, content negotiation, router errors, parameter and body
checks, `Warning` headers (es-wire.md §A.7, §A.9, §F.8)."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.devcluster import DevClusterConfig
from tests.devcluster.devcluster_helpers import es_error

VENDOR_8 = "application/vnd.elasticsearch+json; compatible-with=8"
WARNING_PREFIX = '299 Elasticsearch-8.12.2-48a287ab9497e852de30327444b0809e55d46466 "'


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("GET", "/", True, 200),
        ("HEAD", "/", True, 200),
        ("GET", "/no-such-index/_doc/1", True, 404),
        ("GET", "/_cat/nothing", True, 400),
        ("DELETE", "/_ml/trained_models/x/_stats", True, 405),
        ("GET", "/", False, 401),
        ("GET", "/_license", True, 200),
    ],
)
async def test_every_response_says_elasticsearch(raw: Any, method: str, path: str, auth: bool, status: int) -> None:
    got, _, headers = await raw(method, path, **({} if auth else {"auth": None}))
    assert got == status
    assert headers["X-elastic-product"] == "Elasticsearch"


async def test_head_root_has_no_body(raw: Any) -> None:
    status, body, _ = await raw("HEAD", "/")
    assert (status, body) == (200, None)


async def test_no_handler_is_the_flat_400(raw: Any) -> None:
    status, body, _ = await raw("POST", "/_cat/nothing?v=true")
    assert (status, body) == (400, {"error": "no handler found for uri [/_cat/nothing?v=true] and method [POST]"})


async def test_wrong_method_is_405_with_allow(raw: Any) -> None:
    status, body, headers = await raw("DELETE", "/_ml/trained_models/x/_stats")
    assert (status, body) == (
        405,
        {
            "error": "Incorrect HTTP method for uri [/_ml/trained_models/x/_stats] and method [DELETE], allowed: [GET]",
            "status": 405,
        },
    )
    assert headers["Allow"] == "GET"
    status, body, headers = await raw("PATCH", "/")
    assert body["error"].endswith("allowed: [GET, HEAD]")
    assert headers["Allow"] == "GET,HEAD"


async def test_vendor_media_type_is_echoed(raw: Any) -> None:
    status, body, headers = await raw("GET", "/", headers={"Accept": VENDOR_8})
    assert status == 200 and body["tagline"] == "You Know, for Search"
    assert headers["Content-Type"] == "application/vnd.elasticsearch+json;compatible-with=8"
    _, _, plain = await raw("GET", "/", headers={"Accept": "application/json"})
    assert plain["Content-Type"] == "application/json"


async def test_compatible_with_9_is_refused_by_8x(raw: Any) -> None:
    vendor_9 = "application/vnd.elasticsearch+json; compatible-with=9"
    status, body, _ = await raw("GET", "/", headers={"Accept": vendor_9})
    assert (status, body) == (
        400,
        {
            "error": {
                "root_cause": [
                    {
                        "type": "media_type_header_exception",
                        "reason": "Invalid media-type value on headers [Accept, Content-Type]",
                    }
                ],
                "type": "media_type_header_exception",
                "reason": "Invalid media-type value on headers [Accept, Content-Type]",
                "caused_by": {
                    "type": "status_exception",
                    "reason": f"Accept version must be either version 8 or 7, but found 9. Accept={vendor_9}",
                },
            },
            "status": 400,
        },
    )


class TestNineX:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(version="9.0.0")

    async def test_compatible_with_9_is_accepted_by_9x(self, raw: Any) -> None:
        status, body, headers = await raw(
            "GET", "/", headers={"Accept": "application/vnd.elasticsearch+json; compatible-with=9"}
        )
        assert status == 200 and body["version"]["number"] == "9.0.0"
        assert headers["Content-Type"] == "application/vnd.elasticsearch+json;compatible-with=9"


async def test_unsupported_content_type_is_406(raw: Any) -> None:
    status, body, _ = await raw("POST", "/_search", data=b"{}", headers={"Content-Type": "text/plain"})
    assert (status, body) == (406, {"error": "Content-Type header [text/plain] is not supported", "status": 406})


async def test_malformed_json(raw: Any) -> None:
    status, body, _ = await raw("POST", "/_search", data=b'{"query": ', headers={"Content-Type": "application/json"})
    assert status == 400
    assert body["error"]["type"] == "x_content_parse_exception"
    assert body["error"]["reason"].startswith("[1:")


async def test_unrecognized_parameter(raw: Any) -> None:
    status, body, _ = await raw("GET", "/_license?acept_enterprise=true&zzz=1")
    assert (status, body) == (
        400,
        es_error(
            400,
            "illegal_argument_exception",
            "request [/_license] contains unrecognized parameters: [acept_enterprise] -> did you mean "
            "[accept_enterprise]?, [zzz]",
        ),
    )


async def test_body_on_a_bodyless_route(raw: Any) -> None:
    status, body, _ = await raw("GET", "/_ml/trained_models", json={"a": 1})
    assert (status, body["error"]["reason"]) == (
        400,
        "request [GET /_ml/trained_models] does not support having a body",
    )


async def test_pretty_and_filter_path(raw: Any) -> None:
    status, body, _ = await raw("GET", "/?filter_path=version.number,tagline")
    assert (status, body) == (200, {"version": {"number": "8.12.2"}, "tagline": "You Know, for Search"})
    _, text, _ = await raw("GET", "/_license?pretty", headers={"Accept": "application/json"})
    assert text["license"]["status"] == "active"


async def test_dot_index_warning_header(raw: Any) -> None:
    status, _, headers = await raw("PUT", "/.visible-dot-index")
    assert status == 200
    assert headers.getall("Warning") == [
        WARNING_PREFIX + "index name [.visible-dot-index] starts with a dot '.', in the next major version, index "
        'names starting with a dot are reserved for hidden indices and system indices"'
    ]
    status, _, headers = await raw("PUT", "/.hidden-dot-index", json={"settings": {"index": {"hidden": True}}})
    assert status == 200 and "Warning" not in headers


async def test_auto_created_dot_index_warns_and_is_visible(raw: Any) -> None:
    status, body, headers = await raw("PUT", "/.auto/_doc/1", json={"a": "b"})
    assert (status, body["result"]) == (201, "created")
    assert "starts with a dot" in headers["Warning"]
    _, settings, _ = await raw("GET", "/.auto")
    assert "hidden" not in settings[".auto"]["settings"]["index"]
    _, mapping, _ = await raw("GET", "/.auto/_mapping")
    assert mapping[".auto"]["mappings"]["properties"]["a"]["type"] == "text"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_search", {"size": "abc"}),
        ("POST", "/_security/user/_has_privileges", {"index": "x"}),
        ("PUT", "/broken", {"settings": "x"}),
        ("POST", "/_aliases", {"actions": [{"add": "x"}]}),
    ],
)
async def test_bodies_of_the_wrong_shape_are_400_not_500(raw: Any, method: str, path: str, body: Any) -> None:
    status, answer, _ = await raw(method, path, json=body)
    assert status == 400
    assert answer["error"]["type"] in {"x_content_parse_exception", "parse_exception", "parsing_exception"}
