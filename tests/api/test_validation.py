"""Bad input gets Elasticsearch's status, error type and message, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ADMIN, Client, Provider, es_error, openai_body

ELSER_PATH = "/_inference/sparse_embedding/e"


def validation(*messages: str) -> dict[str, Any]:
    reason = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, start=1))
    return es_error(400, "validation_exception", reason)


def status_400(reason: str) -> dict[str, Any]:
    return es_error(400, "status_exception", reason)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/_inference/bad/e", {"service": "elser"}, status_400("Unknown task_type [bad]")),
        (ELSER_PATH, {"service_settings": {}}, status_400("Model configuration is missing a service")),
        (ELSER_PATH, {"service": "foo", "service_settings": {}}, status_400("Unknown service [foo]")),
        (ELSER_PATH, {"service": "elser"}, status_400("Missing required field [service_settings]")),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {}},
            validation(
                "[service_settings] does not contain the required setting [num_allocations]",
                "[service_settings] does not contain the required setting [num_threads]",
            ),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": 0, "num_threads": 1}},
            validation("Invalid value [0]. [num_allocations] must be a positive integer"),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": "abc", "num_threads": 1}},
            status_400(
                "field [num_allocations] is not of the expected type. The value [abc] cannot be converted to a [Integer]"
            ),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1, "model_version": "x"}},
            validation("unknown ELSER model version [x]"),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1, "foo": "bar"}},
            status_400("Model configuration contains settings [{foo=bar}] unknown to the [elser] service"),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1}, "extra": 1},
            status_400("Model configuration contains settings [{extra=1}] unknown to the [elser] service"),
        ),
        (
            ELSER_PATH,
            {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1}, "task_settings": {"a": 1}},
            status_400("Model configuration contains settings [{a=1}] unknown to the [elser] service"),
        ),
        (
            "/_inference/text_embedding/e",
            {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1}},
            status_400("The [elser] service does not support task type [text_embedding]"),
        ),
        (
            "/_inference/sparse_embedding/o",
            {"service": "openai", "service_settings": {"api_key": "k"}, "task_settings": {"model": "m"}},
            status_400("The [openai] service does not support task type [sparse_embedding]"),
        ),
        (
            "/_inference/text_embedding/o",
            {"service": "openai", "service_settings": {"api_key": "k"}},
            status_400("Missing required field [task_settings]"),
        ),
        (
            "/_inference/text_embedding/o",
            {"service": "openai", "service_settings": {"api_key": "k"}, "task_settings": {}},
            validation("[task_settings] does not contain the required setting [model]"),
        ),
        (
            "/_inference/text_embedding/o",
            {"service": "openai", "service_settings": {}, "task_settings": {"model": "m"}},
            validation("[service_settings] does not contain the required setting [api_key]"),
        ),
        (
            "/_inference/text_embedding/o",
            {"service": "openai", "service_settings": {"api_key": "k", "url": ""}, "task_settings": {"model": "m"}},
            validation("[service_settings] Invalid value empty string. [url] must be a non-empty string"),
        ),
        (
            "/_inference/text_embedding/h",
            {"service": "hugging_face", "service_settings": {"api_key": "k"}},
            validation("[service_settings] does not contain the required setting [url]"),
        ),
        (
            "/_inference/text_embedding/h",
            {"service": "hugging_face", "service_settings": {"api_key": "k", "url": "http://x", "similarity": "foo"}},
            validation("[service_settings] Invalid value [foo] received. [similarity] must be one of [cosine, dot_product, l2_norm]"),
        ),
    ],
)
async def test_put_validation(sidecar: Client, path: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    response = await sidecar.put(path, json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (expected["status"], expected)
    listed = await sidecar.get("/_inference/_all", headers=ADMIN)
    assert await listed.json() == {"models": []}


async def test_bad_url_is_reported(sidecar: Client) -> None:
    body = {"service": "hugging_face", "service_settings": {"api_key": "k", "url": "not a url"}}
    response = await sidecar.put("/_inference/text_embedding/h", json=body, headers=ADMIN)
    assert response.status == 400
    reason = (await response.json())["error"]["reason"]
    assert reason.startswith(
        "Validation Failed: 1: [service_settings] Invalid url [not a url] received for field [url]. "
        "Error: unable to parse url [not a url]. Reason: "
    )


async def test_malformed_and_missing_bodies(sidecar: Client) -> None:
    response = await sidecar.put(ELSER_PATH, data=b"{not json", headers={**ADMIN, "Content-Type": "application/json"})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["type"] == "parse_exception"
    assert body["error"]["reason"] == "Failed to parse content to map"
    assert body["error"]["caused_by"]["type"] == "json_parse_exception"
    response = await sidecar.put(ELSER_PATH, headers=ADMIN)
    assert (response.status, await response.json()) == (400, es_error(400, "parse_exception", "request body is required"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, es_error(400, "action_request_validation_exception", "Validation Failed: 1: missing input;")),
        ({"input": []}, es_error(400, "action_request_validation_exception", "Validation Failed: 1: input array is empty;")),
        ({"input": "x", "foo": 1}, es_error(400, "x_content_parse_exception", "[1:16] [cluster:monitor/xpack/inference] unknown field [foo]")),
        ({"input": [1]}, es_error(400, "x_content_parse_exception", "[1:2] [cluster:monitor/xpack/inference] failed to parse field [input]")),
    ],
)
async def test_inference_body_validation(
    sidecar: Client, openai_provider: Provider, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert (await sidecar.put("/_inference/text_embedding/o", json=openai_body(openai_provider), headers=ADMIN)).status == 200
    response = await sidecar.post("/_inference/text_embedding/o", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (400, expected)


async def test_unknown_query_parameter(sidecar: Client) -> None:
    response = await sidecar.get("/_inference/_all?foo=1", headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(400, "illegal_argument_exception", "request [/_inference/_all] contains unrecognized parameter: [foo]"),
    )


async def test_bad_timeout_value(sidecar: Client) -> None:
    response = await sidecar.post("/_inference/text_embedding/o?timeout=fast", json={"input": "x"}, headers=ADMIN)
    assert (response.status, await response.json()) == (
        400,
        es_error(
            400,
            "parse_exception",
            "failed to parse setting [timeout] with value [fast] as a time value: unit is missing or unrecognized",
        ),
    )
