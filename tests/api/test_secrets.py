"""The provider key never appears in a stored document, a response, a metric or a log line."""

from __future__ import annotations

import io
from typing import Any

import aiohttp

from sidecar.observability.logging import configure_logging
from tests.api.conftest import ADMIN, ELASTIC, OPENAI_KEY, SECRETS_KEY, Client, Provider, openai_body


async def dump_cluster(cluster: Any) -> str:
    """Every document of every index the sidecar wrote, as the cluster returns it."""
    async with aiohttp.ClientSession() as session, session.post(
        f"{cluster.url}/.sidecar-inference*/_search?expand_wildcards=all",
        json={"size": 1000, "query": {"match_all": {}}},
        headers=ELASTIC,
    ) as response:
        assert response.status == 200
        return await response.text()


async def test_api_key_is_encrypted_and_never_echoed(
    sidecar: Client, cluster: Any, openai_provider: Provider
) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", "json", logs)
    seen: list[str] = []
    body = openai_body(openai_provider)
    for method, path, payload in [
        ("PUT", "/_inference/text_embedding/leak", body),
        ("PUT", "/_inference/text_embedding/leak", body),
        ("GET", "/_inference/text_embedding/leak", None),
        ("GET", "/_inference/_all", None),
        ("POST", "/_inference/text_embedding/leak", {"input": ["hello"]}),
    ]:
        response = await sidecar.request(method, path, json=payload, headers=ADMIN)
        seen.append(await response.text())
    openai_provider.config.fail_next(401, {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}})
    response = await sidecar.post("/_inference/text_embedding/leak", json={"input": ["other"]}, headers=ADMIN)
    assert response.status == 401
    seen.append(await response.text())
    seen.append(await (await sidecar.get("/_sidecar/metrics")).text())

    stored = await dump_cluster(cluster)
    assert '"ciphertext"' in stored and '"model_id":"leak"' in stored.replace(" ", "")
    for text in [*seen, stored, logs.getvalue()]:
        assert OPENAI_KEY not in text
        assert SECRETS_KEY not in text
    assert "changeme" not in logs.getvalue()
    response = await sidecar.delete("/_inference/text_embedding/leak", headers=ADMIN)
    assert response.status == 200
