"""The command line, run as real processes: configuration errors, `check`, `serve`, `serve --dev`, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sidecar.devcluster import DevClusterConfig, start_devcluster
from sidecar.testing.mock_providers import MockProviderConfig, create_mock_openai_app, start_mock_provider
from tests.api.conftest import ADMIN, OPENAI_KEY, SECRETS_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    env.update(values)
    return env


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def cluster() -> AsyncIterator[Any]:
    running = await start_devcluster(DevClusterConfig(download_delay=0.01), "127.0.0.1", 0)
    yield running
    await running.stop()


async def test_missing_secrets_key_is_one_clear_line() -> None:
    code, _, stderr = await run_cli("serve", env=clean_env(SIDECAR_PORT=str(free_port())))
    assert code == 2
    assert stderr.strip().splitlines() == [
        "inference-sidecar: invalid configuration: SIDECAR_SECRETS_KEY is required (base64 of 32 random bytes)"
    ]


async def test_bad_value_is_one_clear_line() -> None:
    code, _, stderr = await run_cli("serve", env=clean_env(SIDECAR_PORT="eighty"))
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("inference-sidecar: invalid configuration: SIDECAR_PORT: ")


async def test_check_passes_and_creates_the_indices(cluster: Any) -> None:
    env = clean_env(SIDECAR_ES_URL=cluster.url, SIDECAR_ES_USERNAME="sidecar", SIDECAR_ES_PASSWORD="changeme")
    code, stdout, _ = await run_cli("check", env=env)
    assert code == 0, stdout
    assert "ok: created [.sidecar-inference-models-000001] behind alias [.sidecar-inference-models]" in stdout
    assert stdout.strip().splitlines()[-1] == "ok: Elasticsearch 8.12.2 is ready for the sidecar"
    code, stdout, _ = await run_cli("check", env=env)
    assert code == 0 and "created" not in stdout


async def test_check_reports_what_is_wrong(cluster: Any) -> None:
    code, stdout, _ = await run_cli(
        "check",
        env=clean_env(SIDECAR_ES_URL=cluster.url, SIDECAR_ES_USERNAME="monitor_user", SIDECAR_ES_PASSWORD="changeme"),
    )
    assert code == 1
    assert "problem: the sidecar's account [monitor_user] lacks the privileges: manage_ml" in stdout
    code, stdout, _ = await run_cli("check", env=clean_env(SIDECAR_ES_URL=f"http://127.0.0.1:{free_port()}"))
    assert code == 1
    assert stdout.strip() == "problem: cannot connect to Elasticsearch: ConnectionError"


async def wait_ready(base_url: str, seconds: float = 30) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 20)):
            try:
                async with session.get(f"{base_url}/_sidecar/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("not ready in time")


async def test_sigterm_drains_in_flight_requests(cluster: Any) -> None:
    provider = MockProviderConfig(api_key=OPENAI_KEY, dimensions=4)
    runner, provider_url = await start_mock_provider(create_mock_openai_app(provider))
    port = free_port()
    env = clean_env(
        SIDECAR_ES_URL=cluster.url, SIDECAR_ES_USERNAME="sidecar", SIDECAR_ES_PASSWORD="changeme",
        SIDECAR_SECRETS_KEY=SECRETS_KEY, SIDECAR_PORT=str(port), SIDECAR_HOST="127.0.0.1",
        SIDECAR_SHUTDOWN_GRACE_SECONDS="0.5", SIDECAR_SHUTDOWN_DRAIN_SECONDS="10", SIDECAR_CACHE_ENABLED="false",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        async with aiohttp.ClientSession() as session:
            body = {"service": "openai", "service_settings": {"api_key": OPENAI_KEY, "url": f"{provider_url}/v1/embeddings"},
                    "task_settings": {"model": "m"}}
            async with session.put(f"{base}/_inference/text_embedding/slow", json=body, headers=ADMIN) as response:
                assert response.status == 200
            provider.latency = 1.5

            async def infer(text: str) -> int:
                async with session.post(
                    f"{base}/_inference/text_embedding/slow", json={"input": text}, headers=ADMIN
                ) as response:
                    await response.json()
                    return response.status

            in_flight = [asyncio.create_task(infer(f"text {i}")) for i in range(5)]
            await asyncio.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.1)
            async with session.get(f"{base}/_sidecar/health/ready") as response:
                assert response.status == 503
                assert await response.json() == {"status": "not_ready", "reason": "shutting down"}
            assert await asyncio.gather(*in_flight) == [200] * 5
        assert await asyncio.wait_for(process.wait(), 20) == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session, session.get(f"{base}/_sidecar/health/live"):
                pass
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await runner.cleanup()


async def test_serve_dev_runs_on_the_stand_in() -> None:
    port, es_port = free_port(), free_port()
    env = clean_env(SIDECAR_PORT=str(port), SIDECAR_HOST="127.0.0.1", SIDECAR_DEV_ES_PORT=str(es_port))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "serve", "--dev", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        body = {"service": "elser", "service_settings": {"num_allocations": 1, "num_threads": 1}}
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{base}/_inference/sparse_embedding/dev-elser", json=body, headers=ADMIN) as response:
                assert response.status == 200, await response.text()
            async with session.get(
                f"http://127.0.0.1:{es_port}/_ml/trained_models/_stats", headers=ADMIN
            ) as response:
                stats = await response.json()
                assert any(
                    entry.get("deployment_stats", {}).get("deployment_id") == "dev-elser"
                    for entry in stats["trained_model_stats"]
                )
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
        assert "WARNING: development mode" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
