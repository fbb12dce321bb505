"""Every call is authorised with the caller's own credentials through `_has_privileges`."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from sidecar.devcluster import DevClusterConfig
from tests.api.conftest import ADMIN, ELASTIC, MONITOR, NOBODY, Client, basic, es_error, start_sidecar

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]

CALLS = [
    ("put", "PUT", "/_inference/sparse_embedding/m", {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1}}),
    ("get", "GET", "/_inference/sparse_embedding/m", None),
    ("delete", "DELETE", "/_inference/sparse_embedding/m", None),
    ("infer", "POST", "/_inference/sparse_embedding/m", {"input": "x"}),
]
ACTIONS = {
    "put": "cluster:admin/xpack/inference/put",
    "get": "cluster:admin/xpack/inference/get",
    "delete": "cluster:admin/xpack/inference/delete",
    "infer": "cluster:monitor/xpack/inference",
}


@pytest.mark.parametrize(("action", "method", "path", "body"), CALLS)
async def test_no_credentials_is_401(sidecar: Client, action: str, method: str, path: str, body: Any) -> None:
    response = await sidecar.request(method, path, json=body)
    assert response.status == 401
    assert response.headers.getall("WWW-Authenticate") == WWW_AUTHENTICATE
    assert await response.json() == es_error(
        401,
        "security_exception",
        f"missing authentication credentials for REST request [{path}]",
        header={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


@pytest.mark.parametrize(("action", "method", "path", "body"), CALLS)
@pytest.mark.parametrize(("user", "roles"), [("monitor_user", "monitor"), ("nobody", "nobody")])
async def test_without_manage_is_403(
    sidecar: Client, action: str, method: str, path: str, body: Any, user: str, roles: str
) -> None:
    response = await sidecar.request(method, path, json=body, headers=basic(user))
    assert (response.status, await response.json()) == (
        403,
        es_error(
            403,
            "security_exception",
            f"action [{ACTIONS[action]}] is unauthorized for user [{user}] with effective roles [{roles}], "
            "this action is granted by the cluster privileges [manage,all]",
        ),
    )


async def test_wrong_password_passes_on_the_clusters_401(sidecar: Client) -> None:
    response = await sidecar.get("/_inference/_all", headers=basic("admin", "wrong"))
    assert response.status == 401
    body = await response.json()
    assert body["error"]["type"] == "security_exception"
    assert body["status"] == 401
    assert response.headers.getall("WWW-Authenticate") == WWW_AUTHENTICATE


@pytest.mark.parametrize("headers", [ADMIN, ELASTIC])
async def test_manage_and_superuser_pass(sidecar: Client, headers: dict[str, str]) -> None:
    response = await sidecar.get("/_inference/_all", headers=headers)
    assert response.status == 200


async def test_api_keys_are_checked_with_their_own_privileges(sidecar: Client, cluster: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{cluster.url}/_security/api_key", json={"name": "k"}, headers=ADMIN) as response:
            key = await response.json()
        async with session.post(f"{cluster.url}/_security/api_key", json={"name": "m"}, headers=MONITOR) as response:
            weak = await response.json()
    response = await sidecar.get("/_inference/_all", headers={"Authorization": f"ApiKey {key['encoded']}"})
    assert response.status == 200
    response = await sidecar.get("/_inference/_all", headers={"Authorization": f"ApiKey {weak['encoded']}"})
    assert (response.status, await response.json()) == (
        403,
        es_error(
            403,
            "security_exception",
            f"action [cluster:admin/xpack/inference/get] is unauthorized for API key id [{weak['id']}] of user "
            "[monitor_user], this action is granted by the cluster privileges [manage,all]",
        ),
    )


async def test_privilege_is_configurable_per_action(make_settings: Any) -> None:
    client = await start_sidecar(make_settings(privilege_get="monitor"))
    try:
        assert (await client.get("/_inference/_all", headers=MONITOR)).status == 200
        response = await client.delete("/_inference/x", headers=MONITOR)
        assert response.status == 403
    finally:
        await client.close()


async def test_answers_are_cached_by_credentials(sidecar: Client) -> None:
    for _ in range(3):
        assert (await sidecar.get("/_inference/_all", headers=ADMIN)).status == 200
    text = await (await sidecar.get("/_sidecar/metrics")).text()
    assert 'sidecar_privilege_cache_lookups_total{result="hit"} 2.0' in text
    assert 'sidecar_privilege_cache_lookups_total{result="miss"} 1.0' in text
    assert base64.b64encode(b"admin:changeme").decode() not in text


async def test_authentication_before_routing_is_cached_by_credentials(sidecar: Client) -> None:
    for _ in range(3):
        assert (await sidecar.get("/_nope", headers=NOBODY)).status == 400
    text = await (await sidecar.get("/_sidecar/metrics")).text()
    assert 'sidecar_privilege_cache_lookups_total{result="hit"} 2.0' in text
    assert 'sidecar_privilege_cache_lookups_total{result="miss"} 1.0' in text


async def test_a_failed_authentication_is_not_cached(sidecar: Client) -> None:
    for _ in range(2):
        assert (await sidecar.get("/_nope", headers=basic("admin", "wrong"))).status == 401
    text = await (await sidecar.get("/_sidecar/metrics")).text()
    assert 'sidecar_privilege_cache_lookups_total{result="miss"} 2.0' in text


class TestSecurityDisabled:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(security_enabled=False, download_delay=0.01)

    async def test_everything_is_allowed_like_the_cluster(self, sidecar: Client) -> None:
        assert (await sidecar.get("/_inference/_all")).status == 200
        assert (await sidecar.get("/_inference/_all", headers=NOBODY)).status == 200

    async def test_routing_errors_need_no_credentials(self, sidecar: Client) -> None:
        response = await sidecar.get("/_nope")
        assert (response.status, await response.json()) == (
            400,
            {"error": "no handler found for uri [/_nope] and method [GET]"},
        )

    async def test_deny_policy(self, make_settings: Any) -> None:
        client = await start_sidecar(make_settings(security_disabled_policy="deny"))
        try:
            response = await client.get("/_inference/_all")
            assert response.status == 403
            assert (await response.json())["error"]["type"] == "security_exception"
        finally:
            await client.close()
