"""An HTTP/1.1 client for the calls to providers: POST only, keep-alive connections pooled per origin under one
limit, TLS, gzip and deflate answers, redirects never followed.

Parsing is llhttp's (httptools), as in the server. Host names are resolved through a `Resolver` (the egress
policy's, in the sidecar) and cached for five minutes. A call that fails on a reused connection before any byte of
the answer arrived (the provider closed it while it idled) is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DNS_TTL_SECONDS = 300.0
_UNSAFE_IN_HEADERS = ("\r", "\n", "\0")
_READ_BUFFER_BYTES = 64 * 1024


class ClientError(Exception):
    """A call that got no usable answer. The message names the host, never the request's headers or body."""


class ConnectError(ClientError):
    """No connection: the name did not resolve, every address refused, or the TLS handshake failed."""


class ProtocolError(ClientError):
    """The request could not be sent as asked, or the answer could not be read."""


@dataclass(frozen=True, slots=True)
class ClientResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes  # transfer and content encodings undone


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The IP addresses of `host`, in the order to try them; OSError when there is none."""
        ...


class SystemResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    request_line: bytes  # "POST /path?query HTTP/1.1\r\nHost: host[:port]\r\n"


@lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    parts = httptools.parse_url(url.encode())
    scheme = (parts.schema or b"").decode().lower()
    host = (parts.host or b"").decode()
    if scheme not in _DEFAULT_PORTS or not host:
        raise ProtocolError(f"cannot send a request to [{url}]: the URL needs an http or https scheme and a host")
    port = parts.port or _DEFAULT_PORTS[scheme]
    path = (parts.path or b"/").decode()
    query = f"?{parts.query.decode()}" if parts.query else ""
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if port == _DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    line = f"POST {path}{query} HTTP/1.1\r\nHost: {host_header}\r\n"
    return _Target(Origin(scheme, host, port), line.encode())


def _headers_block(headers: Mapping[str, str], fixed: bytes, length: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if any(char in name or char in value for char in _UNSAFE_IN_HEADERS):
            raise ProtocolError(f"the header [{name.strip()}] holds a line break or a NUL and cannot be sent")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode() + fixed + b"%d\r\n\r\n" % length


def _too_large(limit: int) -> ProtocolError:
    """ES `SizeLimitInputStream`'s message (`xpack.inference.http.max_response_size`)."""
    return ProtocolError(f"Maximum limit of [{limit}] bytes reached")


def _decoded(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = [zlib.MAX_WBITS | 16]
    elif encoding == "deflate":
        wbits = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, or raw deflate as some servers send it
    else:
        raise ProtocolError(f"the response has a Content-Encoding the client did not ask for [{encoding}]")
    for bits in wbits:
        decompressor = zlib.decompressobj(bits)
        try:
            decoded = decompressor.decompress(body, limit + 1)  # never more than the limit in memory
        except zlib.error:
            continue
        if len(decoded) > limit:
            raise _too_large(limit)
        if decompressor.eof:
            return decoded
    raise ProtocolError(f"the response body is not valid {encoding}")


class _Connection(asyncio.BufferedProtocol):
    """One connection to one origin: one exchange at a time. It reads into the client's buffer, shared by every
    connection (see `sidecar.http.server.HttpServer.read_buffer`)."""

    def __init__(
        self, origin: Origin, on_lost: Callable[[_Connection], None], read_buffer: memoryview, max_body: int
    ) -> None:
        self.origin = origin
        self._max_body = max_body
        self._on_lost = on_lost
        self._read_buffer = read_buffer
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = True  # holds one of the client's connection slots
        self.reused = False  # answered an earlier call
        self.received = False  # a byte of the current answer arrived
        self.keep_alive = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[ClientResponse] | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._status = 0
        self._until_close = False  # the answer has neither a length nor chunks: it ends when the connection does

    async def exchange(self, head: bytes, body: bytes) -> ClientResponse:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(head + body)
        try:
            return await self._waiter
        finally:
            self._waiter = None
            self.reused = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received(self._read_buffer[:nbytes])

    def _received(self, data: memoryview) -> None:
        if self._waiter is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted with the next call
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"malformed response from [{self.origin.host}:{self.origin.port}]: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.transport is None:
            return  # never connected (a failed TLS handshake): it held nothing
        if self._waiter is not None and not self._waiter.done():
            if self._until_close and self._status:
                self.keep_alive = False
                self._complete()
            else:
                where = f"{self.origin.host}:{self.origin.port}"
                self._fail(ProtocolError(f"the connection to [{where}] closed before the response was complete"))
        self._on_lost(self)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._headers = []
        self._chunks = []
        self._size = 0
        self._status = 0
        self._until_close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        names = {name.lower() for name, _ in self._headers}
        self._until_close = (
            self._status >= 200
            and self._status not in (204, 304)
            and "content-length" not in names
            and "transfer-encoding" not in names
        )

    def on_body(self, body: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            return  # the answer was refused: what is left of it is dropped with the connection
        self._size += len(body)
        if self._size > self._max_body:
            self._chunks = []
            self.keep_alive = False
            self._fail(_too_large(self._max_body))
            self.close()
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self.keep_alive = self._parser.should_keep_alive()
        self._complete()

    def _complete(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        try:
            body = _decoded(body, headers.get("Content-Encoding"), self._max_body)
        except ProtocolError as exc:
            self.keep_alive = False
            self._waiter.set_exception(exc)
            return
        self._waiter.set_result(ClientResponse(self._status, headers, body))

    def _fail(self, error: ClientError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)


class HttpClient:
    def __init__(
        self,
        *,
        max_connections: int = 100,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_timeout: float = 15.0,
        user_agent: str = "inference-sidecar",
        max_response_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        self._limit = max_connections
        self._max_response_bytes = max_response_bytes  # the body, before and after its Content-Encoding
        self._resolver = resolver or SystemResolver()
        self._ssl = ssl_context  # the default one is made at the first https call: it loads the system's CAs
        self._keepalive = keepalive_timeout
        self._fixed = (
            f"User-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nContent-Length: "
        ).encode()
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False
        self._read_buffer = memoryview(bytearray(_READ_BUFFER_BYTES))

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def idle_connections(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> ClientResponse:
        """No timeout of its own: the caller's (`asyncio.timeout`) cancels the call and closes its connection."""
        target = _target(url)
        head = target.request_line + _headers_block(headers, self._fixed, len(body))
        retry = False
        while True:
            connection = await self._acquire(target.origin, new=retry)
            reused = connection.reused
            try:
                response = await connection.exchange(head, body)
            except ProtocolError:
                self._discard(connection)
                if reused and not connection.received and not retry:
                    retry = True  # the provider had closed it while it idled: the call never reached it
                    continue
                raise
            except BaseException:
                self._discard(connection)
                raise
            self._release(connection)
            return response

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connection in [connection for connections in self._idle.values() for connection in connections]:
            self._discard(connection)
        self._idle.clear()

    # the pool

    async def _acquire(self, origin: Origin, *, new: bool = False) -> _Connection:
        """An idle connection to `origin` (unless `new`), else a new one as soon as the limit allows."""
        if self._closed:
            raise ClientError("the client is closed")
        while True:
            idle = None if new else self._idle.get(origin)
            while idle:
                connection = idle.pop()
                if not connection.closed:
                    return connection
            if self._open < self._limit:
                self._open += 1
                try:
                    return await self._connect(origin)
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            if self._evict_one():
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the turn on
                else:
                    self._waiters.remove(waiter)
                raise

    def _release(self, connection: _Connection) -> None:
        if connection.closed or not connection.keep_alive or self._closed:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.origin, []).append(connection)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive, self._close_expired)
        self._wake()

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        """The connection is closed or closing: it leaves the pool and gives its slot back, once."""
        idle = self._idle.get(connection.origin)
        if idle is not None and connection in idle:
            idle.remove(connection)
        if connection.counted:
            connection.counted = False
            self._open -= 1
            self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _evict_one(self) -> bool:
        """Close the longest-idle connection (to any origin) to make room; False when none idles."""
        oldest: _Connection | None = None
        for connections in self._idle.values():
            if connections and (oldest is None or connections[0].idle_since < oldest.idle_since):
                oldest = connections[0]
        if oldest is None:
            return False
        self._discard(oldest)
        return True

    def _close_expired(self) -> None:
        self._sweep = None
        deadline = time.monotonic() - self._keepalive
        for connections in list(self._idle.values()):
            for connection in [connection for connection in connections if connection.idle_since <= deadline]:
                self._discard(connection)
        if any(self._idle.values()):
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive, self._close_expired)

    # connecting

    async def _connect(self, origin: Origin) -> _Connection:
        where = f"{origin.host}:{origin.port}"
        try:
            addresses = await self._resolve(origin.host, origin.port)
        except OSError as exc:
            raise ConnectError(f"Cannot connect to host {where} [{exc.strerror or exc}]") from None
        loop = asyncio.get_running_loop()
        tls = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        failure: OSError | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin, self._forget, self._read_buffer, self._max_response_bytes),
                    address,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls is not None else None,
                )
                return connection
            except OSError as exc:
                failure = exc
        reason = (failure.strerror or str(failure)) if failure is not None else "no address"
        raise ConnectError(f"Cannot connect to host {where} [{reason}]")

    async def _resolve(self, host: str, port: int) -> list[str]:
        key = (host, port)
        cached = self._addresses.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = await self._resolver.resolve(host, port)
        self._addresses[key] = (now + _DNS_TTL_SECONDS, addresses)
        return addresses
