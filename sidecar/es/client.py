"""The one AsyncElasticsearch client of the process, built from settings."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from sidecar.settings import Settings


def build_es_client(settings: Settings, *, hosts: list[str] | None = None) -> AsyncElasticsearch:
    options: dict[str, Any] = {
        "hosts": hosts or settings.es_hosts,
        "request_timeout": settings.es_request_timeout,
        "verify_certs": settings.es_verify_certs,
        "max_retries": 1,
        "retry_on_timeout": False,
    }
    if settings.es_ca_certs:
        options["ca_certs"] = settings.es_ca_certs
    if settings.es_api_key is not None:
        options["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username is not None and settings.es_password is not None:
        options["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    return AsyncElasticsearch(**options)
