"""`service_settings.rate_limit` as ES 8.14+ `RateLimitSettings.of` reads it.

`RateLimitSettings.of(map, default, validation, serviceName, context)` removes `rate_limit` (absent or null: the
default), reads `requests_per_minute`, and in a request calls `throwIfNotEmptyMap(rateLimitMap, serviceName)`: any
other key fails at once with the unknown-settings message quoting the `rate_limit` map itself. Both Hugging Face
settings classes pass `HuggingFaceService.NAME`, so `hugging_face_elser` is reported as `hugging_face`.

`rate_limit` is an 8.14+ setting, but the sidecar accepts it in the 8.12 dialect too: its own rate limiter reads it,
and the benchmark creates its models with it in the default dialect.
"""

from __future__ import annotations

from typing import Any

import pytest

from plugins.hugging_face import HuggingFaceElserService, HuggingFaceService
from plugins.openai import OpenAiService
from sidecar.domain.service import InferenceService, ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.settings import Settings
from tests.api.conftest import ADMIN, Client, Provider, es_error, openai_body, unknown_settings
from tests.plugins.conftest import API_KEY, parse_error

HF_URL = "http://127.0.0.1:1/"


def config_for(service: InferenceService, rate_limit: Any) -> dict[str, Any]:
    if isinstance(service, OpenAiService):
        return {
            "service_settings": {"api_key": API_KEY, "rate_limit": rate_limit},
            "task_settings": {"model": "text-embedding-3-small"},
        }
    return {"service_settings": {"api_key": API_KEY, "url": HF_URL, "rate_limit": rate_limit}}


CASES = [
    (OpenAiService, TaskType.TEXT_EMBEDDING, "openai"),
    (HuggingFaceService, TaskType.TEXT_EMBEDDING, "hugging_face"),
    (HuggingFaceService, TaskType.SPARSE_EMBEDDING, "hugging_face"),
    (HuggingFaceElserService, TaskType.SPARSE_EMBEDDING, "hugging_face"),
]


@pytest.fixture(params=["8.12", "8.15"])
def settings(request: pytest.FixtureRequest) -> Settings:
    return Settings(api_compat=request.param)


@pytest.mark.parametrize(("service_class", "task_type", "named"), CASES)
def test_an_unknown_rate_limit_key_names_the_service(
    context: ServiceContext, service_class: type[InferenceService], task_type: TaskType, named: str
) -> None:
    service = service_class(context)
    body = parse_error(service, config_for(service, {"foo": 1}), task_type)
    assert body == unknown_settings("{foo=1}", named)


@pytest.mark.parametrize(("service_class", "task_type", "named"), CASES)
def test_the_unknown_key_fails_before_the_collected_messages(
    context: ServiceContext, service_class: type[InferenceService], task_type: TaskType, named: str
) -> None:
    service = service_class(context)
    body = parse_error(service, config_for(service, {"requests_per_minute": 0, "a": "b", "c": [1]}), task_type)
    assert body == unknown_settings("{a=b, c=[1]}", named)


@pytest.mark.parametrize(("service_class", "task_type", "named"), CASES)
def test_null_is_the_default(
    context: ServiceContext, service_class: type[InferenceService], task_type: TaskType, named: str
) -> None:
    service = service_class(context)
    model = service.parse_request("m", task_type, config_for(service, None))
    shown = model.config.service_settings.get("rate_limit")
    expected = (
        {"requests_per_minute": 3000}
        if isinstance(service, OpenAiService) and context.settings.api_compat == "8.15"
        else None
    )
    assert shown == expected


def test_a_rate_limit_that_is_not_a_map(context: ServiceContext) -> None:
    service = OpenAiService(context)
    assert parse_error(service, config_for(service, 5)) == es_error(
        400,
        "status_exception",
        "field [rate_limit] is not of the expected type. The value [5] cannot be converted to a [Map]",
    )


async def test_over_http_in_the_812_dialect(sidecar: Client, openai_provider: Provider) -> None:
    body = openai_body(openai_provider)
    body["service_settings"]["rate_limit"] = {"requests_per_minute": 60, "per_hour": 5}
    response = await sidecar.put("/_inference/text_embedding/limited", json=body, headers=ADMIN)
    assert (response.status, await response.json()) == (400, unknown_settings("{per_hour=5}", "openai"))
    body["service_settings"]["rate_limit"] = {"requests_per_minute": 60}
    response = await sidecar.put("/_inference/text_embedding/limited", json=body, headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["service_settings"]["rate_limit"] == {"requests_per_minute": 60}
