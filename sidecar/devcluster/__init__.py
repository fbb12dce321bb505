"""An in-process Elasticsearch stand-in that speaks the slice of the REST API the sidecar uses.

    cluster = await start_devcluster(DevClusterConfig(license_type="basic"))   # port 0: a free port
    es = AsyncElasticsearch(cluster.url, basic_auth=("elastic", "changeme"))
    cluster.config.start_failure = StartFailure.CAPACITY   # any config field can change at runtime
    cluster.state                                         # the whole cluster as plain dataclasses
    await cluster.stop()                                  # `await cluster.start()` brings it back

Standalone: `python -m sidecar.devcluster --port 9200 [--license basic] [--no-security] [--version 8.12.2]`.
Users and roles are listed in `users.py` (every password is `changeme`).
"""

from sidecar.devcluster.app import create_devcluster_app
from sidecar.devcluster.config import DevClusterConfig, MlNodeSpec, StartFailure
from sidecar.devcluster.server import DevCluster, new_cluster_state, start_devcluster
from sidecar.devcluster.state import ClusterState
from sidecar.devcluster.users import BUILT_IN_ROLES, BUILT_IN_USERS, DEFAULT_PASSWORD, SIDECAR_INDEX_PATTERNS

__all__ = [
    "BUILT_IN_ROLES",
    "BUILT_IN_USERS",
    "DEFAULT_PASSWORD",
    "SIDECAR_INDEX_PATTERNS",
    "ClusterState",
    "DevCluster",
    "DevClusterConfig",
    "MlNodeSpec",
    "StartFailure",
    "create_devcluster_app",
    "new_cluster_state",
    "start_devcluster",
]
