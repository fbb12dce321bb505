"""Which provider addresses the sidecar may call: link-local and cloud metadata addresses are refused.

A URL whose host is an IP address is checked before the call (`check_url`, a 400 naming the host). A
host name is checked where it is resolved, in the outbound client (`EgressResolver`), so that the
address checked is the address connected to, whatever DNS answers later.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sidecar.domain.errors import ElasticsearchError, status_exception
from sidecar.http.client import Resolver, SystemResolver

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressPolicy:
    def __init__(self, denied_networks: list[str]) -> None:
        self.denied: list[_Network] = [ipaddress.ip_network(cidr, strict=False) for cidr in denied_networks]

    def allows(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return not any(ip in network for network in self.denied)

    def check_url(self, url: str) -> None:
        """Raise ES's 400 when the URL's host is a denied IP address (host names: see EgressResolver)."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return
        if not self.allows(host):
            raise self._refused(host)

    @staticmethod
    def _refused(host: str) -> ElasticsearchError:
        return status_exception(f"The url host [{host}] is not allowed by the sidecar's egress policy", 400)


class EgressResolver:
    """A resolver (the system's by default), minus the addresses the policy denies; none left is an OSError."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or SystemResolver()

    async def resolve(self, host: str, port: int) -> list[str]:
        answers = await self.resolver.resolve(host, port)
        allowed = [address for address in answers if self.policy.allows(address)]
        if not allowed:
            raise OSError(f"the host [{host}] resolves only to addresses the sidecar's egress policy refuses")
        return allowed
