"""Small blocking HTTP helpers for setting up and observing the servers (the load itself comes from wrk)."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

# Every server is on 127.0.0.1: never go through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    authorization: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """(status, body); HTTP errors are answers, not exceptions. Connection failures raise OSError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call_json(method: str, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    status, raw = call(method, url, body, **kwargs)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def first_ok(url: str, *, timeout: float, interval: float = 0.005, authorization: str | None = None) -> float | None:
    """Poll GET `url` until it answers 200; the time.perf_counter() of that answer, or None after `timeout`.

    One fresh connection per attempt (http.client, no proxies), so a refused connection costs microseconds.
    """
    parts = urlsplit(url)
    path = parts.path or "/"
    headers = {"Authorization": authorization} if authorization else {}
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=2.0)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.perf_counter()
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(interval)
    return None


def prometheus_values(text: str, name: str) -> dict[str, float]:
    """Samples of metric `name` from Prometheus text: the label part (`result="hit"`, or "") -> value."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name) :]
        if rest.startswith("{"):
            labels, _, value = rest[1:].partition("} ")
        elif rest.startswith(" "):
            labels, value = "", rest[1:]
        else:
            continue
        try:
            values[labels] = float(value.split()[0])
        except (ValueError, IndexError):
            continue
    return values
