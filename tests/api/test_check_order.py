"""Which error comes first: credentials (401), then the REST layer's request checks (400), then privileges (403).

ES authenticates in the HTTP layer (SecurityRestFilter), then the RestHandler's prepareRequest parses the URL, its
parameters and (for POST) the body, BaseRestHandler refuses unconsumed parameters, TransportAction.execute runs
`request.validate()`, and only then does SecurityActionFilter authorise the action. What the transport action itself
parses (the PUT body, the service and its settings) comes after the privilege check.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ADMIN, ELSER_BODY, MONITOR, NOBODY, Client, Provider, basic, es_error, openai_body

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
JSON = {"Content-Type": "application/json"}


def missing_credentials(path: str) -> dict[str, Any]:
    return es_error(
        401,
        "security_exception",
        f"missing authentication credentials for REST request [{path}]",
        header={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def unknown_parameter(path: str) -> dict[str, Any]:
    return es_error(400, "illegal_argument_exception", f"request [{path}] contains unrecognized parameter: [foo]")


BAD_TASK_TYPE = es_error(400, "status_exception", "Unknown task_type [bad]")
NO_BODY = es_error(400, "parse_exception", "request body is required")

# (method, path, body: a JSON value, raw bytes or None, the REST layer's answer)
BAD_REQUESTS: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("PUT", "/_inference/bad/m", ELSER_BODY, BAD_TASK_TYPE),
    ("PUT", "/_inference/sparse_embedding/m", None, NO_BODY),
    ("PUT", "/_inference/sparse_embedding/m?foo=1", ELSER_BODY, unknown_parameter("/_inference/sparse_embedding/m")),
    ("GET", "/_inference/bad/m", None, BAD_TASK_TYPE),
    ("GET", "/_inference/_all?foo=1", None, unknown_parameter("/_inference/_all")),
    ("DELETE", "/_inference/bad/m", None, BAD_TASK_TYPE),
    ("DELETE", "/_inference/m?foo=1", None, unknown_parameter("/_inference/m")),
    ("POST", "/_inference/bad/m", {"input": "x"}, BAD_TASK_TYPE),
    ("POST", "/_inference/sparse_embedding/m", None, NO_BODY),
    (
        "POST",
        "/_inference/sparse_embedding/m?foo=1",
        {"input": "x"},
        unknown_parameter("/_inference/sparse_embedding/m"),
    ),
    (
        "POST",
        "/_inference/sparse_embedding/m",
        {},
        es_error(400, "action_request_validation_exception", "Validation Failed: 1: missing input;"),
    ),
    (
        "POST",
        "/_inference/sparse_embedding/m",
        {"input": "x", "foo": 1},
        es_error(400, "x_content_parse_exception", "[1:16] [cluster:monitor/xpack/inference] unknown field [foo]"),
    ),
    (
        "POST",
        "/_inference/sparse_embedding/m?timeout=fast",
        {"input": "x"},
        es_error(
            400,
            "parse_exception",
            "failed to parse setting [timeout] with value [fast] as a time value: unit is missing or unrecognized",
        ),
    ),
]
IDS = [f"{method} {path} {body!r:.20}" for method, path, body, _ in BAD_REQUESTS]


async def send(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if isinstance(body, bytes):
        return await client.request(method, path, data=body, headers={**headers, **JSON})
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "expected"), BAD_REQUESTS, ids=IDS)
@pytest.mark.parametrize("headers", [ADMIN, MONITOR, NOBODY], ids=["manage", "monitor", "nobody"])
async def test_a_bad_request_is_400_whatever_the_privileges(
    sidecar: Client, method: str, path: str, body: Any, expected: dict[str, Any], headers: dict[str, str]
) -> None:
    response = await send(sidecar, method, path, body, headers)
    assert (response.status, await response.json()) == (400, expected)


@pytest.mark.parametrize(("method", "path", "body", "expected"), BAD_REQUESTS, ids=IDS)
async def test_missing_credentials_come_first(
    sidecar: Client, method: str, path: str, body: Any, expected: dict[str, Any]
) -> None:
    response = await send(sidecar, method, path, body, {})
    assert (response.status, await response.json()) == (
        401,
        missing_credentials(path),
    )


@pytest.mark.parametrize(("method", "path", "body", "expected"), BAD_REQUESTS, ids=IDS)
async def test_wrong_credentials_come_first(
    sidecar: Client, method: str, path: str, body: Any, expected: dict[str, Any]
) -> None:
    response = await send(sidecar, method, path, body, basic("admin", "wrong"))
    assert response.status == 401
    assert (await response.json())["error"]["type"] == "security_exception"


# Refused before any route's own checks: no route, a route without the method, a body that is not JSON
# (the last one with a body; the others without).
REFUSED_BEFORE_ROUTING: list[tuple[str, str, dict[str, str], int, dict[str, Any]]] = [
    ("GET", "/_nope?x=1", {}, 400, {"error": "no handler found for uri [/_nope?x=1] and method [GET]"}),
    (
        "PATCH",
        "/_inference/text_embedding/x",
        {},
        405,
        {
            "error": "Incorrect HTTP method for uri [/_inference/text_embedding/x] and method [PATCH], allowed: [DELETE, GET, POST, PUT]",
            "status": 405,
        },
    ),
    (
        "PUT",
        "/_inference/text_embedding/x",
        {"Content-Type": "text/plain"},
        406,
        {"error": "Content-Type header [text/plain] is not supported", "status": 406},
    ),
]
REFUSED_IDS = [f"{status}" for _, _, _, status, _ in REFUSED_BEFORE_ROUTING]


@pytest.mark.parametrize(("method", "path", "extra", "status", "expected"), REFUSED_BEFORE_ROUTING, ids=REFUSED_IDS)
async def test_credentials_come_before_routing_too(
    sidecar: Client, method: str, path: str, extra: dict[str, str], status: int, expected: dict[str, Any]
) -> None:
    """ES 8.9+ authenticates a request's headers in the HTTP layer, before the REST controller routes it."""
    body = b"{}" if extra else None
    missing = await sidecar.request(method, path, data=body, headers=extra)
    assert (missing.status, await missing.json()) == (
        401,
        missing_credentials(path),
    )
    wrong = await sidecar.request(method, path, data=body, headers={**basic("admin", "wrong"), **extra})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["type"] == "security_exception"
    # Known to the cluster, even without any privilege: the router's answer.
    known = await sidecar.request(method, path, data=body, headers={**NOBODY, **extra})
    assert (known.status, await known.json()) == (status, expected)


async def test_the_sidecars_own_paths_ask_no_credentials(sidecar: Client) -> None:
    response = await sidecar.request("POST", "/_sidecar/health/live")
    assert response.status == 405


async def test_the_put_body_is_parsed_after_the_privilege_check(sidecar: Client) -> None:
    """ES parses the PUT body in TransportPutInferenceModelAction, behind the security filter."""
    forbidden = es_error(
        403,
        "security_exception",
        "action [cluster:admin/xpack/inference/put] is unauthorized for user [monitor_user] with effective roles "
        "[monitor], this action is granted by the cluster privileges [manage,all]",
    )
    for body in (b"{not json", {"service": "foo"}, {"service": "elser", "service_settings": {}}):
        response = await send(sidecar, "PUT", "/_inference/sparse_embedding/m", body, MONITOR)
        assert (response.status, await response.json()) == (403, forbidden)
    response = await send(sidecar, "PUT", "/_inference/sparse_embedding/m", {"service": "foo"}, ADMIN)
    assert (response.status, await response.json()) == (400, es_error(400, "status_exception", "Unknown service [foo]"))


async def test_a_refused_caller_changes_nothing(sidecar: Client, openai_provider: Provider) -> None:
    body = openai_body(openai_provider)
    response = await sidecar.put("/_inference/text_embedding/o1", json=body, headers=NOBODY)
    assert response.status == 403
    assert (await sidecar.get("/_inference/o1", headers=ADMIN)).status == 404
    calls = openai_provider.config.calls
    assert (await sidecar.put("/_inference/text_embedding/o1", json=body, headers=ADMIN)).status == 200
    assert openai_provider.config.calls == calls + 1  # the probe of the admin's PUT only
    response = await sidecar.post("/_inference/text_embedding/o1", json={"input": "x"}, headers=NOBODY)
    assert response.status == 403
    assert openai_provider.config.calls == calls + 1
    response = await sidecar.delete("/_inference/o1", headers=NOBODY)
    assert response.status == 403
    assert (await sidecar.get("/_inference/o1", headers=ADMIN)).status == 200
    response = await sidecar.get("/_inference/o1", headers=NOBODY)
    assert response.status == 403


async def test_a_missing_model_is_403_for_a_refused_caller(sidecar: Client) -> None:
    """The model lookup is the transport action's work: behind the privilege check."""
    for method in ("GET", "DELETE"):
        response = await sidecar.request(method, "/_inference/sparse_embedding/missing", headers=MONITOR)
        assert response.status == 403
        response = await sidecar.request(method, "/_inference/sparse_embedding/missing", headers=ADMIN)
        assert response.status == 404
    response = await sidecar.post("/_inference/sparse_embedding/missing", json={"input": "x"}, headers=MONITOR)
    assert response.status == 403


class TestDialect815:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"api_compat": "8.15"}

    @pytest.mark.parametrize("headers", [ADMIN, MONITOR], ids=["manage", "monitor"])
    @pytest.mark.parametrize("name", ["dry_run", "force"])
    async def test_a_bad_boolean_parameter_is_400(self, sidecar: Client, headers: dict[str, str], name: str) -> None:
        """RestRequest.paramAsBoolean: empty is true; anything but `true` and `false` is refused."""
        response = await sidecar.delete(f"/_inference/m?{name}=yes", headers=headers)
        assert (response.status, await response.json()) == (
            400,
            es_error(
                400, "illegal_argument_exception", "Failed to parse value [yes] as only [true] or [false] are allowed."
            ),
        )
