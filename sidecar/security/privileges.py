"""Authorising callers with their own credentials through `_has_privileges`, with a short-lived cache.

The cache is keyed by a hash of the credentials and the privilege, never by the raw header.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, AuthenticationException, TransportError

from sidecar.domain.errors import ElasticsearchError, security_exception
from sidecar.es.errors import translate
from sidecar.observability.logging import get_logger
from sidecar.observability.metrics import Metrics
from sidecar.security.credentials import Credentials, missing_credentials
from sidecar.security.policy import ACTION_NAMES, granted_by

log = get_logger("sidecar.security")
_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denial: ElasticsearchError | None = None


def is_security_disabled_answer(status: int, body: Any) -> bool:
    """ES without security has no `/_security` routes: the router's flat "no handler found" 400."""
    return status == 400 and isinstance(body, dict) and str(body.get("error", "")).startswith("no handler found")


class Authorizer:
    def __init__(
        self,
        es: AsyncElasticsearch,
        metrics: Metrics,
        *,
        ttl: float,
        security_disabled_policy: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.es = es
        self.metrics = metrics
        self.ttl = ttl
        self.security_disabled_policy = security_disabled_policy
        self.clock = clock
        self.security_disabled = False
        self._cache: OrderedDict[tuple[str, str], tuple[float, Decision]] = OrderedDict()
        self._hits = metrics.privilege_cache.labels("hit")
        self._misses = metrics.privilege_cache.labels("miss")

    async def authorize(self, credentials: Credentials | None, action: str, privilege: str, uri: str) -> None:
        """Return when the caller holds `privilege`; raise the ES 401/403 otherwise."""
        if self.security_disabled:
            return self._apply_disabled_policy(action)
        if credentials is None:
            raise missing_credentials(uri)
        key = (credentials.fingerprint, privilege)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            self._hits.inc()
            decision = cached[1]
        else:
            self._misses.inc()
            decision = await self._check(credentials, action, privilege)
            if self.security_disabled:
                return self._apply_disabled_policy(action)
            self._remember(key, decision)
        if decision.denial is not None:
            raise decision.denial

    async def authenticate(self, credentials: Credentials | None, uri: str) -> None:
        """Return when the cluster knows the caller; raise its 401 otherwise. Successes are cached like decisions."""
        if self.security_disabled:
            return
        if credentials is None:
            raise missing_credentials(uri)
        key = (credentials.fingerprint, "")  # no privilege: authentication alone
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            self._hits.inc()
            return
        self._misses.inc()
        try:
            await self.es.options(headers={"authorization": credentials.header}).security.authenticate()
        except ApiError as exc:
            if is_security_disabled_answer(exc.meta.status, exc.body):
                self._note_security_disabled()
                return
            raise translate(exc) from None
        except TransportError as exc:
            raise translate(exc) from None
        self._remember(key, Decision(True))

    async def detect_security(self) -> bool:
        """Ask the cluster with the sidecar's own account whether security is on; remembers the answer."""
        try:
            await self.es.security.has_privileges(cluster=["monitor"])
        except ApiError as exc:
            if is_security_disabled_answer(exc.meta.status, exc.body):
                self._note_security_disabled()
                return False
            if isinstance(exc, AuthenticationException):
                raise
        self.security_disabled = False
        return True

    def _note_security_disabled(self) -> None:
        if not self.security_disabled:
            log.warning("cluster security is disabled", policy=self.security_disabled_policy)
        self.security_disabled = True

    def _apply_disabled_policy(self, action: str) -> None:
        if self.security_disabled_policy == "deny":
            raise security_exception(
                403,
                f"action [{ACTION_NAMES[action]}] is refused: security is disabled on the Elasticsearch cluster "
                "and SIDECAR_SECURITY_DISABLED_POLICY is [deny]",
            )

    async def _check(self, credentials: Credentials, action: str, privilege: str) -> Decision:
        as_caller = self.es.options(headers={"authorization": credentials.header})
        try:
            response = await as_caller.security.has_privileges(cluster=[privilege])
        except ApiError as exc:
            if is_security_disabled_answer(exc.meta.status, exc.body):
                self._note_security_disabled()
                return Decision(True)
            raise translate(exc) from None
        except TransportError as exc:
            raise translate(exc) from None
        if response.body.get("cluster", {}).get(privilege) is True:
            return Decision(True)
        return Decision(False, await self._denial(as_caller, action, privilege, response.body))

    async def _denial(
        self, as_caller: AsyncElasticsearch, action: str, privilege: str, privileges: dict[str, Any]
    ) -> ElasticsearchError:
        subject = f"user [{privileges.get('username', '')}]"
        try:
            identity = (await as_caller.security.authenticate()).body
        except (ApiError, TransportError):
            identity = {}
        if identity.get("authentication_type") == "api_key":
            subject = f"API key id [{identity.get('api_key', {}).get('id', '')}] of user [{identity.get('username')}]"
        elif identity:
            subject += f" with effective roles [{','.join(identity.get('roles', []))}]"
        grantors = ",".join(granted_by(privilege))
        return security_exception(
            403,
            f"action [{ACTION_NAMES[action]}] is unauthorized for {subject}, "
            f"this action is granted by the cluster privileges [{grantors}]",
        )

    def _remember(self, key: tuple[str, str], decision: Decision) -> None:
        if self.ttl <= 0:
            return
        self._cache[key] = (self.clock() + self.ttl, decision)
        self._cache.move_to_end(key)
        while len(self._cache) > _MAX_CACHED:
            self._cache.popitem(last=False)
