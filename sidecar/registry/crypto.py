"""Encryption of provider secrets at rest: AES-256-GCM, bound to the model id, with a key id for rotation."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SecretsDecryptionError(Exception):
    """The stored secrets cannot be decrypted with any configured key."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"inference-sidecar-key-id:" + key).hexdigest()[:16]


class SecretBox:
    def __init__(self, current_key: bytes, old_keys: list[bytes] | None = None) -> None:
        self.current_key_id = key_id(current_key)
        self._keys = {key_id(k): AESGCM(k) for k in [*(old_keys or []), current_key]}

    def encrypt(self, model_id: str, secrets: dict[str, Any]) -> dict[str, str]:
        nonce = os.urandom(12)
        ciphertext = self._keys[self.current_key_id].encrypt(nonce, orjson.dumps(secrets), model_id.encode())
        return {
            "key_id": self.current_key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }

    def decrypt(self, model_id: str, document: dict[str, Any]) -> dict[str, Any]:
        aes = self._keys.get(str(document.get("key_id")))
        if aes is None:
            raise SecretsDecryptionError(f"no configured key has id [{document.get('key_id')}]")
        try:
            plaintext = aes.decrypt(
                base64.b64decode(document["nonce"]), base64.b64decode(document["ciphertext"]), model_id.encode()
            )
        except (InvalidTag, KeyError, ValueError):
            raise SecretsDecryptionError("the stored secrets do not decrypt with the configured key") from None
        secrets: dict[str, Any] = orjson.loads(plaintext)
        return secrets
