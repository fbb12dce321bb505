"""Typed application keys: how handlers reach the components built by `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from sidecar.observability.metrics import Metrics
from sidecar.settings import Settings

if TYPE_CHECKING:
    from sidecar.components import Components

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
COMPONENTS: web.AppKey[Components] = web.AppKey("components")

# What a handler learned about the request, for the request log line and metrics.
MODEL_ID = web.RequestKey("model_id", str)
SERVICE_NAME = web.RequestKey("service", str)
