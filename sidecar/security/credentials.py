"""The caller's credentials: the Authorization header, forwarded unchanged, and a hash to key caches by."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sidecar.domain.errors import ElasticsearchError, security_exception
from sidecar.http import Request

WWW_AUTHENTICATE = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


@dataclass(frozen=True)
class Credentials:
    header: str

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.header.encode()).hexdigest()


def credentials_of(request: Request) -> Credentials | None:
    header = request.headers.get("Authorization", "").strip()
    return Credentials(header) if header else None


def missing_credentials(uri: str) -> ElasticsearchError:
    return security_exception(
        401,
        f"missing authentication credentials for REST request [{uri}]",
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )
