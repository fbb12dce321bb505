"""An HTTP/1.1 server for one application: keep-alive, pipelining in order, chunked and compressed request bodies,
`Expect: 100-continue`, Elasticsearch's size limits, back-pressure, an idle timeout and a graceful drain.

Parsing is llhttp's (Node.js's parser, through httptools); everything else is here, in one protocol object per
connection. A connection runs one handler at a time and answers in request order.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.http.app import App
from sidecar.http.request import Request
from sidecar.http.response import Response
from sidecar.observability.logging import get_logger

log = get_logger("sidecar.http")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_MAX_PIPELINED = 16  # requests read ahead on one connection before reading pauses
_CANCEL_GRACE_SECONDS = 1.0  # how long the handlers cancelled at the end of a drain get to unwind
_HEAD_SLACK = 128  # what a request's head holds besides the URL and the headers: method, version, line ends
_READ_BUFFER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """Elasticsearch's defaults: `http.max_initial_line_length` 4kb, `http.max_header_size` 16kb; the body limit
    is the sidecar's `SIDECAR_MAX_BODY_BYTES` (ES: `http.max_content_length`)."""

    max_body_bytes: int
    max_line_bytes: int = 4096
    max_header_bytes: int = 16384
    idle_seconds: float = 75.0


@dataclass(frozen=True)
class BadRequest:
    """A request the server refuses before the application sees it; the connection closes after the answer."""

    status: int
    type: str
    reason: str


class _Refused(Exception):
    def __init__(self, problem: BadRequest) -> None:
        self.problem = problem


class HttpServer:
    def __init__(self, app: App, limits: Limits) -> None:
        self.app = app
        self.limits = limits
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._shutting_down = False
        self._drained = asyncio.Event()
        # Every connection reads into this one buffer: asyncio calls `get_buffer`, `recv_into` and
        # `buffer_updated` in one go, and the parser copies out what it keeps. asyncio's default reading
        # allocates 256 KiB per read and shrinks it to what arrived.
        self.read_buffer = memoryview(bytearray(_READ_BUFFER_BYTES))

    async def start(self, host: str, port: int, *, reuse_address: bool = True) -> int:
        """Listen, then run the startup hooks; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=reuse_address, backlog=1024
        )
        for hook in self.app.on_startup:
            await hook(self.app)
        return int(self._server.sockets[0].getsockname()[1])

    async def shutdown(self, drain_seconds: float) -> None:
        """Stop accepting, answer what was already received, close connections as they go idle, abort what is
        left after `drain_seconds`, then run the cleanup hooks."""
        self._shutting_down = True
        if self._server is not None:
            self._server.close()
        for hook in self.app.on_shutdown:
            await hook(self.app)
        for connection in list(self._connections):
            connection.close_when_idle()
        if self._connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), drain_seconds)
        cancelled = [task for connection in list(self._connections) if (task := connection.abort()) is not None]
        if cancelled:  # the handlers unwind before the cleanup hooks close what they use
            await asyncio.wait(cancelled, timeout=_CANCEL_GRACE_SECONDS)
        if self._server is not None:
            await self._server.wait_closed()
        for hook in self.app.on_cleanup:
            await hook(self.app)

    def _opened(self, connection: _Connection) -> None:
        self._connections.add(connection)
        if self._shutting_down:
            connection.close_when_idle()

    def _closed(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if self._shutting_down and not self._connections:
            self._drained.set()


class _Connection(asyncio.BufferedProtocol):
    """One client connection. Parser callbacks collect a request; complete requests wait in `_queue` (with the
    server's own refusals, which keep their place) and are answered one at a time."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._app = server.app
        self._limits = server.limits
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request | BadRequest] = deque()
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._in_message = False
        self._in_head = False  # between `on_message_begin` and `on_headers_complete`
        self._head_started = 0.0  # loop time of the current head's first byte
        self._continue_due = False  # the request being read asked for `100 Continue`, not yet sent
        self._head_began = False  # the current head began in the chunk being parsed
        self._head_received = 0  # bytes received in later chunks while that head was incomplete
        self._refused = False  # nothing more is read after a refusal
        self._closing = False
        self._writing_paused = False
        self._reading_paused = False
        self._start_message()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio subclasses
        self._server._opened(self)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._cancel_idle_timer()
        self._queue.clear()
        if self._task is None:  # otherwise the connection counts (for the drain) until its handler is done
            self._server._closed(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._server.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received(self._server.read_buffer[:nbytes])

    def _received(self, data: memoryview) -> None:
        if self._refused:
            return
        self._cancel_idle_timer()
        self._head_began = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Refused):
                raise
            self._refuse(cause.problem)
        except httptools.HttpParserUpgrade:
            # The request before the upgrade is complete and queued; it is answered over HTTP/1.1, then the
            # connection closes, since what follows would be another protocol.
            self._refused = True
            self._closing = True
        except httptools.HttpParserError as exc:
            self._refuse(BadRequest(400, "illegal_argument_exception", f"invalid HTTP request: {exc}"))
        else:
            # httptools holds a header back until it ends, so `on_header` alone cannot bound one that never does:
            # count what arrives while a head that began in an earlier chunk is still incomplete.
            if self._in_head and not self._head_began:
                self._head_received += len(data)
                if self._head_received > self._limits.max_line_bytes + self._limits.max_header_bytes + _HEAD_SLACK:
                    self._refuse(self._header_too_large())
        self._update_reading()
        self._answer_next()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # parser callbacks

    def _start_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0

    def on_message_begin(self) -> None:
        self._in_message = True
        self._in_head = True
        self._head_started = self._loop.time()
        self._head_began = True
        self._head_received = 0
        self._start_message()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_line_bytes:
            reason = f"An HTTP line is larger than {self._limits.max_line_bytes} bytes."
            raise _Refused(BadRequest(400, "too_long_http_line_exception", reason))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._limits.max_header_bytes:
            raise _Refused(self._header_too_large())
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        length = self._declared_length()
        if length is not None and length > self._limits.max_body_bytes:
            raise _Refused(_too_large(self._limits.max_body_bytes))
        if self._parser.get_http_version() == "1.1" and any(
            name.lower() == "expect" and value.strip().lower() == "100-continue" for name, value in self._headers
        ):
            # An interim answer keeps the order of answers too: after those of the requests before this one.
            self._continue_due = True
            self._send_continue_if_due()

    def _send_continue_if_due(self) -> None:
        if self._continue_due and self._task is None and not self._queue:
            self._continue_due = False
            self._write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise _Refused(_too_large(self._limits.max_body_bytes))
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._continue_due = False  # the client sent the body without waiting for it
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        body = b"".join(self._body)
        encoding = headers.get("Content-Encoding", "identity").strip().lower()
        try:
            if encoding != "identity" and body:
                body = _decompress(body, encoding, self._limits.max_body_bytes)
        except _Refused as refused:
            self._refuse(refused.problem)
        else:
            self._queue.append(
                Request(
                    self._app,
                    self._parser.get_method().decode("ascii"),
                    self._url.decode("latin-1"),
                    headers,
                    body,
                    self._parser.should_keep_alive(),
                    self._parser.get_http_version(),
                )
            )
        self._start_message()

    # answering

    def _answer_next(self) -> None:
        while self._task is None and self._queue and self._transport is not None:
            item = self._queue.popleft()
            if isinstance(item, BadRequest):
                self._send(self._app.reject(item), close=True)
                return
            self._task = self._loop.create_task(self._answer(item))
        self._update_reading()
        self._send_continue_if_due()
        if self._task is None and not self._queue:
            if self._closing:
                self._close()
            else:
                self._arm_idle_timer()

    async def _answer(self, request: Request) -> None:
        try:
            response = await self._app.handler(request)
        except Exception:  # the application renders its own errors; this is the last resort
            log.exception("unhandled error in the HTTP handler", method=request.method)
            response = self._app.reject(BadRequest(500, "exception", "An internal error occurred"))
        finally:
            self._task = None
            if self._transport is None:  # the client left while the handler ran
                self._server._closed(self)
        if self._transport is None:
            return
        close = self._closing or not request.keep_alive
        self._send(response, close=close, head_only=request.method == "HEAD", http_10=request.http_version == "1.0")
        if not close:
            self._answer_next()

    def _send(self, response: Response, *, close: bool, head_only: bool = False, http_10: bool = False) -> None:
        self._write(response.encode(close=close, head_only=head_only, keep_alive=http_10 and not close))
        if close:
            self._queue.clear()
            self._close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def _refuse(self, problem: BadRequest) -> None:
        """Stop reading; the refusal is answered in its turn, after the requests before it."""
        self._refused = True
        self._queue.append(problem)

    # connection state

    def close_when_idle(self) -> None:
        self._closing = True
        if self._task is None and not self._queue and not self._in_message:
            self._close()

    def abort(self) -> asyncio.Task[None] | None:
        """Drops the connection and cancels its handler; returns the handler's task, if one was running."""
        task = self._task
        if task is not None:
            task.cancel()
        if self._transport is not None:
            self._transport.abort()
        return task

    def _close(self) -> None:
        self._cancel_idle_timer()
        if self._transport is not None:
            self._transport.close()
            if self._transport.get_write_buffer_size():
                # `close()` waits for the client to read what is left; one that has stopped reading is dropped.
                self._idle = self._loop.call_later(self._limits.idle_seconds, self._drop)

    def _drop(self) -> None:
        self._idle = None
        if self._transport is not None:
            self._transport.abort()

    def _update_reading(self) -> None:
        if self._transport is None:
            return
        pause = self._writing_paused or self._refused or len(self._queue) >= _MAX_PIPELINED
        if pause and not self._reading_paused:
            self._transport.pause_reading()
            self._reading_paused = True
        elif not pause and self._reading_paused:
            self._transport.resume_reading()
            self._reading_paused = False

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        delay = self._limits.idle_seconds
        if self._in_head:
            # A head's bytes do not restart the clock: one that trickles in is dropped when its time is up.
            delay = max(0.0, self._head_started + delay - self._loop.time())
        self._idle = self._loop.call_later(delay, self._idle_timeout)

    def _idle_timeout(self) -> None:
        """`close()` waits for the answers to be read; a client that has stopped reading them is dropped."""
        if self._transport is not None and self._transport.get_write_buffer_size():
            self.abort()
        else:
            self._close()

    def _cancel_idle_timer(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _declared_length(self) -> int | None:
        for name, value in self._headers:
            if name.lower() == "content-length":
                with contextlib.suppress(ValueError):
                    return int(value)
        return None

    def _header_too_large(self) -> BadRequest:
        size = self._limits.max_header_bytes
        return BadRequest(400, "too_long_http_header_exception", f"HTTP header is larger than {size} bytes.")


def _too_large(limit: int) -> BadRequest:
    return BadRequest(413, "content_too_long_exception", f"request content is larger than [{limit}] bytes")


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip and deflate request bodies, as ES's HTTP layer accepts them; the limit applies to what they expand to."""
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw as some clients send it: both, as Netty
        wbits = zlib.MAX_WBITS if _has_zlib_header(body) else -zlib.MAX_WBITS
    else:
        raise _Refused(BadRequest(415, "illegal_argument_exception", f"unsupported Content-Encoding [{encoding}]"))
    decompressor = zlib.decompressobj(wbits)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        reason = f"invalid {encoding} request body: {exc}"
        raise _Refused(BadRequest(400, "illegal_argument_exception", reason)) from None
    if len(data) > limit:
        raise _Refused(_too_large(limit))
    if not decompressor.eof:  # zlib stops without an error where the input ends
        reason = f"invalid {encoding} request body: incomplete or truncated stream"
        raise _Refused(BadRequest(400, "illegal_argument_exception", reason))
    return data


def _has_zlib_header(body: bytes) -> bool:
    """RFC 1950: method 8 (deflate) in the low nibble, and the two bytes a multiple of 31."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0
