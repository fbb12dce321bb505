"""`python -m bench.floor`: what an HTTP layer costs before any sidecar code runs.

Four servers answer every POST with the same ~30 KB JSON body (one 1536-float vector, as the sidecar answers one
input), pinned to CPU 0, driven by wrk on CPU 1 at 32 connections: the sidecar's own server (`sidecar.http`, what
it runs on), an aiohttp `Application` (what it ran on before), aiohttp's low-level `Server` (no router, middlewares
or application), and a bare `asyncio.Protocol` that only finds the end of each request. The differences are what
each HTTP layer costs per request before any handler code runs.

Then the other side, the provider call: the bare server (on CPU 1) is called 2,000 times in a row from CPU 0, by
the sidecar's own client (`sidecar.http.client`, as the sidecar calls providers), by an aiohttp `ClientSession`
(what it called them with before) and by a bare asyncio-streams client; CPU time per call.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from bench.procs import child_setup, free_port
from bench.wrk import find_wrk
from sidecar import http
from sidecar.http.client import HttpClient

BODY = orjson.dumps({"text_embedding": [{"embedding": [random.uniform(-0.1, 0.1) for _ in range(1536)]}]})
LUA = 'wrk.method = "POST"\nwrk.body = \'{"input":"a text"}\'\nwrk.headers["Content-Type"] = "application/json"\n'
KINDS = ("sidecar.http", "application", "low-level", "protocol")


async def _answer_lean(_request: http.Request) -> http.Response:
    return http.Response(BODY, headers={"content-type": "application/json"})


def _refuse(problem: http.BadRequest) -> http.Response:
    return http.Response(problem.reason.encode(), problem.status)


async def _answer(request: web.BaseRequest) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


class _BareHttp(asyncio.Protocol):
    """Just enough HTTP/1.1 for wrk's keep-alive POSTs with a Content-Length."""

    response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(BODY), BODY)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.response)


async def _serve(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    if kind == "sidecar.http":
        await http.HttpServer(http.App(_answer_lean, _refuse), http.Limits(max_body_bytes=1 << 20)).start(
            "127.0.0.1", port
        )
    elif kind == "application":
        app = web.Application()
        app.router.add_post("/{tail:.*}", _answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    elif kind == "low-level":
        await loop.create_server(web.Server(_answer, access_log=None), "127.0.0.1", port)
    else:
        await loop.create_server(_BareHttp, "127.0.0.1", port)
    await asyncio.Event().wait()


def _measure(wrk: str, kind: str, seconds: int) -> float:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--serve", kind, str(port)], preexec_fn=child_setup(frozenset({0}))
    )
    try:
        time.sleep(1.5)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "post.lua"
            script.write_text(LUA)
            argv = [wrk, "-t1", "-c32", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/"]
            out = subprocess.run(
                argv, capture_output=True, text=True, check=True, preexec_fn=child_setup(frozenset({1}))
            ).stdout
        return float(next(line for line in out.splitlines() if line.startswith("Requests/sec:")).split()[1])
    finally:
        server.terminate()
        server.wait()


async def _client_cpu(port: int, calls: int = 2000) -> tuple[float, float, float]:
    """CPU microseconds per sequential POST: (the sidecar's client, aiohttp's client, a bare streams client)."""
    url = f"http://127.0.0.1:{port}/v1/embeddings"
    body = b'{"input":["a text"],"model":"m"}'
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def with_aiohttp() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()

        aiohttp_us = await _per_call(with_aiohttp, calls)
    client = HttpClient()

    async def with_sidecar_client() -> None:
        await client.post(url, body, headers)

    sidecar_us = await _per_call(with_sidecar_client, calls)
    await client.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
    raw = request.encode() + body

    async def with_streams() -> None:
        writer.write(raw)
        response_head = (await reader.readuntil(b"\r\n\r\n")).lower()
        at = response_head.find(b"content-length:")
        await reader.readexactly(int(response_head[at + 15 :].split(b"\r\n", 1)[0]))

    streams_us = await _per_call(with_streams, calls)
    writer.close()
    return sidecar_us, aiohttp_us, streams_us


async def _per_call(call: Callable[[], Awaitable[None]], calls: int) -> float:
    for _ in range(calls // 10):  # warm-up: connections open, code paths hot
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1e6


def _measure_clients() -> tuple[float, float, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--serve", "protocol", str(port)], preexec_fn=child_setup(frozenset({1}))
    )
    try:
        time.sleep(1.5)
        child_setup(frozenset({0}))()
        return asyncio.run(_client_cpu(port))
    finally:
        server.terminate()
        server.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        asyncio.run(_serve(argv[1], int(argv[2])))
        return 0
    wrk = find_wrk()
    if wrk is None:
        print("bench.floor: wrk is not installed; run `make bench-tools` first", file=sys.stderr)
        return 2
    for kind in KINDS:
        rps = _measure(wrk, kind, 5)
        print(f"{kind:12} {rps:10,.0f} req/s  {1e6 / rps:6.0f} us/request")
    sidecar_us, aiohttp_us, streams_us = _measure_clients()
    print(
        f"client, sidecar.http.client {sidecar_us:6.0f} us CPU/call; aiohttp {aiohttp_us:6.0f} us CPU/call; "
        f"bare streams {streams_us:6.0f} us CPU/call"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
