"""Every setting of the sidecar, read from `SIDECAR_*` environment variables.

The README documents each field below; keep the two in step.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Privilege = str


class ConfigurationError(Exception):
    """A setting is wrong; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIDECAR_", extra="ignore", frozen=True)

    # Elasticsearch connection (the sidecar's own service account)
    es_url: str = "http://localhost:9200"
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_ca_certs: str | None = None
    es_verify_certs: bool = True
    es_request_timeout: float = Field(default=10.0, gt=0)
    es_ml_timeout: float = Field(default=300.0, gt=0)

    # HTTP server
    host: str = "0.0.0.0"
    port: int = Field(default=9280, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Storage and secrets
    secrets_key: SecretStr | None = None
    secrets_old_keys: SecretStr | None = None
    index_prefix: str = ".sidecar-inference"
    model_cache_ttl: float = Field(default=5.0, ge=0)

    # Wire dialect
    api_compat: Literal["8.12", "8.15"] = "8.12"

    # Authorisation: the cluster privilege each action demands of the caller
    privilege_put: Privilege = "manage"
    privilege_get: Privilege = "manage"
    privilege_delete: Privilege = "manage"
    privilege_infer: Privilege = "manage"
    privilege_cache_ttl: float = Field(default=30.0, ge=0)
    security_disabled_policy: Literal["allow", "deny"] = "allow"

    # Outbound calls to providers
    egress_deny_cidrs: str = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32"
    provider_timeout: float = Field(default=30.0, gt=0)
    provider_max_connections: int = Field(default=100, ge=1)
    provider_max_response_bytes: int = Field(default=128 * 1024 * 1024, ge=1)
    hugging_face_batch_size: int = Field(default=32, ge=1)

    # Inference engine
    batch_window_ms: float = Field(default=2.0, ge=0)
    max_batch_concurrency: int = Field(default=4, ge=1)
    max_merged_inputs: int = Field(default=16, ge=1)
    cache_enabled: bool = True
    cache_max_entries: int = Field(default=50_000, ge=0)
    cache_max_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    retry_initial_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=5.0, ge=0)
    retry_timeout: float = Field(default=30.0, ge=0)
    rate_limit_queue: int = Field(default=1000, ge=0)
    replica_heartbeat_seconds: float = Field(default=10.0, gt=0)

    # Lifecycle
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
    shutdown_drain_seconds: float = Field(default=30.0, ge=0)

    # Observability
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Development mode (`serve --dev`)
    dev: bool = False
    dev_es_port: int = Field(default=9201, ge=0, le=65535)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("index_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        # `.inference*` and `.secrets-inference*` are the system index patterns of ES's own inference plugin.
        if value.startswith((".inference", ".secrets-inference")):
            raise ValueError(
                "the prefix must not fall under .inference* or .secrets-inference*, which belong to Elasticsearch"
            )
        if value != value.lower() or not value or any(ch in value for ch in ' "*\\<|,>/?#:'):
            raise ValueError("the prefix must be a lowercase index name without spaces or any of \\/*?\"<>|,#:")
        return value

    @field_validator("secrets_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_key(value.get_secret_value())
        return value

    @field_validator("secrets_old_keys")
    @classmethod
    def _check_old_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in split_list(value.get_secret_value()):
                decode_key(key)
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> Settings:
        if self.es_api_key is not None and self.es_username is not None:
            raise ValueError("set either SIDECAR_ES_API_KEY or SIDECAR_ES_USERNAME/SIDECAR_ES_PASSWORD, not both")
        if (self.es_username is None) != (self.es_password is None):
            raise ValueError("SIDECAR_ES_USERNAME and SIDECAR_ES_PASSWORD go together")
        return self

    @property
    def es_hosts(self) -> list[str]:
        return split_list(self.es_url)

    @property
    def egress_deny_networks(self) -> list[str]:
        return split_list(self.egress_deny_cidrs)

    def secrets_key_bytes(self) -> bytes | None:
        return None if self.secrets_key is None else decode_key(self.secrets_key.get_secret_value())

    def old_secrets_keys_bytes(self) -> list[bytes]:
        if self.secrets_old_keys is None:
            return []
        return [decode_key(key) for key in split_list(self.secrets_old_keys.get_secret_value())]

    def privilege_for(self, action: str) -> Privilege:
        return {
            "put": self.privilege_put,
            "get": self.privilege_get,
            "delete": self.privilege_delete,
            "infer": self.privilege_infer,
        }[action]


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def decode_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secrets key must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ValueError(f"secrets key must be base64 of 32 random bytes, got {len(key)} bytes")
    return key


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value becomes one ConfigurationError line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"]) if error["loc"] else ""
            name = f"SIDECAR_{field.upper()}: " if field else ""
            problems.append(f"{name}{error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
