"""Merged calls through the engine and the real OpenAI plugin: one caller's inputs never change another's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugins.openai import OpenAiService
from sidecar.domain.errors import ElasticsearchError
from sidecar.domain.model import Model, ModelConfig
from sidecar.domain.results import TextEmbedding
from sidecar.domain.service import ServiceContext
from sidecar.domain.task_type import TaskType
from sidecar.testing.mock_providers import mock_embedding
from tests.engine.fakes import make_engine
from tests.plugins.conftest import API_KEY

LONG = "x" * 30  # over the mock's 20 characters; its half is not
SHORT = "hello world"


@pytest.fixture
def service(context: ServiceContext) -> OpenAiService:
    return OpenAiService(context)


def model_for(url: str) -> Model:
    config = ModelConfig("my-model", TaskType.TEXT_EMBEDDING, "openai", {"url": url}, {"model": "m"})
    return Model(config, {"api_key": API_KEY})


def sent(openai_mock: Any) -> list[list[str]]:
    return [request.body["input"] for request in openai_mock.config.requests]


async def test_a_long_input_is_cut_in_its_own_request_only(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.max_input_chars = 20
    engine, _ = make_engine(batch_window_ms=5)
    model = model_for(openai_mock.base_url + "/v1/embeddings")

    long_result, short_result = await asyncio.gather(
        engine.infer(service, model, [LONG]), engine.infer(service, model, [SHORT])
    )

    assert long_result == [TextEmbedding(mock_embedding("x" * 15, 8))]
    assert short_result == [TextEmbedding(mock_embedding(SHORT, 8))]
    calls = sent(openai_mock)
    assert calls[0] == [LONG, SHORT]  # merged, refused: nothing cut
    assert sorted(calls[1:]) == sorted([[LONG], ["x" * 15], [SHORT]])  # each request as ES would send it


async def test_a_cut_result_is_not_cached_and_a_whole_one_is(service: OpenAiService, openai_mock: Any) -> None:
    openai_mock.config.max_input_chars = 20
    engine, _ = make_engine(batch_window_ms=5, cache_enabled=True)
    model = model_for(openai_mock.base_url + "/v1/embeddings")
    await asyncio.gather(engine.infer(service, model, [LONG]), engine.infer(service, model, [SHORT]))
    before = len(sent(openai_mock))

    again = await engine.infer(service, model, [SHORT])
    assert again == [TextEmbedding(mock_embedding(SHORT, 8))]
    assert len(sent(openai_mock)) == before  # from the cache

    openai_mock.config.max_input_chars = None  # were the cut vector cached, this would still answer it
    assert await engine.infer(service, model, [LONG]) == [TextEmbedding(mock_embedding(LONG, 8))]
    assert sent(openai_mock)[before:] == [[LONG]]


async def test_an_input_too_long_even_when_cut_fails_only_its_own_request(
    service: OpenAiService, openai_mock: Any
) -> None:
    openai_mock.config.max_input_chars = 20
    engine, _ = make_engine(batch_window_ms=5)
    model = model_for(openai_mock.base_url + "/v1/embeddings")

    too_long, fine = await asyncio.gather(
        engine.infer(service, model, ["y" * 100]), engine.infer(service, model, [SHORT]), return_exceptions=True
    )

    assert fine == [TextEmbedding(mock_embedding(SHORT, 8))]
    assert isinstance(too_long, ElasticsearchError)
    reason = (
        "Received a content too large status code for request from inference entity id [my-model] status [400]. "
        "Error message: [This model's maximum context length is 8192 tokens, however you requested more tokens. "
        "Please reduce your prompt; or completion length.]"
    )
    assert too_long.body() == {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": reason}],
            "type": "status_exception",
            "reason": reason,
        },
        "status": 400,
    }
