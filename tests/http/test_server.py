"""The HTTP/1.1 server on its own, without the sidecar: an application that echoes what it received, spoken to
with raw sockets where the bytes on the wire matter and with aiohttp elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from sidecar.api.middleware import refusal_response
from sidecar.http import App, BadRequest, HttpServer, Limits, Request, Response

LIMIT = 1024  # max_body_bytes of the servers under test
TIMEOUT = 3.0  # a generous bound on anything that should happen promptly
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


# the application under test


@dataclass
class Served:
    """A running server, what its handler saw, and the raw connections a test opened."""

    server: HttpServer
    app: App
    port: int
    events: list[str] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    connections: list[Conn] = field(default_factory=list)
    is_shut_down: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def connect(self) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        conn = Conn(reader, writer)
        self.connections.append(conn)
        return conn

    async def shutdown(self, drain_seconds: float) -> None:
        self.is_shut_down = True
        await self.server.shutdown(drain_seconds)


def echo(request: Request) -> Response:
    body = {
        "method": request.method,
        "target": request.target,
        "raw_path": request.raw_path,
        "path": request.path,
        "query_string": request.query_string,
        "query": request.query,
        "headers": list(request.headers.items()),
        "http_version": request.http_version,
        "keep_alive": request.keep_alive,
        "body_length": len(request.body),
        "body": request.body.decode("latin-1"),
    }
    return Response(orjson.dumps(body), 200, {"content-type": "application/json"})


def make_handler(served: Callable[[], Served]) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        state = served()
        path = request.path
        tag = request.query.get("n", "")
        state.events.append(f"start {tag}")
        try:
            if path.startswith("/sleep/"):
                await asyncio.sleep(float(path.removeprefix("/sleep/")))
            elif path == "/raise":
                raise RuntimeError("the handler failed")
            elif path == "/wait":
                state.started.set()
                await state.release.wait()
            elif path == "/hang":
                state.started.set()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    state.events.append("handler cancelled")
                    raise
            elif path == "/fixed":
                size = int(request.query.get("size", "123"))
                return Response(b"x" * size, 200, {"content-type": "text/plain"})
            return echo(request)
        finally:
            state.events.append(f"end {tag}")

    return handler


ServeFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    """Starts servers (`await serve(idle_seconds=...)`); shuts down the ones a test left running."""
    running: list[Served] = []

    async def start(**limits: Any) -> Served:
        limits.setdefault("max_body_bytes", LIMIT)
        holder: list[Served] = []
        app = App(make_handler(lambda: holder[0]), refusal_response)
        server = HttpServer(app, Limits(**limits))
        port = await server.start("127.0.0.1", 0)
        served = Served(server, app, port)
        holder.append(served)

        async def cleanup(_: App) -> None:
            served.events.append("cleanup")

        app.on_cleanup.append(cleanup)
        running.append(served)
        return served

    yield start
    for served in running:
        for conn in served.connections:
            conn.writer.close()
        if not served.is_shut_down:
            await served.shutdown(1.0)


@pytest.fixture
async def served(serve: ServeFactory) -> Served:
    return await serve()


# a raw HTTP/1.1 client


@dataclass
class Answer:
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_exactly(self, n: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), TIMEOUT)

    async def answer(self, *, head_only: bool = False) -> Answer:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1"
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            name, _, value = line.partition(":")
            headers.add(name, value.strip())
        length = 0 if head_only else int(headers["content-length"])
        body = await self.read_exactly(length) if length else b""
        return Answer(int(status), reason, headers, body)

    async def rest(self) -> bytes:
        """Everything until the server closes the connection (b"" if it closes right away)."""
        return await asyncio.wait_for(self.reader.read(), TIMEOUT)

    async def request(self, data: bytes, *, head_only: bool = False) -> Answer:
        await self.send(data)
        return await self.answer(head_only=head_only)


def get(target: str, *headers: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def post(target: str, body: bytes, *headers: str) -> bytes:
    return get(target, f"Content-Length: {len(body)}", *headers, method="POST") + body


def es_error(answer: Answer, status: int, error_type: str) -> str:
    """Checks an Elasticsearch error answer; returns its reason."""
    assert answer.status == status
    assert answer.headers["X-elastic-product"] == "Elasticsearch"
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    reason = body["error"]["reason"]
    assert body == {
        "error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
        "status": status,
    }
    return str(reason)


TOO_LARGE = f"request content is larger than [{LIMIT}] bytes"


# 1. keep-alive


async def test_two_requests_on_one_connection_are_both_answered(served: Served) -> None:
    conn = await served.connect()

    first = await conn.request(get("/echo?n=1"))
    second = await conn.request(post("/echo?n=2", b'{"a":1}', "Content-Type: application/json"))

    assert first.status == 200
    assert "connection" not in first.headers
    assert first.json()["query"] == {"n": "1"}
    assert first.json()["keep_alive"] is True
    assert second.status == 200
    assert second.json()["method"] == "POST"
    assert second.json()["body"] == '{"a":1}'
    assert len(served.server._connections) == 1


async def test_connection_close_is_answered_then_closed(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(get("/echo", "Connection: close"))

    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert answer.json()["keep_alive"] is False
    assert await conn.rest() == b""


async def test_http_10_without_keep_alive_closes(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(get("/echo", version="1.0"))

    assert answer.status == 200
    assert answer.json()["http_version"] == "1.0"
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""


async def test_http_10_with_keep_alive_stays_open(served: Served) -> None:
    conn = await served.connect()

    first = await conn.request(get("/echo?n=1", "Connection: keep-alive", version="1.0"))
    second = await conn.request(get("/echo?n=2", "Connection: keep-alive", version="1.0"))

    assert first.status == 200
    assert first.headers["connection"] == "keep-alive"
    assert first.json()["keep_alive"] is True
    assert second.status == 200
    assert second.headers["connection"] == "keep-alive"
    assert second.json()["query"] == {"n": "2"}


async def test_aiohttp_client_reuses_the_connection(served: Served) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for n in range(3):
            async with session.get(f"{served.url}/echo?n={n}") as response:
                assert response.status == 200
                assert (await response.json())["query"] == {"n": str(n)}
    assert served.events == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


# 2. pipelining


async def test_pipelined_requests_are_answered_in_order_one_at_a_time(served: Served) -> None:
    conn = await served.connect()

    await conn.send(get("/sleep/0.1?n=1") + get("/echo?n=2") + post("/echo?n=3", b"three"))
    answers = [await conn.answer() for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.json()["query"]["n"] for a in answers] == ["1", "2", "3"]
    assert answers[0].json()["path"] == "/sleep/0.1"
    assert answers[2].json()["body"] == "three"
    assert served.events == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]


# 3. chunked request bodies


async def test_chunked_body_is_reassembled(served: Served) -> None:
    conn = await served.connect()

    await conn.send(get("/echo", "Transfer-Encoding: chunked", method="POST") + b"5\r\nhello\r\n")
    await conn.send(b"6\r\n, wide\r\n")
    await conn.send(b"7\r\n world!\r\n0\r\n\r\n")
    answer = await conn.answer()

    assert answer.status == 200
    assert answer.json()["body"] == "hello, wide world!"
    assert answer.json()["body_length"] == 18


async def test_chunked_body_from_aiohttp(served: Served) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"input": ', b'"chunked"', b"}"):
            yield part

    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/echo", data=chunks()) as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert body["body"] == '{"input": "chunked"}'
    assert ["Transfer-Encoding", "chunked"] in body["headers"]


# 4. compressed request bodies


PAYLOAD = b'{"input": ["' + b"compressible " * 50 + b'"]}'


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw deflate, as some clients send
        ("GZIP", gzip.compress),
    ],
)
async def test_compressed_body_is_decompressed(
    served: Served, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    assert len(PAYLOAD) < LIMIT
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/echo", data=compress(PAYLOAD), headers={"Content-Encoding": encoding}) as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert body["body"] == PAYLOAD.decode()
    assert body["body_length"] == len(PAYLOAD)


async def test_corrupt_gzip_body_is_a_400_and_closes(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(post("/echo", b"\x1f\x8bthis is not gzip", "Content-Encoding: gzip"))

    reason = es_error(answer, 400, "illegal_argument_exception")
    assert reason.startswith("invalid gzip request body: ")
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""
    assert served.events == []


async def test_truncated_gzip_body_is_a_400(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(post("/echo", gzip.compress(PAYLOAD)[:-12], "Content-Encoding: gzip"))

    assert es_error(answer, 400, "illegal_argument_exception") == (
        "invalid gzip request body: incomplete or truncated stream"
    )
    assert served.events == []


async def test_unknown_content_encoding_is_a_415(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(post("/echo", b"\x0b\x02\x80{}\x03", "Content-Encoding: br"))

    assert es_error(answer, 415, "illegal_argument_exception") == "unsupported Content-Encoding [br]"
    assert served.events == []


async def test_gzip_body_that_expands_past_the_limit_is_a_413(served: Served) -> None:
    bomb = gzip.compress(b"0" * (LIMIT * 100))
    assert len(bomb) < LIMIT
    conn = await served.connect()

    answer = await conn.request(post("/echo", bomb, "Content-Encoding: gzip"))

    assert es_error(answer, 413, "content_too_long_exception") == TOO_LARGE
    assert await conn.rest() == b""


async def test_gzip_body_that_expands_to_exactly_the_limit_is_accepted(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(post("/echo", gzip.compress(b"0" * LIMIT), "Content-Encoding: gzip"))

    assert answer.status == 200
    assert answer.json()["body_length"] == LIMIT


# 5. body limits


async def test_content_length_over_the_limit_is_a_413_before_the_body(served: Served) -> None:
    conn = await served.connect()

    # only the head: the answer must not wait for a body
    answer = await conn.request(get("/echo", f"Content-Length: {LIMIT + 1}", method="POST"))

    assert es_error(answer, 413, "content_too_long_exception") == TOO_LARGE
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""
    assert served.events == []


async def test_content_length_at_the_limit_is_accepted(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(post("/echo", b"a" * LIMIT))

    assert answer.status == 200
    assert answer.json()["body_length"] == LIMIT


async def test_chunked_body_growing_past_the_limit_is_a_413(served: Served) -> None:
    conn = await served.connect()
    chunk = b"200\r\n" + b"a" * 0x200 + b"\r\n"

    await conn.send(get("/echo", "Transfer-Encoding: chunked", method="POST") + chunk + chunk)
    await conn.send(chunk)  # 1536 bytes, and no last chunk: the answer must not wait for one
    answer = await conn.answer()

    assert es_error(answer, 413, "content_too_long_exception") == TOO_LARGE
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""
    assert served.events == []


# 6. Expect: 100-continue


async def test_expect_100_continue_is_answered_before_the_body(served: Served) -> None:
    conn = await served.connect()

    await conn.send(get("/echo", "Content-Length: 5", "Expect: 100-continue", method="POST"))
    assert await conn.read_exactly(len(CONTINUE)) == CONTINUE
    answer = await conn.request(b"hello")

    assert answer.status == 200
    assert answer.json()["body"] == "hello"


async def test_expect_100_continue_with_too_large_a_body_is_a_413_without_continue(served: Served) -> None:
    conn = await served.connect()

    await conn.send(get("/echo", f"Content-Length: {LIMIT * 10}", "Expect: 100-continue", method="POST"))
    answer = await conn.answer()  # would fail on "HTTP/1.1 100 Continue" then a 413

    assert es_error(answer, 413, "content_too_long_exception") == TOO_LARGE
    assert await conn.rest() == b""


async def test_expect_100_continue_of_a_pipelined_request_comes_after_the_answers_before_it(served: Served) -> None:
    conn = await served.connect()
    head = get("/echo", "Content-Length: 5", "Expect: 100-continue", method="POST")
    await conn.send(get("/sleep/0.2?n=1") + head)

    first = await conn.answer()
    assert first.status == 200
    assert await conn.read_exactly(len(CONTINUE)) == CONTINUE  # only now, after the first request's answer
    await conn.send(b"hello")
    second = await conn.answer()
    assert (second.status, second.json()["body"]) == (200, "hello")


async def test_aiohttp_expect_100_continue(served: Served) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/echo", data=b"continued", expect100=True) as response,
    ):
        assert response.status == 200
        assert (await response.json())["body"] == "continued"


# 7. malformed requests


async def test_malformed_request_line_is_a_400_and_closes(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(b"GARBAGE\r\n\r\n")

    reason = es_error(answer, 400, "illegal_argument_exception")
    assert reason.startswith("invalid HTTP request: ")
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""
    assert served.events == []


async def test_requests_before_a_malformed_one_are_answered_first(served: Served) -> None:
    conn = await served.connect()

    await conn.send(get("/sleep/0.05?n=1") + b"GARBAGE\r\n\r\n")
    first = await conn.answer()
    second = await conn.answer()

    assert first.status == 200
    assert first.json()["query"] == {"n": "1"}
    es_error(second, 400, "illegal_argument_exception")
    assert await conn.rest() == b""


async def test_url_over_4096_bytes_is_a_400(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(get("/" + "a" * 5000))

    assert es_error(answer, 400, "too_long_http_line_exception") == "An HTTP line is larger than 4096 bytes."
    assert await conn.rest() == b""
    assert served.events == []


async def test_url_of_4096_bytes_is_accepted(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(get("/" + "a" * 4095))

    assert answer.status == 200
    assert len(answer.json()["target"]) == 4096


async def test_url_that_never_ends_is_refused_at_the_limit(served: Served) -> None:
    conn = await served.connect()

    await conn.send(b"GET /" + b"a" * 3000)
    await conn.send(b"a" * 3000)  # no end of line: the answer must not wait for one
    answer = await conn.answer()

    assert es_error(answer, 400, "too_long_http_line_exception") == "An HTTP line is larger than 4096 bytes."


async def test_headers_over_16384_bytes_are_a_400(served: Served) -> None:
    conn = await served.connect()
    headers = [f"X-Filler-{i}: {'v' * 1000}" for i in range(17)]

    answer = await conn.request(get("/echo", *headers))

    assert es_error(answer, 400, "too_long_http_header_exception") == "HTTP header is larger than 16384 bytes."
    assert await conn.rest() == b""
    assert served.events == []


async def test_headers_under_16384_bytes_are_accepted(served: Served) -> None:
    conn = await served.connect()
    headers = [f"X-Filler-{i}: {'v' * 1000}" for i in range(15)]

    answer = await conn.request(get("/echo", *headers))

    assert answer.status == 200


async def test_header_that_never_ends_is_refused_at_the_limit(served: Served) -> None:
    """The parser buffers a header until its end: without a bound, one header could take all the memory."""
    conn = await served.connect()
    answered = asyncio.create_task(conn.answer())

    await conn.send(get("/echo")[:-2] + b"X-Endless: ")
    for _ in range(64):  # up to 256 KiB of one header value, never ended, until the server answers
        await asyncio.wait({answered}, timeout=0.01)
        if answered.done():
            break
        await conn.send(b"v" * 4096)
    answer = await answered

    assert es_error(answer, 400, "too_long_http_header_exception") == "HTTP header is larger than 16384 bytes."
    assert await conn.rest() == b""


# 8. upgrade


async def test_h2c_upgrade_is_answered_over_http_11_then_closed(served: Served) -> None:
    conn = await served.connect()
    upgrade = get(
        "/echo",
        "Connection: Upgrade, HTTP2-Settings",
        "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    )

    # what follows an upgrade request would be HTTP/2; it is never read as HTTP/1.1
    answer = await conn.request(upgrade + get("/echo?n=2"))

    assert answer.status == 200
    assert answer.json()["path"] == "/echo"
    assert answer.headers["connection"] == "close"
    assert "upgrade" not in answer.headers
    assert await conn.rest() == b""
    assert served.events == ["start ", "end "]


# 9. HEAD


async def test_head_has_the_length_of_the_body_but_no_body(served: Served) -> None:
    conn = await served.connect()

    head = await conn.request(get("/fixed?size=123", method="HEAD"), head_only=True)
    # the next bytes on the connection are the next answer: HEAD's body was not sent
    after = await conn.request(get("/fixed?size=7"))

    assert head.status == 200
    assert head.headers["content-length"] == "123"
    assert head.body == b""
    assert after.status == 200
    assert after.body == b"xxxxxxx"


# 10. percent-decoding


async def test_path_is_decoded_and_raw_path_is_not(served: Served) -> None:
    conn = await served.connect()

    answer = await conn.request(get("/caf%C3%A9/a%2Fb%20c?a=1&a=2&b=&c+d=e%20f"))

    body = answer.json()
    assert answer.status == 200
    assert body["target"] == "/caf%C3%A9/a%2Fb%20c?a=1&a=2&b=&c+d=e%20f"
    assert body["raw_path"] == "/caf%C3%A9/a%2Fb%20c"
    assert body["path"] == "/café/a/b c"
    assert body["query_string"] == "a=1&a=2&b=&c+d=e%20f"
    assert body["query"] == {"a": "2", "b": "", "c d": "e f"}  # the last value, as ES


# 11. handler errors


async def test_handler_error_is_a_500_and_the_server_stays_up(served: Served) -> None:
    conn = await served.connect()

    failed = await conn.request(get("/raise"))
    same_connection = await conn.request(get("/echo?n=2"))
    other = await (await served.connect()).request(get("/echo?n=3"))

    assert es_error(failed, 500, "exception") == "An internal error occurred"
    assert same_connection.status == 200
    assert other.status == 200
    assert other.json()["query"] == {"n": "3"}


# 12. graceful shutdown


async def test_shutdown_answers_the_request_in_flight_and_refuses_new_connections(served: Served) -> None:
    conn = await served.connect()
    await conn.send(get("/wait"))
    await asyncio.wait_for(served.started.wait(), TIMEOUT)

    shutdown = asyncio.create_task(served.shutdown(5.0))
    await asyncio.sleep(0.05)
    assert not shutdown.done()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", served.port)
    served.release.set()
    answer = await conn.answer()

    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert await conn.rest() == b""
    await asyncio.wait_for(shutdown, TIMEOUT)
    assert served.events == ["start ", "end ", "cleanup"]


async def test_shutdown_closes_idle_keep_alive_connections_promptly(served: Served) -> None:
    conn = await served.connect()
    assert (await conn.request(get("/echo"))).status == 200

    await asyncio.wait_for(served.shutdown(5.0), TIMEOUT)  # not the 5 s drain

    assert await conn.rest() == b""
    assert served.events[-1] == "cleanup"


async def test_shutdown_closes_a_connection_that_never_sent_anything(served: Served) -> None:
    conn = await served.connect()
    await asyncio.sleep(0.05)  # accepted

    await asyncio.wait_for(served.shutdown(5.0), TIMEOUT)

    assert await conn.rest() == b""


async def test_shutdown_aborts_a_handler_that_never_finishes_then_cleans_up(served: Served) -> None:
    conn = await served.connect()
    await conn.send(get("/hang"))
    await asyncio.wait_for(served.started.wait(), TIMEOUT)

    await asyncio.wait_for(served.shutdown(0.2), TIMEOUT)

    # the handler was cancelled (and its cancellation handled) before the cleanup hooks ran
    assert served.events == ["start ", "handler cancelled", "end ", "cleanup"]
    assert await conn.rest() == b""  # no answer: the connection was aborted
    assert served.server._connections == set()


async def test_shutdown_waits_for_the_handler_of_a_client_that_left(served: Served) -> None:
    conn = await served.connect()
    await conn.send(get("/wait"))
    await asyncio.wait_for(served.started.wait(), TIMEOUT)
    conn.writer.close()
    await conn.writer.wait_closed()
    await asyncio.sleep(0.05)  # the server has seen the connection go

    shutdown = asyncio.create_task(served.shutdown(5.0))
    await asyncio.sleep(0.05)
    assert not shutdown.done()  # the handler still runs: no cleanup under its feet
    served.release.set()
    await asyncio.wait_for(shutdown, TIMEOUT)

    assert served.events == ["start ", "end ", "cleanup"]
    assert served.server._connections == set()


async def test_a_client_that_leaves_mid_request_does_not_stop_the_server(served: Served) -> None:
    conn = await served.connect()
    await conn.send(get("/wait"))
    await asyncio.wait_for(served.started.wait(), TIMEOUT)
    conn.writer.close()
    await conn.writer.wait_closed()
    await asyncio.sleep(0.05)
    served.release.set()
    await asyncio.sleep(0.05)  # the handler finishes; its answer has nowhere to go

    answer = await (await served.connect()).request(get("/echo?n=2"))

    assert answer.status == 200
    assert served.events == ["start ", "end ", "start 2", "end 2"]
    assert len(served.server._connections) == 1


# 13. idle timeout


async def test_idle_connection_is_closed_by_the_server(serve: ServeFactory) -> None:
    served = await serve(idle_seconds=0.2)
    fresh = await served.connect()
    used = await served.connect()

    assert (await used.request(get("/echo"))).status == 200

    assert await fresh.rest() == b""
    assert await used.rest() == b""


async def test_a_client_that_stops_reading_is_dropped_when_idle(serve: ServeFactory) -> None:
    served = await serve(idle_seconds=0.2)
    conn = await served.connect()
    size = 32_000_000  # far more than the socket buffers hold
    await conn.send(get(f"/fixed?size={size}"))
    await asyncio.sleep(1.0)  # the answer is stuck in the server's write buffer; the idle timer fires

    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(conn.reader.read(1 << 20), TIMEOUT):
            received += len(chunk)

    assert 0 < received < size  # `close()` would have waited for the whole answer to be read


async def test_a_client_that_stops_reading_a_closing_answer_is_dropped_after_the_idle_timeout(
    serve: ServeFactory,
) -> None:
    served = await serve(idle_seconds=0.2)
    conn = await served.connect()
    size = 32_000_000  # far more than the socket buffers hold
    await conn.send(get(f"/fixed?size={size}", "Connection: close"))
    await asyncio.sleep(1.0)  # the server has closed its side; the answer is stuck in its write buffer

    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(conn.reader.read(1 << 20), TIMEOUT):
            received += len(chunk)

    assert 0 < received < size  # a plain `close()` would have waited for the whole answer to be read
    assert len(served.server._connections) == 0


async def test_a_head_that_trickles_in_is_dropped_when_the_idle_timeout_is_up(serve: ServeFactory) -> None:
    served = await serve(idle_seconds=0.3)
    conn = await served.connect()
    await conn.send(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-Slow: ")

    dropped_after = None
    started = time.monotonic()
    for _ in range(30):  # a byte every 0.05 s for up to 1.5 s: each one well within the idle timeout
        await asyncio.sleep(0.05)
        try:
            await conn.send(b"a")
        except ConnectionError:
            dropped_after = time.monotonic() - started
            break
        if conn.reader.at_eof():
            dropped_after = time.monotonic() - started
            break

    assert dropped_after is not None and dropped_after < 1.0
    assert await conn.rest() == b""  # no answer: the request never arrived


async def test_a_head_that_arrives_in_time_is_answered(serve: ServeFactory) -> None:
    served = await serve(idle_seconds=0.5)
    conn = await served.connect()
    await conn.send(b"GET /echo HTTP/1.1\r\nHost: test\r\n")
    for _ in range(4):
        await asyncio.sleep(0.05)
        await conn.send(b"X-Part: a\r\n")

    answer = await conn.request(b"\r\n")

    assert answer.status == 200


async def test_a_busy_connection_is_not_idle(serve: ServeFactory) -> None:
    served = await serve(idle_seconds=0.2)
    conn = await served.connect()

    answer = await conn.request(get("/sleep/0.5"))  # longer than idle_seconds

    assert answer.status == 200
    assert "connection" not in answer.headers


# 14. back-pressure


async def test_one_hundred_pipelined_requests_are_answered_in_order(served: Served) -> None:
    conn = await served.connect()

    await conn.send(b"".join(get(f"/echo?n={n}") for n in range(100)))
    answers = [await conn.answer() for _ in range(100)]
    # reading paused while the requests queued up; it has resumed
    after = await conn.request(get("/echo?n=100"))

    assert [a.status for a in answers] == [200] * 100
    assert [a.json()["query"]["n"] for a in answers] == [str(n) for n in range(100)]
    assert after.json()["query"] == {"n": "100"}


async def test_pipelined_large_answers_to_a_slow_reader_all_arrive_in_order(served: Served) -> None:
    conn = await served.connect()
    size = 256 * 1024

    await conn.send(b"".join(get(f"/fixed?size={size}&n={n}") for n in range(40)))
    await asyncio.sleep(0.1)  # the answers (10 MiB) fill the socket buffers; the server has to wait for the reader
    answers = [await conn.answer() for _ in range(40)]
    after = await conn.request(get("/fixed?size=3&n=40"))

    assert all(a.status == 200 and a.body == b"x" * size for a in answers)
    assert after.body == b"xxx"
    assert served.events == [f"{edge} {n}" for n in range(41) for edge in ("start", "end")]


# the refusal renderer


def test_refusal_response_renders_an_elasticsearch_error() -> None:
    response = refusal_response(BadRequest(413, "content_too_long_exception", TOO_LARGE))

    assert response.status == 413
    assert response.headers["X-elastic-product"] == "Elasticsearch"
    assert orjson.loads(response.body) == {
        "error": {
            "root_cause": [{"type": "content_too_long_exception", "reason": TOO_LARGE}],
            "type": "content_too_long_exception",
            "reason": TOO_LARGE,
        },
        "status": 413,
    }
