"""What a test can choose about the stand-in cluster.

Every field is a plain attribute read at request time, so a test may change one on a running
cluster (for example `cluster.config.start_failure = StartFailure.CAPACITY`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

LICENSES_WITH_ML = frozenset({"trial", "platinum", "enterprise"})
ES_SYSTEM_INDEX_PATTERNS = (".inference*", ".secrets-inference*")


class StartFailure(StrEnum):
    """A failure that `_start` answers on demand, after the request and the model were validated."""

    CAPACITY = "capacity"
    PLATFORM_MISMATCH = "platform_mismatch"
    TIMEOUT = "timeout"


@dataclass
class MlNodeSpec:
    name: str
    os_name: str = "Linux"
    os_arch: str = "amd64"
    allocated_processors: int = 4


@dataclass
class DevClusterConfig:
    version: str = "8.12.2"
    license_type: str = "trial"
    security_enabled: bool = True
    ml_nodes: list[MlNodeSpec] = field(default_factory=lambda: [MlNodeSpec("node-1")])
    download_delay: float = 0.2
    deployment_start_delay: float = 0.05
    start_failure: StartFailure | None = None
    cluster_name: str = "devcluster"
    # ES 8.11+ registers these as system indices of its own inference plugin: writes are refused.
    restricted_index_patterns: tuple[str, ...] = ES_SYSTEM_INDEX_PATTERNS
    bearer_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        parts = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in self.version.split(".")[:3]]
        while len(parts) < 3:
            parts.append(0)
        return parts[0], parts[1], parts[2]

    @property
    def major(self) -> int:
        return self.version_tuple[0]

    def at_least(self, major: int, minor: int) -> bool:
        return self.version_tuple[:2] >= (major, minor)

    @property
    def ml_licensed(self) -> bool:
        return self.license_type in LICENSES_WITH_ML
