"""The composition root: `create_app(settings)` builds every component once and wires the routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid

from sidecar.api.keys import COMPONENTS, METRICS, SETTINGS
from sidecar.api.middleware import handle, refusal_response
from sidecar.components import Components
from sidecar.domain.messages import Messages
from sidecar.domain.service import ServiceContext
from sidecar.engine.engine import InferenceEngine
from sidecar.engine.replicas import EsReplicaCounter
from sidecar.es.client import build_es_client
from sidecar.es.preflight import run_preflight
from sidecar.http import App, AppKey, HttpServer, Limits
from sidecar.http.client import HttpClient
from sidecar.observability.logging import get_logger
from sidecar.observability.metrics import Metrics
from sidecar.plugin_loader import load_services
from sidecar.readiness import Readiness
from sidecar.registry.cache import ModelCache
from sidecar.registry.crypto import SecretBox
from sidecar.registry.indices import IndexNames
from sidecar.registry.store import ModelStore
from sidecar.security.egress import EgressPolicy, EgressResolver
from sidecar.security.privileges import Authorizer
from sidecar.settings import ConfigurationError, Settings
from sidecar.version import VERSION

log = get_logger("sidecar.app")
PREFLIGHT: AppKey[asyncio.Task[None]] = AppKey("preflight")
_CLAIM_LEASE_MARGIN = 60.0


def _secret_box(settings: Settings) -> SecretBox:
    key = settings.secrets_key_bytes()
    if key is None:
        raise ConfigurationError("invalid configuration: SIDECAR_SECRETS_KEY is required (base64 of 32 random bytes)")
    return SecretBox(key, settings.old_secrets_keys_bytes())


async def create_app(settings: Settings) -> App:
    """Build the application. Must run inside the event loop that will serve it."""
    box = _secret_box(settings)
    metrics = Metrics(VERSION)
    es = build_es_client(settings)
    egress = EgressPolicy(settings.egress_deny_networks)
    http = HttpClient(
        max_connections=settings.provider_max_connections,
        max_response_bytes=settings.provider_max_response_bytes,
        resolver=EgressResolver(egress),
        user_agent=f"inference-sidecar/{VERSION}",
    )
    names = IndexNames.from_prefix(settings.index_prefix)
    messages = Messages(settings.api_compat)
    store = ModelStore(es, names, box, messages, claim_lease=settings.es_ml_timeout + _CLAIM_LEASE_MARGIN)
    authorizer = Authorizer(
        es,
        metrics,
        ttl=settings.privilege_cache_ttl,
        security_disabled_policy=settings.security_disabled_policy,
    )
    context = ServiceContext(settings, http, es, egress)
    services = load_services(context)
    replicas = EsReplicaCounter(es, names.replicas, _replica_id(), settings.replica_heartbeat_seconds)
    components = Components(
        settings=settings,
        metrics=metrics,
        es=es,
        http=http,
        names=names,
        store=store,
        models=ModelCache(
            lambda model_id: components.load_model(model_id),
            settings.model_cache_ttl,
            lambda hit: metrics.model_cache.labels("hit" if hit else "miss").inc(),
        ),
        authorizer=authorizer,
        services=services,
        engine=InferenceEngine(settings, metrics, replicas),
        replicas=replicas,
        readiness=Readiness(),
        messages=messages,
    )

    app = App(handle, refusal_response)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[COMPONENTS] = components
    app.on_startup.append(_start_preflight)
    app.on_shutdown.append(_mark_shutting_down)
    app.on_cleanup.append(_close)
    return app


def create_server(app: App) -> HttpServer:
    return HttpServer(app, Limits(max_body_bytes=app[SETTINGS].max_body_bytes))


def _replica_id() -> str:
    """The pod name on Kubernetes; unique enough elsewhere."""
    return f"{os.environ.get('HOSTNAME', 'sidecar')}-{uuid.uuid4().hex[:8]}"


async def _start_preflight(app: App) -> None:
    app[PREFLIGHT] = asyncio.create_task(wait_until_ready(app[COMPONENTS]))


async def wait_until_ready(components: Components) -> None:
    """Run the preflight with capped exponential backoff until it passes; readiness turns green then."""
    delay = 0.1
    while not components.readiness.shutting_down:
        report = await run_preflight(
            components.es, components.names, components.authorizer, components.settings.index_prefix
        )
        if report.ok:
            for note in report.notes:
                log.info("preflight", note=note)
            await components.replicas.start()
            components.readiness.mark_ready()
            log.info("ready", elasticsearch=report.version)
            return
        components.readiness.mark_not_ready("; ".join(report.problems))
        log.warning("preflight failed, retrying", problems=report.problems, retry_in_seconds=round(delay, 2))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0) * random.uniform(0.8, 1.2)


async def _mark_shutting_down(app: App) -> None:
    app[COMPONENTS].readiness.mark_shutting_down()


async def _close(app: App) -> None:
    components = app[COMPONENTS]
    task = app.get(PREFLIGHT)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await components.replicas.close()
    await components.engine.close()
    await components.http.close()
    await components.es.close()
