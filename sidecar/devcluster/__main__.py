"""`python -m sidecar.devcluster --port 9200 [--host 127.0.0.1] [--license basic] [--no-security] [--version 8.12.2]`"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from sidecar.devcluster.config import DevClusterConfig
from sidecar.devcluster.server import start_devcluster
from sidecar.devcluster.users import describe_default_users


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.devcluster", description="An in-process Elasticsearch stand-in"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument(
        "--license", default="trial", choices=["basic", "standard", "gold", "platinum", "enterprise", "trial"]
    )
    parser.add_argument("--no-security", action="store_true", help="behave like xpack.security.enabled: false")
    parser.add_argument("--version", default="8.12.2", help="the Elasticsearch version to claim")
    parser.add_argument("--download-delay", type=float, default=2.0, help="seconds an ELSER download takes")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    config = DevClusterConfig(
        version=args.version,
        license_type=args.license,
        security_enabled=not args.no_security,
        download_delay=args.download_delay,
        deployment_start_delay=0.5,
    )
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopped.set)
    cluster = await start_devcluster(config, args.host, args.port)
    print(f"Elasticsearch stand-in {config.version} ({config.license_type} licence) listening on {cluster.url}")
    print(describe_default_users() if config.security_enabled else "Security is disabled: no credentials needed.")
    sys.stdout.flush()
    try:
        await stopped.wait()
    finally:
        await cluster.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
