"""The sidecar's HTTP/1.1 server: a lean layer on the llhttp parser (httptools), with aiohttp-like request and
response objects, so that the handlers' code reads as before while each request costs a fraction of the CPU."""

from sidecar.http.app import App, AppKey, RequestKey
from sidecar.http.request import Request
from sidecar.http.response import Response
from sidecar.http.server import BadRequest, HttpServer, Limits

__all__ = ["App", "AppKey", "BadRequest", "HttpServer", "Limits", "Request", "RequestKey", "Response"]
