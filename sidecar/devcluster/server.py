"""Running the stand-in on a real port, for tests, `serve --dev` and `python -m sidecar.devcluster`."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from sidecar.devcluster.app import create_devcluster_app
from sidecar.devcluster.config import DevClusterConfig
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.users import default_security_state


def new_cluster_state(config: DevClusterConfig) -> ClusterState:
    return ClusterState(config=config, security=default_security_state(config.bearer_tokens))


class DevCluster:
    """One stand-in cluster: `await start()`, use `url`, `state` and `config`, `await stop()`."""

    def __init__(self, config: DevClusterConfig | None = None) -> None:
        self.config = config or DevClusterConfig()
        self.state = new_cluster_state(self.config)
        self.app = create_devcluster_app(self.state)
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str | None = None, port: int | None = None) -> DevCluster:
        """Listen; without arguments a restarted cluster comes back on its previous address."""
        host = self.host if host is None else host
        port = self.port if port is None else port
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.host = host
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DevCluster:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def start_devcluster(
    config: DevClusterConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> DevCluster:
    """Start a stand-in and return it running; `port=0` picks a free port (see `.url`)."""
    return await DevCluster(config).start(host, port)
