"""Trailing slashes on the `_inference` routes, routed as Elasticsearch routes them.

ES's RestController looks handlers up in its PathTrie, which splits the path with Java's `String.split("/")`:
trailing empty segments are dropped, so `/_inference/` is `/_inference` and `/_inference/o1//` is `/_inference/o1`.
Everything else about the request (the URI in messages, unknown parameters) keeps the path as sent.
"""

from __future__ import annotations

from tests.api.conftest import ADMIN, Client, Provider, es_error, openai_body

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


async def test_get_all_with_an_empty_id(sidecar: Client) -> None:
    """The YAML test "Test get all" sends `inference_id: ""`, that is `GET /_inference/`."""
    for path in ("/_inference/", "/_inference//"):
        response = await sidecar.get(path, headers=ADMIN)
        assert (response.status, await response.json()) == (200, {"models": []})


async def test_every_method_ignores_trailing_slashes(sidecar: Client, openai_provider: Provider) -> None:
    response = await sidecar.put("/_inference/text_embedding/o1/", json=openai_body(openai_provider), headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["model_id"] == "o1"
    for path in ("/_inference/", "/_inference/o1/", "/_inference/text_embedding/o1//", "/_inference/_all/"):
        response = await sidecar.get(path, headers=ADMIN)
        assert [model["model_id"] for model in (await response.json())["models"]] == ["o1"], path
    response = await sidecar.post("/_inference/text_embedding/o1/", json={"input": ["a", "b"]}, headers=ADMIN)
    assert response.status == 200
    assert len((await response.json())["text_embedding"]) == 2
    response = await sidecar.post("/_inference/o1/", json={"input": "a"}, headers=ADMIN)
    assert response.status == 200
    response = await sidecar.delete("/_inference/o1/", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"acknowledged": True})
    response = await sidecar.get("/_inference/", headers=ADMIN)
    assert await response.json() == {"models": []}


async def test_messages_keep_the_path_as_sent(sidecar: Client) -> None:
    response = await sidecar.get("/_inference/?foo=1", headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(400, "illegal_argument_exception", "request [/_inference/] contains unrecognized parameter: [foo]"),
    )
    response = await sidecar.get("/_inference/")
    assert (response.status, await response.json()) == (
        401,
        es_error(
            401,
            "security_exception",
            "missing authentication credentials for REST request [/_inference/]",
            header={"WWW-Authenticate": WWW_AUTHENTICATE},
        ),
    )
    response = await sidecar.get("/_inference/nope/", headers=ADMIN)
    assert (response.status, await response.json()) == (
        404,
        es_error(404, "resource_not_found_exception", "Model not found [nope]"),
    )


async def test_a_wrong_method_is_still_405(sidecar: Client) -> None:
    response = await sidecar.post("/_inference/", json={"input": "x"}, headers=ADMIN)
    assert (response.status, response.headers["Allow"], await response.json()) == (
        405,
        "GET",
        {"error": "Incorrect HTTP method for uri [/_inference/] and method [POST], allowed: [GET]", "status": 405},
    )


async def test_the_sidecars_own_routes_are_not_elasticsearch_routes(sidecar: Client) -> None:
    assert (await sidecar.get("/_sidecar/health/live")).status == 200
    response = await sidecar.get("/_sidecar/health/live/")
    assert (response.status, await response.json()) == (
        400,
        {"error": "no handler found for uri [/_sidecar/health/live/] and method [GET]"},
    )
