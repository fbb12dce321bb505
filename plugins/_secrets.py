"""ES `DefaultSecretSettings`: the provider key, read from `service_settings` and kept only in `Model.secrets`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from sidecar.domain.errors import illegal_state, status_exception
from sidecar.domain.settings_map import SERVICE_SETTINGS, Validation, extract_required_string

API_KEY = "api_key"
MASK = "**********"


class ApiKeySecrets(BaseModel):
    """`repr()` and `str()` show `SecretStr('**********')`, never the key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key: SecretStr

    @classmethod
    def from_request(cls, service_settings: dict[str, Any]) -> ApiKeySecrets:
        """Removes `api_key` from the request's `service_settings` map (ES reads secrets from the same map)."""
        if service_settings.get(API_KEY) is not None and not isinstance(service_settings[API_KEY], str):
            # ES quotes the rejected value here; for a key that would put the secret into the error.
            del service_settings[API_KEY]
            raise status_exception(
                f"field [{API_KEY}] is not of the expected type. The value [{MASK}] cannot be converted to a [String]"
            )
        validation = Validation()
        api_key = extract_required_string(service_settings, API_KEY, SERVICE_SETTINGS, validation)
        validation.raise_if_any()
        assert api_key is not None
        return cls(api_key=SecretStr(api_key))

    @classmethod
    def from_stored(cls, secrets: dict[str, Any], model_id: str = "") -> ApiKeySecrets:
        api_key = secrets.get(API_KEY)
        if not isinstance(api_key, str):
            # Config and secrets are stored together; a definition without its key is broken (ES ModelRegistry).
            raise illegal_state(
                f"Failed to load model, model [{model_id}] is in an invalid state. "
                "Try deleting and reinitializing the service"
            )
        return cls(api_key=SecretStr(api_key))

    def to_secrets(self) -> dict[str, Any]:
        """What `Model.secrets` holds (storage encrypts it)."""
        return {API_KEY: self.api_key.get_secret_value()}
