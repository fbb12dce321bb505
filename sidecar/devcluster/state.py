"""The whole cluster state as plain data. Behaviour lives in the modules that use it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sidecar.devcluster.config import DevClusterConfig


def now_millis() -> int:
    return int(time.time() * 1000)


def random_uuid() -> str:
    """A 22-character url-safe id, the shape ES uses for index and cluster uuids."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def stable_id(seed: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:16]).decode().rstrip("=")


# --- security -------------------------------------------------------------------------------


@dataclass
class IndexGrant:
    names: list[str]
    privileges: list[str]
    allow_restricted_indices: bool = False


@dataclass
class Role:
    name: str
    cluster: list[str] = field(default_factory=list)
    indices: list[IndexGrant] = field(default_factory=list)
    run_as: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class User:
    username: str
    password: str
    roles: list[str]
    full_name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    realm: str = "default_native"
    realm_type: str = "native"


@dataclass
class ApiKey:
    id: str
    name: str
    key: str
    owner: str
    owner_realm: str
    owner_realm_type: str
    limited_by: list[str]
    role_descriptors: list[Role] | None
    creation: int
    expiration: int | None = None
    invalidated: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SecurityState:
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)


# --- indices --------------------------------------------------------------------------------


@dataclass
class Document:
    id: str
    source: dict[str, Any]
    version: int
    seq_no: int
    primary_term: int = 1


@dataclass
class AliasProperties:
    is_write_index: bool | None = None
    is_hidden: bool | None = None
    filter: dict[str, Any] | None = None
    routing: str | None = None


@dataclass
class Index:
    name: str
    uuid: str
    settings: dict[str, str]
    mappings: dict[str, Any]
    aliases: dict[str, AliasProperties] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    creation_date: int = field(default_factory=now_millis)
    next_seq_no: int = 0

    @property
    def hidden(self) -> bool:
        return self.settings.get("index.hidden") == "true"

    @property
    def configured_replicas(self) -> int:
        return int(self.settings.get("index.number_of_replicas", "1"))


@dataclass
class IndicesState:
    indices: dict[str, Index] = field(default_factory=dict)


# --- ingest ---------------------------------------------------------------------------------


@dataclass
class Pipeline:
    id: str
    definition: dict[str, Any]


# --- machine learning -----------------------------------------------------------------------


@dataclass
class TrainedModel:
    model_id: str
    config: dict[str, Any]
    model_bytes: int
    fully_defined: bool
    deployable: bool = True
    platform_architecture: str | None = None
    built_in: bool = False
    download: asyncio.Task[None] | None = None


@dataclass
class NodeRouting:
    node_id: str
    allocations: int
    routing_state: str = "starting"
    inference_count: int = 0
    total_inference_ms: float = 0.0
    last_access: int | None = None
    start_time: int = field(default_factory=now_millis)


@dataclass
class Deployment:
    deployment_id: str
    model_id: str
    number_of_allocations: int
    threads_per_allocation: int
    queue_capacity: int
    cache_size: str | None
    priority: str
    model_bytes: int
    routing: list[NodeRouting]
    state: str = "starting"
    start_time: int = field(default_factory=now_millis)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    starter: asyncio.Task[None] | None = None


@dataclass
class MlState:
    models: dict[str, TrainedModel] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    start_requests: int = 0


# --- the cluster ----------------------------------------------------------------------------


@dataclass
class ClusterState:
    config: DevClusterConfig
    security: SecurityState = field(default_factory=SecurityState)
    indices: IndicesState = field(default_factory=IndicesState)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    ml: MlState = field(default_factory=MlState)
    cluster_uuid: str = field(default_factory=random_uuid)
    license_uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    license_issued: int = field(default_factory=now_millis)

    def background_tasks(self) -> list[asyncio.Task[None]]:
        tasks = [model.download for model in self.ml.models.values() if model.download is not None]
        tasks += [d.starter for d in self.ml.deployments.values() if d.starter is not None]
        return [task for task in tasks if not task.done()]
