"""Router-level behaviour: product header, flat errors, content negotiation, health."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.openai import OpenAiService
from tests.api.conftest import ADMIN, OPENAI_KEY, Client, openai_body, start_sidecar


async def test_unknown_route_is_the_flat_400(sidecar: Client) -> None:
    response = await sidecar.get("/_nope?x=1", headers=ADMIN)
    assert response.status == 400
    assert response.headers["X-elastic-product"] == "Elasticsearch"
    assert await response.json() == {"error": "no handler found for uri [/_nope?x=1] and method [GET]"}


async def test_wrong_method_is_405_with_allow(sidecar: Client) -> None:
    response = await sidecar.request("PATCH", "/_inference/text_embedding/x", headers=ADMIN)
    assert response.status == 405
    assert response.headers["Allow"] == "DELETE,GET,POST,PUT"
    assert await response.json() == {
        "error": "Incorrect HTTP method for uri [/_inference/text_embedding/x] and method [PATCH], allowed: [DELETE, GET, POST, PUT]",
        "status": 405,
    }


async def test_unsupported_content_type_is_406(sidecar: Client) -> None:
    response = await sidecar.put(
        "/_inference/text_embedding/x", data=b"{}", headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert response.status == 406
    assert await response.json() == {"error": "Content-Type header [text/plain] is not supported", "status": 406}


async def test_vendor_media_type_is_echoed(sidecar: Client) -> None:
    vendor = "application/vnd.elasticsearch+json; compatible-with=8"
    response = await sidecar.get("/_inference/_all", headers={**ADMIN, "Accept": vendor})
    assert response.status == 200
    assert response.headers["Content-Type"] == vendor
    response = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert response.headers["Content-Type"] == "application/json"


async def test_body_over_the_limit_is_413(make_settings: Any) -> None:
    client = await start_sidecar(make_settings(max_body_bytes=2048))
    try:
        response = await client.post(
            "/_inference/text_embedding/x", data=b'{"input":"' + b"a" * 4096 + b'"}',
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert response.status == 413
        assert response.headers["X-elastic-product"] == "Elasticsearch"
        assert (await response.json())["error"]["type"] == "content_too_long_exception"
    finally:
        await client.close()


async def test_health_routes(sidecar: Client) -> None:
    live = await sidecar.get("/_sidecar/health/live")
    assert (live.status, await live.json()) == (200, {"status": "live"})
    ready = await sidecar.get("/_sidecar/health/ready")
    assert (ready.status, await ready.json()) == (200, {"status": "ready"})


async def test_a_body_without_content_type_is_406(sidecar: Client) -> None:
    response = await sidecar.put(
        "/_inference/text_embedding/x", data=b"{}", headers=ADMIN, skip_auto_headers=["Content-Type"]
    )
    assert (response.status, await response.json()) == (406, {"error": "Content-Type header is missing", "status": 406})


async def test_an_internal_fault_is_an_es_500_without_details(
    sidecar: Client, openai_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = openai_body(openai_provider)
    assert (await sidecar.put("/_inference/text_embedding/o", json=body, headers=ADMIN)).status == 200

    async def broken(self: OpenAiService, model: Any, inputs: list[str]) -> list[Any]:
        raise RuntimeError(f"bug while holding {OPENAI_KEY}")

    monkeypatch.setattr(OpenAiService, "infer", broken)
    response = await sidecar.post("/_inference/text_embedding/o", json={"input": "x"}, headers=ADMIN)
    text = await response.text()
    assert response.status == 500
    assert await response.json() == {
        "error": {
            "root_cause": [{"type": "exception", "reason": "An internal error occurred in the inference sidecar"}],
            "type": "exception",
            "reason": "An internal error occurred in the inference sidecar",
        },
        "status": 500,
    }
    assert "Traceback" not in text and OPENAI_KEY not in text


async def test_provider_cookies_are_never_sent_back(sidecar: Client, openai_provider: Any) -> None:
    # One session serves every model: a cookie one provider answer sets must not ride along on any later call.
    # (A host name: aiohttp's default jar ignores cookies from IP addresses.)
    body = openai_body(openai_provider)
    body["service_settings"]["url"] = openai_provider.url.replace("127.0.0.1", "localhost")
    response = await sidecar.put("/_inference/text_embedding/m", json=body, headers=ADMIN)
    assert response.status == 200
    body = {"data": [{"embedding": [0.5]}]}
    openai_provider.config.fail_next(200, body, headers={"Set-Cookie": "route=backend-1; Path=/"})
    for text in ("one", "two"):
        response = await sidecar.post("/_inference/text_embedding/m", json={"input": text}, headers=ADMIN)
        assert response.status == 200
    assert "Cookie" not in openai_provider.config.last_request.headers
