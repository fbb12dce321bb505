"""The sidecar's own hidden indices: names, versioned mappings, and their bootstrap.

Each index is a versioned concrete index (`<alias>-000001`) behind an alias; the sidecar always
addresses the alias. Never `.inference` or `.secrets-inference`: those belong to Elasticsearch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError

from sidecar.es.errors import error_type

MAPPINGS_VERSION = 1
_META = {"sidecar_mappings_version": MAPPINGS_VERSION}
_SETTINGS = {"index.hidden": True, "index.auto_expand_replicas": "0-1", "number_of_shards": 1}

CONFIG_MAPPINGS: dict[str, Any] = {
    "_meta": _META,
    "dynamic": "strict",
    "properties": {
        "model_id": {"type": "keyword"},
        "task_type": {"type": "keyword"},
        "service": {"type": "keyword"},
        "service_settings": {"dynamic": False, "properties": {}},
        "task_settings": {"dynamic": False, "properties": {}},
        "state": {"type": "keyword"},
        "created_at": {"type": "date", "format": "epoch_millis"},
    },
}

SECRETS_MAPPINGS: dict[str, Any] = {
    "_meta": _META,
    "dynamic": "strict",
    "properties": {
        "model_id": {"type": "keyword"},
        "key_id": {"type": "keyword"},
        "nonce": {"type": "binary"},
        "ciphertext": {"type": "binary"},
    },
}

REPLICAS_MAPPINGS: dict[str, Any] = {
    "_meta": _META,
    "dynamic": "strict",
    "properties": {"replica_id": {"type": "keyword"}, "seen_at": {"type": "date", "format": "epoch_millis"}},
}


@dataclass(frozen=True)
class IndexNames:
    configs: str
    secrets: str
    replicas: str

    @classmethod
    def from_prefix(cls, prefix: str) -> IndexNames:
        return cls(configs=f"{prefix}-models", secrets=f"{prefix}-secrets", replicas=f"{prefix}-replicas")

    def with_mappings(self) -> list[tuple[str, dict[str, Any]]]:
        return [(self.configs, CONFIG_MAPPINGS), (self.secrets, SECRETS_MAPPINGS), (self.replicas, REPLICAS_MAPPINGS)]


def concrete_name(alias: str) -> str:
    return f"{alias}-{MAPPINGS_VERSION:06d}"


async def bootstrap_indices(es: AsyncElasticsearch, names: IndexNames) -> list[str]:
    """Create missing indices and bring older mappings up to date. Returns what was done, for logs."""
    actions = []
    for alias, mappings in names.with_mappings():
        if await es.indices.exists_alias(name=alias):
            if await _upgrade_mappings(es, alias, mappings):
                actions.append(f"upgraded mappings of [{alias}]")
            continue
        try:
            await es.indices.create(
                index=concrete_name(alias),
                settings=_SETTINGS,
                mappings=mappings,
                aliases={alias: {"is_write_index": True}},
            )
            actions.append(f"created [{concrete_name(alias)}] behind alias [{alias}]")
        except BadRequestError as exc:
            if error_type(exc.body) != "resource_already_exists_exception":
                raise
    return actions


async def indices_ready(es: AsyncElasticsearch, names: IndexNames) -> bool:
    for alias, _ in names.with_mappings():
        if not await es.indices.exists_alias(name=alias):
            return False
    return True


async def _upgrade_mappings(es: AsyncElasticsearch, alias: str, mappings: dict[str, Any]) -> bool:
    try:
        current = await es.indices.get_mapping(index=alias)
    except NotFoundError:
        return False
    upgraded = False
    for index_mapping in current.body.values():
        meta = index_mapping.get("mappings", {}).get("_meta", {})
        if int(meta.get("sidecar_mappings_version", 0)) < MAPPINGS_VERSION:
            await es.indices.put_mapping(index=alias, meta=_META, properties=mappings["properties"])
            upgraded = True
    return upgraded
