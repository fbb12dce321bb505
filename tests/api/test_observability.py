"""Per-request logs and Prometheus metrics, as seen over HTTP."""

from __future__ import annotations

import io
import json

from sidecar.observability.logging import configure_logging
from tests.api.conftest import ADMIN, OPENAI_KEY, Client, Provider, openai_body


async def test_metrics_cover_requests_provider_calls_and_caches(sidecar: Client, openai_provider: Provider) -> None:
    body = openai_body(openai_provider)
    assert (await sidecar.put("/_inference/text_embedding/metered", json=body, headers=ADMIN)).status == 200
    for _ in range(2):
        response = await sidecar.post("/_inference/text_embedding/metered", json={"input": ["same text"]}, headers=ADMIN)
        assert response.status == 200
    assert (await sidecar.get("/_inference/text_embedding/missing", headers=ADMIN)).status == 404

    response = await sidecar.get("/_sidecar/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'sidecar_requests_total{method="POST",route="/_inference/{task_type}/{model_id}",service="openai",status="200"} 2.0' in text
    assert 'sidecar_requests_total{method="GET",route="/_inference/{task_type}/{model_id}",service="",status="404"} 1.0' in text
    assert 'sidecar_inference_cache_lookups_total{result="hit"} 1.0' in text
    assert 'sidecar_inference_cache_lookups_total{result="miss"} 1.0' in text
    assert 'sidecar_provider_calls_total{outcome="success",service="openai"}' in text
    assert "sidecar_provider_call_seconds_bucket" in text
    assert "sidecar_request_seconds_bucket" in text
    assert "\nsidecar_requests_in_flight 1.0\n" in text  # the scrape itself
    assert 'sidecar_privilege_cache_lookups_total{result="hit"}' in text
    assert 'sidecar_model_cache_lookups_total{result="hit"} 1.0' in text
    assert 'sidecar_model_cache_lookups_total{result="miss"} 1.0' in text
    assert "sidecar_build_info{version=" in text
    assert OPENAI_KEY not in text and "same text" not in text


async def test_each_request_logs_one_line_with_its_outcome(sidecar: Client) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    response = await sidecar.get("/_inference/text_embedding/nothing", headers={**ADMIN, "X-Opaque-Id": "trace-1"})
    assert response.status == 404
    assert response.headers["X-Opaque-Id"] == "trace-1"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_lines = [line for line in lines if line["event"] == "request"]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert line["request_id"] == "trace-1"
    assert (line["method"], line["route"], line["model_id"], line["status"], line["outcome"]) == (
        "GET", "/_inference/{task_type}/{model_id}", "nothing", 404, "error"
    )
    assert isinstance(line["duration_ms"], float)
    assert "changeme" not in stream.getvalue() and "Authorization" not in stream.getvalue()
