"""`python -m bench.floor`: what an HTTP layer costs before any sidecar code runs.

Three servers answer every POST with the same ~30 KB JSON body (one 1536-float vector, as the sidecar answers one
input), pinned to CPU 0, driven by wrk on CPU 1 at 32 connections: an aiohttp `Application` (what the sidecar
runs on), aiohttp's low-level `Server` (no router, middlewares or application), and a bare `asyncio.Protocol` that
only finds the end of each request. The differences bound what a leaner HTTP layer could save per request.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web

from bench.procs import child_setup, free_port
from bench.wrk import find_wrk

BODY = orjson.dumps({"text_embedding": [{"embedding": [random.uniform(-0.1, 0.1) for _ in range(1536)]}]})
LUA = 'wrk.method = "POST"\nwrk.body = \'{"input":"a text"}\'\nwrk.headers["Content-Type"] = "application/json"\n'
KINDS = ("application", "low-level", "protocol")


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
    if kind == "application":
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
