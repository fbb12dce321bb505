"""Running inference: splitting, merging, caching, retries and rate limits between handlers and plugins."""

from sidecar.engine.engine import InferenceEngine
from sidecar.engine.replicas import EsReplicaCounter, ReplicaCounter, StaticReplicaCounter

__all__ = ["EsReplicaCounter", "InferenceEngine", "ReplicaCounter", "StaticReplicaCounter"]
