"""The HTTP/1.1 client on its own: spoken to by scripted raw servers (`asyncio.start_server`) that record the bytes
they receive and answer with the raw bytes a test gives them, so that what goes over the wire is exact both ways."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict

from sidecar.http.client import ClientError, ClientResponse, ConnectError, HttpClient, ProtocolError

TIMEOUT = 3.0  # a generous bound on anything that should happen promptly
SECRET_KEY = "sk-never-in-a-message"
SECRET_INPUT = b"never-in-a-message-either"
HEADERS = {"Authorization": f"Bearer {SECRET_KEY}", "Content-Type": "application/json"}
BODY = b'{"input": "' + SECRET_INPUT + b'"}'


# raw answers


def answer(status_line: str, *header_lines: str, body: bytes = b"") -> bytes:
    """An answer exactly as written: no header is added."""
    return "\r\n".join([status_line, *header_lines, "", ""]).encode("latin-1") + body


def ok(body: bytes = b"ok", *header_lines: str) -> bytes:
    return answer("HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *header_lines, body=body)


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


# a scripted server


@dataclass
class Reply:
    """What the server does with one request: write `data`, then close if `close`; with `hold`, first wait for
    `ScriptedServer.release` (or for the client to leave)."""

    data: bytes = field(default_factory=ok)
    close: bool = False
    hold: bool = False


DROP = Reply(b"", close=True)  # close the connection without a byte of answer


@dataclass
class Received:
    connection: int  # 0 for the server's first connection, 1 for its second...
    head: bytes
    request_line: str
    headers: CIMultiDict[str]
    body: bytes


class ScriptedServer:
    """Answers each request with the next scripted reply (then with `ok()`), recording requests and connections."""

    def __init__(self, replies: list[Reply | bytes], tls: ssl.SSLContext | None) -> None:
        self.replies: deque[Reply] = deque(r if isinstance(r, Reply) else Reply(r) for r in replies)
        self.tls = tls
        self.port = 0
        self.received: list[Received] = []
        self.raw = bytearray()
        self.connections_opened = 0
        self.open_now = 0
        self.most_open_at_once = 0
        self.closed_by_client: set[int] = set()
        self.release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    def url(self, target: str = "/v1/embeddings", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{target}"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
        for writer in self._handlers.values():
            writer.close()  # the handlers see the end of their connections and return
        await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers[handler] = writer
        number = self.connections_opened
        self.connections_opened += 1
        self.open_now += 1
        self.most_open_at_once = max(self.most_open_at_once, self.open_now)
        try:
            while True:
                if not await self._read_request(reader, number):
                    self.closed_by_client.add(number)
                    return
                reply = self.replies.popleft() if self.replies else Reply()
                if reply.hold and not await self._released_before_the_client_left(reader):
                    self.closed_by_client.add(number)
                    return
                writer.write(reply.data)
                await writer.drain()
                if reply.close:
                    return
        except ConnectionError:
            self.closed_by_client.add(number)
        finally:
            self.open_now -= 1
            self._handlers.pop(handler, None)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, number: int) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.raw += exc.partial
            return False
        self.raw += head
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            name, _, value = line.partition(":")
            headers.add(name, value.strip())
        try:
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
        except asyncio.IncompleteReadError as exc:
            self.raw += exc.partial
            return False
        self.raw += body
        self.received.append(Received(number, head, request_line, headers, body))
        return True

    async def _released_before_the_client_left(self, reader: asyncio.StreamReader) -> bool:
        released = asyncio.ensure_future(self.release.wait())
        left = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait({released, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            left.cancel()
            await asyncio.gather(released, left, return_exceptions=True)  # the reader is free for the next request
        return not (left in done and left.result() == b"")


StartServer = Callable[..., Awaitable[ScriptedServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Starts scripted servers (`await start_server(reply, ..., tls=None, port=0)`); stops them all afterwards."""
    servers: list[ScriptedServer] = []

    async def start(*replies: Reply | bytes, tls: ssl.SSLContext | None = None, port: int = 0) -> ScriptedServer:
        server = ScriptedServer(list(replies), tls)
        servers.append(server)
        await server.start(port)
        return server

    yield start
    for server in servers:
        await server.stop()


MakeClient = Callable[..., HttpClient]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Builds clients (`make_client(max_connections=...)`); closes them all afterwards."""
    clients: list[HttpClient] = []

    def make(**options: object) -> HttpClient:
        client = HttpClient(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def client(make_client: MakeClient) -> HttpClient:
    return make_client()


class FakeResolver:
    def __init__(self, addresses: Mapping[str, list[str]]) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.addresses:
            raise OSError(f"no such host [{host}]")
        return self.addresses[host]


# helpers


async def post(
    client: HttpClient, url: str, body: bytes = BODY, headers: Mapping[str, str] = HEADERS, within: float = TIMEOUT
) -> ClientResponse:
    """One call, bounded by the caller's `asyncio.timeout` (the client's `post` has no timeout of its own)."""
    async with asyncio.timeout(within):
        return await client.post(url, body, headers)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"waited {TIMEOUT} s for {what}")


def assert_safe(error: BaseException) -> None:
    """An error's message never repeats the request's headers or body."""
    message = str(error)
    assert message
    assert SECRET_KEY not in message
    assert SECRET_INPUT.decode() not in message


async def connection_is_refused(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    writer.close()
    return False


# 1. the request on the wire


async def test_the_request_is_sent_as_given(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok())

    response = await post(client, server.url("/v1/embeddings?api-version=2024-02&x=1"))

    assert response.status == 200
    [request] = server.received
    assert request.request_line == "POST /v1/embeddings?api-version=2024-02&x=1 HTTP/1.1"
    assert request.headers.getall("Host") == [f"127.0.0.1:{server.port}"]
    assert request.headers.getall("Authorization") == [f"Bearer {SECRET_KEY}"]
    assert request.headers.getall("Content-Type") == ["application/json"]
    assert request.headers.getall("Content-Length") == [str(len(BODY))]
    assert request.headers.getall("Accept-Encoding") == ["gzip, deflate"]
    assert request.headers["User-Agent"]
    assert "Transfer-Encoding" not in request.headers
    assert request.body == BODY
    assert bytes(server.raw) == request.head + BODY


async def test_a_url_without_a_path_asks_for_slash(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok())

    await post(client, f"http://127.0.0.1:{server.port}")

    assert server.received[0].request_line == "POST / HTTP/1.1"


async def test_the_user_agent_is_the_one_configured(start_server: StartServer, make_client: MakeClient) -> None:
    server = await start_server(ok())
    client = make_client(user_agent="sidecar-test/1.0")

    await post(client, server.url())

    assert server.received[0].headers.getall("User-Agent") == ["sidecar-test/1.0"]


async def test_an_empty_body_is_sent_with_length_zero(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok())

    await post(client, server.url(), body=b"")

    assert server.received[0].headers["Content-Length"] == "0"
    assert server.received[0].body == b""


async def test_a_large_body_is_sent_whole(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok())
    body = bytes(range(256)) * 8192  # 2 MiB

    response = await post(client, server.url(), body=body)

    assert response.status == 200
    assert server.received[0].headers["Content-Length"] == str(len(body))
    assert server.received[0].body == body


async def test_the_host_header_leaves_out_the_default_port(start_server: StartServer, client: HttpClient) -> None:
    try:
        server = await start_server(ok(), port=80)
    except OSError as exc:
        pytest.skip(f"cannot listen on port 80 here: {exc}")

    await post(client, "http://127.0.0.1/x")

    assert server.received[0].headers.getall("Host") == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Api-Key", f"{SECRET_KEY}\r\nInjected: yes"),
        ("X-Api-Key", f"{SECRET_KEY}\nInjected: yes"),
        ("X-Api-Key", f"{SECRET_KEY}\rInjected: yes"),
        ("X-Api-Key\r\nInjected", "yes"),
    ],
)
async def test_a_header_with_a_line_break_is_refused_and_nothing_is_sent(
    start_server: StartServer, client: HttpClient, name: str, value: str
) -> None:
    server = await start_server(ok(), ok())

    with pytest.raises(ClientError) as refused:
        await post(client, server.url(), headers={**HEADERS, name: value})

    assert isinstance(refused.value, ProtocolError)
    assert_safe(refused.value)
    await asyncio.sleep(0.05)
    assert bytes(server.raw) == b""
    assert server.received == []
    # the client still works
    assert (await post(client, server.url())).status == 200


# 2. the answer


async def test_status_and_headers_are_returned(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(
        answer(
            "HTTP/1.1 429 Too Many Requests",
            "Content-Type: application/json",
            "Set-Cookie: a=1",
            "x-request-id: abc",
            "set-cookie: b=2",
            "Content-Length: 2",
            body=b"{}",
        )
    )

    response = await post(client, server.url())

    assert response.status == 429
    assert response.headers["CONTENT-TYPE"] == "application/json"
    assert response.headers["X-Request-Id"] == "abc"
    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    assert response.body == b"{}"


PAYLOAD = b'{"data": [' + b'{"embedding": [0.125, -0.5, 1.0]}, ' * 40 + b"{}]}"


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        pytest.param(ok(PAYLOAD), PAYLOAD, id="content-length"),
        pytest.param(answer("HTTP/1.1 200 OK", "Content-Length: 0"), b"", id="empty"),
        pytest.param(
            answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=chunked(b"hello", b", ", b"w" * 26)),
            b"hello, " + b"w" * 26,
            id="chunked",
        ),
        pytest.param(
            answer(
                "HTTP/1.1 200 OK",
                "Transfer-Encoding: chunked",
                body=b"5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
            ),
            b"hello",
            id="chunked-extension-and-trailer",
        ),
        pytest.param(
            ok(gzip.compress(PAYLOAD), "Content-Encoding: gzip"),
            PAYLOAD,
            id="gzip",
        ),
        pytest.param(
            ok(zlib.compress(PAYLOAD), "Content-Encoding: deflate"),
            PAYLOAD,
            id="zlib-deflate",
        ),
        pytest.param(
            ok(raw_deflate(PAYLOAD), "Content-Encoding: deflate"),
            PAYLOAD,
            id="raw-deflate",
        ),
        pytest.param(
            answer(
                "HTTP/1.1 200 OK",
                "Content-Encoding: gzip",
                "Transfer-Encoding: chunked",
                body=chunked(gzip.compress(PAYLOAD)[:20], gzip.compress(PAYLOAD)[20:]),
            ),
            PAYLOAD,
            id="gzip-chunked",
        ),
        pytest.param(
            answer("HTTP/1.1 200 OK", "Content-Encoding: identity", "Content-Length: 5", body=b"plain"),
            b"plain",
            id="identity",
        ),
    ],
)
async def test_the_body_is_decoded(start_server: StartServer, client: HttpClient, raw: bytes, body: bytes) -> None:
    server = await start_server(raw, ok(b"next"))

    response = await post(client, server.url())
    after = await post(client, server.url())

    assert response.status == 200
    assert response.body == body
    assert after.body == b"next"
    assert server.connections_opened == 1  # the answer was read to its end: the connection served the next call


async def test_a_body_without_length_is_read_until_close(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(
        Reply(answer("HTTP/1.1 200 OK", "Content-Type: text/plain", body=b"until the end"), close=True), ok()
    )

    response = await post(client, server.url())
    await post(client, server.url())

    assert response.status == 200
    assert response.body == b"until the end"
    assert server.connections_opened == 2


async def test_204_without_a_body_is_complete_at_once(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(answer("HTTP/1.1 204 No Content", "X-Request-Id: abc"), ok(b"next"))

    response = await post(client, server.url())
    after = await post(client, server.url())

    assert response.status == 204
    assert response.body == b""
    assert response.headers["X-Request-Id"] == "abc"
    assert after.body == b"next"
    assert server.connections_opened == 1


async def test_an_unknown_content_encoding_is_a_protocol_error(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok(b"\x0b\x02\x80{}\x03", "Content-Encoding: br"), ok())

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)
    assert (await post(client, server.url())).status == 200


async def test_corrupt_gzip_is_a_protocol_error(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok(b"\x1f\x8bthis is not gzip", "Content-Encoding: gzip"))

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"garbage\r\n\r\n", id="garbage"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nok", id="bad-content-length"),
        pytest.param(answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n"), id="bad-chunk"),
    ],
)
async def test_a_malformed_answer_is_a_protocol_error(
    start_server: StartServer, client: HttpClient, raw: bytes
) -> None:
    server = await start_server(raw, ok())

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)
    await wait_until(lambda: 0 in server.closed_by_client, "the client to close the connection")
    assert client.open_connections == 0
    assert (await post(client, server.url())).status == 200
    assert server.connections_opened == 2


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(ok(b"x" * 101), id="length"),
        pytest.param(
            answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=chunked(b"x" * 60, b"x" * 41)), id="chunked"
        ),
        pytest.param(Reply(answer("HTTP/1.1 200 OK", body=b"x" * 101), close=True), id="until-close"),
        pytest.param(ok(gzip.compress(b"x" * 101), "Content-Encoding: gzip"), id="gzip-inflates-past-it"),
        pytest.param(ok(raw_deflate(b"x" * 101), "Content-Encoding: deflate"), id="raw-deflate-inflates-past-it"),
    ],
)
async def test_an_answer_over_the_size_limit_is_refused_and_its_connection_closed(
    start_server: StartServer, make_client: MakeClient, raw: bytes | Reply
) -> None:
    client = make_client(max_response_bytes=100)
    server = await start_server(raw, ok(b"x" * 100))

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert str(failed.value) == "Maximum limit of [100] bytes reached"
    assert client.open_connections == 0
    after = await post(client, server.url())
    assert after.body == b"x" * 100  # exactly the limit is allowed
    assert server.connections_opened == 2


async def test_an_answer_over_the_size_limit_is_not_read_to_its_end(
    start_server: StartServer, make_client: MakeClient
) -> None:
    client = make_client(max_response_bytes=1000)
    # The answer announces 1 GB and sends its first 2000 bytes; the rest never comes.
    server = await start_server(Reply(answer("HTTP/1.1 200 OK", "Content-Length: 1000000000", body=b"x" * 2000)))

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert str(failed.value) == "Maximum limit of [1000] bytes reached"
    await wait_until(lambda: 0 in server.closed_by_client, "the client to close the connection")


# 3. keep-alive


async def test_sequential_posts_reuse_one_connection(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok(b"one"), ok(b"two"), ok(b"three"))

    bodies = [(await post(client, server.url())).body for _ in range(3)]

    assert bodies == [b"one", b"two", b"three"]
    assert server.connections_opened == 1
    assert [request.connection for request in server.received] == [0, 0, 0]
    assert client.open_connections == 1
    assert client.idle_connections == 1


async def test_an_answer_with_connection_close_is_not_reused(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok(b"one", "Connection: close"), ok(b"two"))  # the server itself does not close

    first = await post(client, server.url())

    assert first.body == b"one"
    assert client.open_connections == 0
    await wait_until(lambda: 0 in server.closed_by_client, "the client to close the connection")
    second = await post(client, server.url())
    assert second.body == b"two"
    assert [request.connection for request in server.received] == [0, 1]


async def test_an_http_10_answer_without_keep_alive_is_not_reused(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(answer("HTTP/1.0 200 OK", "Content-Length: 3", body=b"one"), ok(b"two"))

    first = await post(client, server.url())
    second = await post(client, server.url())

    assert first.status == 200
    assert first.body == b"one"
    assert second.body == b"two"
    assert [request.connection for request in server.received] == [0, 1]
    assert 0 in server.closed_by_client


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(Reply(ok(b"one"), close=True), ok(b"two"))

    first = await post(client, server.url())
    await wait_until(lambda: server.open_now == 0, "the server to close the connection")
    await asyncio.sleep(0.05)
    second = await post(client, server.url())

    assert first.body == b"one"
    assert second.body == b"two"
    assert [request.connection for request in server.received] == [0, 1]


async def test_a_reused_connection_that_fails_before_the_answer_is_retried_on_a_new_one(
    start_server: StartServer, client: HttpClient
) -> None:
    # the server takes the second request on the idle connection and closes it without a byte of answer
    server = await start_server(ok(b"one"), DROP, ok(b"two"))

    first = await post(client, server.url())
    second = await post(client, server.url())

    assert first.body == b"one"
    assert second.body == b"two"
    assert [request.connection for request in server.received] == [0, 0, 1]
    assert [request.body for request in server.received] == [BODY, BODY, BODY]


async def test_the_retry_is_made_once(start_server: StartServer, client: HttpClient) -> None:
    server = await start_server(ok(b"one"), DROP, DROP, ok(b"never"))

    await post(client, server.url())
    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)
    assert [request.connection for request in server.received] == [0, 0, 1]


async def test_the_retry_goes_to_a_new_connection_not_to_another_idle_one(
    start_server: StartServer, client: HttpClient
) -> None:
    # two idle connections to the same server, both dropped by the server when next used: one retry only
    server = await start_server(Reply(hold=True), Reply(hold=True), DROP, DROP, ok(b"third try"))
    calls = [asyncio.create_task(post(client, server.url())) for _ in range(2)]
    await wait_until(lambda: len(server.received) == 2, "two requests on two connections")
    server.release.set()
    await asyncio.gather(*calls)
    assert client.idle_connections == 2

    with pytest.raises(ProtocolError):
        await post(client, server.url())

    assert len(server.received) == 4  # the call was sent twice, not three times
    assert server.received[3].connection == 2


async def test_a_fresh_connection_closed_without_an_answer_is_a_protocol_error(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(DROP, ok(b"not sent"))

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)
    assert len(server.received) == 1  # a new connection is not retried


async def test_a_connection_closed_mid_answer_is_a_protocol_error_and_not_reused(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(
        Reply(answer("HTTP/1.1 200 OK", "Content-Length: 10", body=b"abc"), close=True), ok(b"next")
    )

    with pytest.raises(ProtocolError) as failed:
        await post(client, server.url())

    assert_safe(failed.value)
    assert client.open_connections == 0
    after = await post(client, server.url())
    assert after.body == b"next"
    assert [request.connection for request in server.received] == [0, 1]


async def test_a_reused_connection_closed_mid_answer_is_not_retried(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(
        ok(b"one"),
        Reply(answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"5\r\nhello\r\n"), close=True),
        ok(b"three"),
    )

    await post(client, server.url())
    with pytest.raises(ProtocolError):
        await post(client, server.url())
    third = await post(client, server.url())

    assert third.body == b"three"
    assert [request.connection for request in server.received] == [0, 0, 1]


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server = await start_server(ok())
    client = make_client(keepalive_timeout=0.1)

    await post(client, server.url())

    await wait_until(lambda: 0 in server.closed_by_client, "the idle connection to be closed")
    assert client.open_connections == 0
    assert client.idle_connections == 0


# 4. timeouts, refusals, cancellation


async def test_an_answer_that_never_comes_is_cut_by_the_callers_timeout_and_its_connection_closed(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(Reply(hold=True))
    started = time.monotonic()

    with pytest.raises(TimeoutError):
        await post(client, server.url(), within=0.2)

    assert time.monotonic() - started < TIMEOUT
    assert client.open_connections == 0
    assert client.idle_connections == 0
    await wait_until(lambda: 0 in server.closed_by_client, "the server to see the connection closed")


async def test_a_refused_connection_is_a_connect_error(client: HttpClient, unused_tcp_port: int) -> None:
    with pytest.raises(ConnectError) as refused:
        await post(client, f"http://127.0.0.1:{unused_tcp_port}/v1/embeddings")

    assert f"127.0.0.1:{unused_tcp_port}" in str(refused.value)
    assert_safe(refused.value)
    assert client.open_connections == 0


async def test_cancelling_a_post_closes_its_connection_and_later_posts_work(
    start_server: StartServer, client: HttpClient
) -> None:
    server = await start_server(Reply(hold=True), ok(b"later"))
    call = asyncio.create_task(post(client, server.url()))
    await wait_until(lambda: len(server.received) == 1, "the request to arrive")

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await wait_until(lambda: 0 in server.closed_by_client, "the server to see the connection closed")
    assert client.open_connections == 0
    later = await post(client, server.url())
    assert later.body == b"later"
    assert [request.connection for request in server.received] == [0, 1]


# 5. the pool


async def test_max_connections_bounds_concurrent_connections(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server = await start_server(*[Reply(ok(b"call %d" % n), hold=True) for n in range(5)])
    client = make_client(max_connections=2)
    calls = [asyncio.create_task(post(client, server.url())) for _ in range(5)]

    await wait_until(lambda: len(server.received) == 2, "two requests to arrive")
    await asyncio.sleep(0.1)  # room for a third connection, were the limit not kept
    assert server.connections_opened == 2
    assert client.open_connections == 2
    server.release.set()
    responses = await asyncio.wait_for(asyncio.gather(*calls), TIMEOUT)

    assert sorted(response.body for response in responses) == [b"call %d" % n for n in range(5)]
    assert server.most_open_at_once == 2
    assert server.connections_opened == 2
    assert client.open_connections <= 2


async def test_an_idle_connection_to_another_origin_makes_room(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server_a = await start_server(ok(b"from a"))
    server_b = await start_server(ok(b"from b"))
    client = make_client(max_connections=1)

    from_a = await post(client, server_a.url())
    from_b = await asyncio.wait_for(post(client, server_b.url()), TIMEOUT)

    assert from_a.body == b"from a"
    assert from_b.body == b"from b"
    await wait_until(lambda: 0 in server_a.closed_by_client, "the idle connection to A to be closed")
    assert client.open_connections == 1
    assert client.idle_connections == 1


async def test_cancelling_a_post_waiting_for_a_connection_does_not_break_later_posts(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server = await start_server(Reply(ok(b"first"), hold=True), ok(b"third"))
    client = make_client(max_connections=1)
    first = asyncio.create_task(post(client, server.url()))
    await wait_until(lambda: len(server.received) == 1, "the first request to arrive")
    waiting = asyncio.create_task(post(client, server.url()))
    await asyncio.sleep(0.05)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    server.release.set()

    assert (await first).body == b"first"
    assert (await post(client, server.url())).body == b"third"
    assert len(server.received) == 2
    assert server.connections_opened == 1


async def test_close_closes_idle_connections(start_server: StartServer, make_client: MakeClient) -> None:
    server_a = await start_server(ok())
    server_b = await start_server(ok())
    client = make_client()
    await post(client, server_a.url())
    await post(client, server_b.url())
    assert client.idle_connections == 2

    await client.close()

    assert client.open_connections == 0
    assert client.idle_connections == 0
    await wait_until(lambda: server_a.closed_by_client == {0}, "A to see the connection closed")
    await wait_until(lambda: server_b.closed_by_client == {0}, "B to see the connection closed")


# 6. resolving names


async def test_the_resolver_gives_the_address(start_server: StartServer, make_client: MakeClient) -> None:
    server = await start_server(ok())
    resolver = FakeResolver({"provider.test": ["127.0.0.1"]})
    client = make_client(resolver=resolver)

    response = await post(client, server.url("/v1/embeddings", host="provider.test"))

    assert response.status == 200
    assert resolver.asked[0] == ("provider.test", server.port)
    assert server.received[0].headers.getall("Host") == [f"provider.test:{server.port}"]


async def test_a_name_that_does_not_resolve_is_a_connect_error(
    start_server: StartServer, make_client: MakeClient
) -> None:
    server = await start_server(ok())
    client = make_client(resolver=FakeResolver({}))

    with pytest.raises(ConnectError) as failed:
        await post(client, server.url(host="unknown.test"))

    assert "unknown.test" in str(failed.value)
    assert_safe(failed.value)
    assert server.connections_opened == 0
    assert client.open_connections == 0


async def test_a_name_with_no_address_is_a_connect_error(start_server: StartServer, make_client: MakeClient) -> None:
    server = await start_server(ok())
    client = make_client(resolver=FakeResolver({"empty.test": []}))

    with pytest.raises(ConnectError):
        await post(client, server.url(host="empty.test"))

    assert client.open_connections == 0


async def test_addresses_are_tried_in_order(start_server: StartServer, make_client: MakeClient) -> None:
    server = await start_server(ok())
    if not await connection_is_refused("127.0.0.2", server.port):
        pytest.skip("127.0.0.2 does not refuse connections here")
    client = make_client(resolver=FakeResolver({"provider.test": ["127.0.0.2", "127.0.0.1"]}))

    response = await post(client, server.url(host="provider.test"))

    assert response.status == 200
    assert server.connections_opened == 1


async def test_every_address_refused_is_a_connect_error(make_client: MakeClient, unused_tcp_port: int) -> None:
    if not await connection_is_refused("127.0.0.2", unused_tcp_port):
        pytest.skip("127.0.0.2 does not refuse connections here")
    client = make_client(resolver=FakeResolver({"provider.test": ["127.0.0.2", "127.0.0.1"]}))

    with pytest.raises(ConnectError) as refused:
        await post(client, f"http://provider.test:{unused_tcp_port}/v1/embeddings")

    assert f"provider.test:{unused_tcp_port}" in str(refused.value)
    assert client.open_connections == 0


# 7. TLS


@dataclass(frozen=True)
class Certificate:
    cert_pem: bytes
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def trusting_client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.cert_pem.decode())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file = folder / "cert.pem"
    key_file = folder / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(cert_pem, cert_file, key_file)


LOCALHOST = {"localhost": ["127.0.0.1"]}


async def test_https_to_a_trusted_certificate(
    start_server: StartServer, make_client: MakeClient, certificate: Certificate
) -> None:
    server = await start_server(ok(b"secure"), ok(b"again"), tls=certificate.server_context())
    client = make_client(resolver=FakeResolver(LOCALHOST), ssl_context=certificate.trusting_client_context())

    first = await post(client, server.url("/x", scheme="https", host="localhost"))
    second = await post(client, server.url("/x", scheme="https", host="localhost"))

    assert first.status == 200
    assert first.body == b"secure"
    assert second.body == b"again"
    assert server.received[0].request_line == "POST /x HTTP/1.1"
    assert server.received[0].headers.getall("Host") == [f"localhost:{server.port}"]
    assert server.received[0].body == BODY
    assert server.connections_opened == 1


async def test_https_to_an_untrusted_certificate_is_a_connect_error(
    start_server: StartServer, make_client: MakeClient, certificate: Certificate
) -> None:
    server = await start_server(ok(), tls=certificate.server_context())
    client = make_client(resolver=FakeResolver(LOCALHOST))

    with pytest.raises(ConnectError) as refused:
        await post(client, server.url("/x", scheme="https", host="localhost"))

    assert_safe(refused.value)
    assert server.received == []
    assert client.open_connections == 0
