"""`inference-sidecar serve | serve --dev | check`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import signal
import sys
from collections.abc import Sequence

from sidecar.api.keys import COMPONENTS
from sidecar.app import create_app, create_server
from sidecar.engine.idle import new_event_loop
from sidecar.es.client import build_es_client
from sidecar.es.preflight import run_preflight
from sidecar.observability.logging import configure_logging, get_logger
from sidecar.observability.metrics import Metrics
from sidecar.registry.indices import IndexNames
from sidecar.security.privileges import Authorizer
from sidecar.settings import ConfigurationError, Settings, load_settings
from sidecar.version import VERSION

log = get_logger("sidecar.cli")

DEV_SERVICE_ACCOUNT = ("sidecar", "changeme")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inference-sidecar", description="The Elasticsearch _inference sidecar")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the service")
    serve_parser.add_argument("--dev", action="store_true", help="run on the in-process Elasticsearch stand-in")
    commands.add_parser("check", help="preflight: cluster version, privileges, indices")
    commands.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(VERSION)
        return 0
    try:
        settings = load_settings(**({"dev": True} if getattr(args, "dev", False) else {}))
        configure_logging(settings.log_level, settings.log_format)
        if args.command == "check":
            return asyncio.run(check(settings))
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(serve_dev(settings) if settings.dev else serve(settings))
        return 0
    except ConfigurationError as exc:
        print(f"inference-sidecar: {exc}", file=sys.stderr)
        return 2


async def check(settings: Settings) -> int:
    logging.getLogger("elastic_transport").setLevel(logging.ERROR)  # the report below says it once, plainly
    es = build_es_client(settings)
    try:
        authorizer = Authorizer(
            es, Metrics(VERSION), ttl=0, security_disabled_policy=settings.security_disabled_policy
        )
        names = IndexNames.from_prefix(settings.index_prefix)
        report = await run_preflight(es, names, authorizer, settings.index_prefix)
    finally:
        await es.close()
    for note in report.notes:
        print(f"ok: {note}")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.ok:
        print(f"ok: Elasticsearch {report.version} is ready for the sidecar")
        return 0
    return 1


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then: not ready at once, keep serving for the grace period,
    stop accepting, let in-flight requests finish within the drain time, close everything."""
    app = await create_app(settings)
    server = create_server(app)
    await server.start(settings.host, settings.port)
    log.info("listening", host=settings.host, port=settings.port, version=VERSION)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down", grace_seconds=settings.shutdown_grace_seconds)
    app[COMPONENTS].readiness.mark_shutting_down()
    await asyncio.sleep(settings.shutdown_grace_seconds)
    await server.shutdown(settings.shutdown_drain_seconds)
    log.info("stopped")


async def serve_dev(settings: Settings) -> None:
    """The sidecar on the in-process Elasticsearch stand-in, with an ephemeral secrets key."""
    from sidecar.devcluster import DevClusterConfig, start_devcluster

    devcluster = await start_devcluster(DevClusterConfig(), "127.0.0.1", settings.dev_es_port)
    print(
        f"WARNING: development mode. Elasticsearch stand-in at {devcluster.url} (user elastic / changeme); "
        "secrets are encrypted with an ephemeral key and lost at exit.",
        file=sys.stderr,
    )
    overrides = settings.model_dump()
    overrides.update(
        es_url=devcluster.url,
        es_username=DEV_SERVICE_ACCOUNT[0],
        es_password=DEV_SERVICE_ACCOUNT[1],
        es_api_key=None,
        secrets_key=base64.b64encode(os.urandom(32)).decode(),
        secrets_old_keys=None,
        shutdown_grace_seconds=0.0,
    )
    try:
        await serve(Settings(**overrides))
    finally:
        await devcluster.stop()


if __name__ == "__main__":
    sys.exit(main())
