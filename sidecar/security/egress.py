"""Which provider URLs the sidecar may call: link-local and cloud metadata addresses are refused."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from sidecar.domain.errors import ElasticsearchError, status_exception

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressPolicy:
    def __init__(self, denied_networks: list[str]) -> None:
        self.denied: list[_Network] = [ipaddress.ip_network(cidr, strict=False) for cidr in denied_networks]

    def check_url(self, url: str) -> None:
        """Raise when the URL's host is, or resolves to, a denied address."""
        host = urlsplit(url).hostname or ""
        for address in self._addresses(host):
            if any(address in network for network in self.denied):
                raise self._refused(url)

    def _addresses(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return []
        return [ipaddress.ip_address(info[4][0]) for info in infos]

    @staticmethod
    def _refused(url: str) -> ElasticsearchError:
        host = urlsplit(url).hostname
        return status_exception(f"The url host [{host}] is not allowed by the sidecar's egress policy", 400)
