"""Whether the sidecar may take traffic, and why not.

Ready means: the startup preflight has passed, the process is not shutting down, and the cluster answers
and still has the sidecar's indices. The cluster check is remembered for `CHECK_TTL` seconds so that
probes from many kubelets do not turn into a stream of cluster calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from sidecar.registry.indices import IndexNames, indices_ready

CHECK_TTL = 1.0
CHECK_TIMEOUT = 2.0


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "starting: waiting for the preflight checks"
    shutting_down: bool = False
    _checked_at: float = field(default=-CHECK_TTL, repr=False)
    _problem: str | None = field(default=None, repr=False)

    def mark_ready(self) -> None:
        self.ready, self.reason = True, "ready"

    def mark_not_ready(self, reason: str) -> None:
        self.ready, self.reason = False, reason

    def mark_shutting_down(self) -> None:
        self.shutting_down = True
        self.mark_not_ready("shutting down")

    async def problem(self, es: AsyncElasticsearch, names: IndexNames) -> str | None:
        """None when ready; otherwise the reason to give on the readiness probe."""
        if not self.ready:
            return self.reason
        now = time.monotonic()
        if now - self._checked_at >= CHECK_TTL:
            self._problem = await _cluster_problem(es, names)
            self._checked_at = now
        return self._problem


async def _cluster_problem(es: AsyncElasticsearch, names: IndexNames) -> str | None:
    try:
        if not await indices_ready(es.options(request_timeout=CHECK_TIMEOUT, max_retries=0), names):
            return "the sidecar's indices are missing; run `inference-sidecar check` or restart"
    except ApiError as exc:
        return f"Elasticsearch answered HTTP {exc.meta.status}"
    except TransportError as exc:
        return f"cannot reach Elasticsearch: {type(exc).__name__}"
    return None
