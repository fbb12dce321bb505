"""Typed application keys: how handlers reach the components built by `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.http import AppKey, RequestKey
from sidecar.observability.metrics import Metrics
from sidecar.settings import Settings

if TYPE_CHECKING:
    from sidecar.components import Components

SETTINGS = AppKey("settings", Settings)
METRICS = AppKey("metrics", Metrics)
COMPONENTS: AppKey[Components] = AppKey("components")

# What a handler learned about the request, for the request log line and metrics.
MODEL_ID = RequestKey("model_id", str)
SERVICE_NAME = RequestKey("service", str)
