"""Security: 401 and 403 bodies, `_authenticate` variants, `_has_privileges`, API keys, bearer
tokens, run-as, the version-dependent inference privileges, security disabled, and the refusal of
writes to ES's own `.inference*` system indices (es-wire.md §C, checklist 6-11 and 30)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, ElasticsearchWarning

from sidecar.devcluster import DevCluster, DevClusterConfig
from tests.devcluster.devcluster_helpers import basic, es_error

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


def unauthenticated(reason: str, **extra: Any) -> dict[str, Any]:
    return es_error(401, "security_exception", reason, **extra, header={"WWW-Authenticate": WWW_AUTHENTICATE})


async def test_missing_credentials(raw: Any) -> None:
    status, body, headers = await raw("GET", "/_security/_authenticate?pretty=false", auth=None)
    assert (status, body) == (
        401,
        unauthenticated("missing authentication credentials for REST request [/_security/_authenticate?pretty=false]"),
    )
    assert headers.getall("WWW-Authenticate") == WWW_AUTHENTICATE


async def test_wrong_password_and_bad_keys(raw: Any) -> None:
    status, body, _ = await raw("GET", "/", auth=basic("admin", "wrong"))
    assert (status, body) == (401, unauthenticated("unable to authenticate user [admin] for REST request [/]"))
    bogus = base64.b64encode(b"nokey:secret").decode()
    status, body, _ = await raw("GET", "/", auth={"Authorization": f"ApiKey {bogus}"})
    assert (status, body) == (
        401,
        unauthenticated(
            "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
            additional_unsuccessful_credentials="API key: unable to find apikey with id nokey",
        ),
    )
    status, _, _ = await raw("GET", "/", auth={"Authorization": "Bearer nope"})
    assert status == 401


async def test_authenticate_as_a_realm_user(raw: Any) -> None:
    status, body, _ = await raw("GET", "/_security/_authenticate", auth=basic("sidecar"))
    assert (status, body) == (
        200,
        {
            "username": "sidecar",
            "roles": ["inference_sidecar"],
            "full_name": "Inference sidecar service account",
            "email": None,
            "metadata": {},
            "enabled": True,
            "authentication_realm": {"name": "default_native", "type": "native"},
            "lookup_realm": {"name": "default_native", "type": "native"},
            "authentication_type": "realm",
        },
    )


async def test_403_for_a_cluster_action(raw: Any) -> None:
    status, body, _ = await raw(
        "PUT", "/_ml/trained_models/.elser_model_2", json={"input": {}}, auth=basic("monitor_user")
    )
    assert (status, body) == (
        403,
        es_error(
            403,
            "security_exception",
            "action [cluster:admin/xpack/ml/inference/put] is unauthorized for user [monitor_user] with effective "
            "roles [monitor], this action is granted by the cluster privileges [manage_ml,manage,all]",
        ),
    )
    status, _, _ = await raw("GET", "/_ml/trained_models/_stats", auth=basic("monitor_user"))
    assert status == 200


async def test_403_for_an_index_action(raw: Any) -> None:
    status, body, _ = await raw("PUT", "/some-index", auth=basic("admin"))
    assert (status, body) == (
        403,
        es_error(
            403,
            "security_exception",
            "action [indices:admin/create] is unauthorized for user [admin] with effective roles [admin] on indices "
            "[some-index], this action is granted by the index privileges [create_index,manage,all]",
        ),
    )


async def test_has_privileges(raw: Any) -> None:
    status, body, _ = await raw(
        "POST",
        "/_security/user/_has_privileges",
        json={
            "cluster": ["manage", "monitor", "manage_ml"],
            "index": [
                {"names": [".inference-sidecar*", ".sidecar-inference*"], "privileges": ["manage", "read", "write"]}
            ],
        },
        auth=basic("sidecar"),
    )
    assert (status, body) == (
        200,
        {
            "username": "sidecar",
            "has_all_requested": False,
            "cluster": {"manage": False, "monitor": True, "manage_ml": True},
            "index": {
                ".inference-sidecar*": {"manage": True, "read": True, "write": True},
                ".sidecar-inference*": {"manage": True, "read": True, "write": True},
            },
            "application": {},
        },
    )
    status, body, _ = await raw(
        "GET", "/_security/user/_has_privileges", json={"cluster": ["manage"]}, auth=basic("admin")
    )
    assert (status, body["has_all_requested"], body["cluster"]) == (200, True, {"manage": True})


async def test_has_privileges_of_someone_else(raw: Any) -> None:
    status, body, _ = await raw("POST", "/_security/user/admin/_has_privileges", json={"cluster": ["manage"]})
    assert (status, body) == (
        400,
        es_error(400, "illegal_argument_exception", "users may only check the privileges of their own account"),
    )


async def test_inference_privileges_exist_from_814(devcluster: DevCluster, raw: Any) -> None:
    status, body, _ = await raw("POST", "/_security/user/_has_privileges", json={"cluster": ["manage_inference"]})
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"].startswith("unknown cluster privilege [manage_inference]. a privilege must be")
    devcluster.config.version = "8.14.3"
    status, body, _ = await raw(
        "POST", "/_security/user/_has_privileges", json={"cluster": ["manage_inference", "monitor_inference"]}
    )
    assert (status, body["cluster"]) == (200, {"manage_inference": True, "monitor_inference": True})


async def test_api_keys(raw: Any) -> None:
    status, key, _ = await raw("POST", "/_security/api_key", json={"name": "k"}, auth=basic("admin"))
    assert status == 200 and set(key) == {"id", "name", "api_key", "encoded"}
    assert base64.b64decode(key["encoded"]).decode() == f"{key['id']}:{key['api_key']}"
    as_key = {"Authorization": f"ApiKey {key['encoded']}"}
    status, me, _ = await raw("GET", "/_security/_authenticate", auth=as_key)
    assert (status, me["username"], me["roles"], me["authentication_type"], me["api_key"]) == (
        200,
        "admin",
        [],
        "api_key",
        {"id": key["id"], "name": "k"},
    )
    assert me["authentication_realm"] == {"name": "_es_api_key", "type": "_es_api_key"}
    status, checked, _ = await raw("POST", "/_security/user/_has_privileges", json={"cluster": ["manage"]}, auth=as_key)
    assert checked["cluster"] == {"manage": True}
    status, limited, _ = await raw(
        "POST",
        "/_security/api_key",
        json={"name": "limited", "role_descriptors": {"r": {"cluster": ["monitor"]}}},
        auth=basic("admin"),
    )
    as_limited = {"Authorization": f"ApiKey {limited['encoded']}"}
    status, body, _ = await raw("PUT", "/_ml/trained_models/.elser_model_2", json={"input": {}}, auth=as_limited)
    assert (status, body["error"]["reason"]) == (
        403,
        f"action [cluster:admin/xpack/ml/inference/put] is unauthorized for API key id [{limited['id']}] of user "
        "[admin], this action is granted by the cluster privileges [manage_ml,manage,all]",
    )
    status, body, _ = await raw("DELETE", "/_security/api_key", json={"ids": [limited["id"]]}, auth=basic("admin"))
    assert body["invalidated_api_keys"] == [limited["id"]]
    status, body, _ = await raw("GET", "/", auth=as_limited)
    assert (status, body["error"]["additional_unsuccessful_credentials"]) == (
        401,
        f"API key: api key [{limited['id']}] has been invalidated",
    )


class TestBearerTokens:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(bearer_tokens={"tok-123": "monitor_user"})

    async def test_static_bearer_token(self, raw: Any) -> None:
        status, me, _ = await raw("GET", "/_security/_authenticate", auth={"Authorization": "Bearer tok-123"})
        assert (status, me["username"], me["authentication_type"]) == (200, "monitor_user", "token")


async def test_run_as(raw: Any) -> None:
    status, me, _ = await raw("GET", "/_security/_authenticate", headers={"es-security-runas-user": "monitor_user"})
    assert (status, me["username"], me["roles"]) == (200, "monitor_user", ["monitor"])
    assert me["authentication_realm"] == {"name": "reserved", "type": "reserved"}
    assert me["lookup_realm"] == {"name": "default_native", "type": "native"}
    status, body, _ = await raw("GET", "/", auth=basic("admin"), headers={"es-security-runas-user": "monitor_user"})
    assert (status, body["error"]["reason"]) == (
        403,
        "action [cluster:monitor/main] is unauthorized for user [admin] with effective roles [admin], because user "
        "[admin] is unauthorized to run as [monitor_user]",
    )


async def test_users_and_roles_api(raw: Any) -> None:
    status, body, _ = await raw("PUT", "/_security/role/viewer", json={"cluster": ["monitor_ml"]})
    assert (status, body) == (200, {"role": {"created": True}})
    status, body, _ = await raw("PUT", "/_security/user/bob", json={"password": "secret123", "roles": ["viewer"]})
    assert (status, body) == (200, {"created": True})
    status, body, _ = await raw("POST", "/_ml/trained_models/x/deployment/_start", auth=basic("bob", "secret123"))
    assert body["error"]["reason"] == (
        "action [cluster:admin/xpack/ml/trained_models/deployment/start] is unauthorized for user [bob] with "
        "effective roles [viewer], this action is granted by the cluster privileges [manage_ml,manage,all]"
    )
    status, body, _ = await raw("PUT", "/_security/role/broken", json={"cluster": ["manage_everything"]})
    assert status == 400 and "unknown cluster privilege [manage_everything]" in body["error"]["reason"]


async def test_writes_to_es_system_indices_are_refused(raw: Any) -> None:
    for index in (".inference", ".secrets-inference", ".inference-sidecar-models-000001"):
        status, body, _ = await raw("PUT", f"/{index}", json={"settings": {"index.hidden": True}})
        assert (status, body) == (
            403,
            es_error(
                403,
                "security_exception",
                "action [indices:admin/create] is unauthorized for user [elastic] with effective roles [superuser] on "
                f"restricted indices [{index}], this action is granted by the index privileges [create_index,manage,all]",
            ),
        )
    status, body, _ = await raw("PUT", "/.inference/_doc/model_x", json={"model_id": "x"}, auth=basic("sidecar"))
    assert status == 403
    assert body["error"]["reason"].startswith(
        "action [indices:admin/auto_create] is unauthorized for user [sidecar] with effective roles [inference_sidecar] "
        "on restricted indices [.inference]"
    )
    status, _, _ = await raw(
        "PUT", "/.sidecar-inference-models-000001", json={"settings": {"index.hidden": True}}, auth=basic("sidecar")
    )
    assert status == 200


class TestSecurityDisabled:
    @pytest.fixture
    def devcluster_config(self) -> DevClusterConfig:
        return DevClusterConfig(security_enabled=False)

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/_security/user/_has_privileges"),
            ("GET", "/_security/user/_has_privileges"),
            ("GET", "/_security/_authenticate"),
            ("POST", "/_security/api_key"),
            ("PUT", "/_security/user/bob"),
        ],
    )
    async def test_security_routes_do_not_exist(self, raw: Any, method: str, path: str) -> None:
        status, body, headers = await raw(method, path, json={"cluster": ["manage"]})
        assert (status, body) == (400, {"error": f"no handler found for uri [{path}] and method [{method}]"})
        assert headers["X-elastic-product"] == "Elasticsearch"

    async def test_no_credentials_needed(self, raw: Any) -> None:
        status, body, _ = await raw("GET", "/", auth=None)
        assert status == 200 and body["version"]["number"] == "8.12.2"
        status, _, _ = await raw("PUT", "/anything", auth=None)
        assert status == 200

    async def test_system_index_access_warns(self, devcluster: DevCluster) -> None:
        async with AsyncElasticsearch(devcluster.url) as es:
            with pytest.warns(ElasticsearchWarning, match=r"this request accesses system indices: \[\.inference\]"):
                await es.indices.create(index=".inference", settings={"index.hidden": True})
