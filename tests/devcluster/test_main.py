"""`python -m sidecar.devcluster` runs the stand-in standalone and prints the default users."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import aiohttp

from sidecar.devcluster.__main__ import parse_args
from tests.devcluster.devcluster_helpers import basic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_arguments() -> None:
    args = parse_args(["--port", "9300", "--license", "basic", "--no-security", "--version", "8.15.0"])
    assert (args.port, args.license, args.no_security, args.version, args.host) == (
        9300,
        "basic",
        True,
        "8.15.0",
        "127.0.0.1",
    )


async def test_runs_standalone() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar.devcluster",
        "--port",
        str(port),
        "--license",
        "basic",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        users = (await asyncio.wait_for(process.stdout.readline(), 5)).decode()
        assert banner.strip() == f"Elasticsearch stand-in 8.12.2 (basic licence) listening on http://127.0.0.1:{port}"
        assert users.startswith("Users (password for all: changeme)")
        url = f"http://127.0.0.1:{port}/_license"
        async with aiohttp.ClientSession() as session, session.get(url, headers=basic("elastic")) as got:
            assert (await got.json())["license"]["type"] == "basic"
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_a_stopped_cluster_restarts_on_the_same_port_with_its_state() -> None:
    from sidecar.devcluster import start_devcluster

    cluster = await start_devcluster()
    url = cluster.url
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{url}/kept", headers=basic("elastic")) as created:
            assert created.status == 200
        await cluster.stop()
        await cluster.start()
        assert cluster.url == url
        async with session.head(f"{url}/kept", headers=basic("elastic")) as exists:
            assert exists.status == 200
    await cluster.stop()
