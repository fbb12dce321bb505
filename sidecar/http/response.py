"""One HTTP response: status, headers, and the whole body."""

from __future__ import annotations

from http import HTTPStatus

from multidict import CIMultiDict

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers) if headers else CIMultiDict()

    def encode(self, *, close: bool, head_only: bool = False, keep_alive: bool = False) -> bytes:
        """The bytes on the wire. `Content-Length` is always the body's; a HEAD answer leaves the body out.
        `keep_alive` says so explicitly, which an HTTP/1.0 client needs to keep the connection."""
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}\r\n"]
        for name, value in self.headers.items():
            if "\r" in value or "\n" in value:  # a header value never ends the head early
                value = value.replace("\r", " ").replace("\n", " ")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"content-length: {len(self.body)}\r\n")
        if close:
            lines.append("connection: close\r\n")
        elif keep_alive:
            lines.append("connection: keep-alive\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1", errors="replace")
        return head if head_only else head + self.body
