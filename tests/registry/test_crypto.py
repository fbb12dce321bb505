import os

import pytest

from sidecar.registry.crypto import SecretBox, SecretsDecryptionError


def test_round_trip_and_no_plaintext() -> None:
    box = SecretBox(os.urandom(32))
    document = box.encrypt("my-model", {"api_key": "sk-very-secret"})
    assert "sk-very-secret" not in str(document)
    assert box.decrypt("my-model", document) == {"api_key": "sk-very-secret"}


def test_ciphertext_is_bound_to_the_model_id() -> None:
    box = SecretBox(os.urandom(32))
    document = box.encrypt("a", {"api_key": "k"})
    with pytest.raises(SecretsDecryptionError):
        box.decrypt("b", document)


def test_rotation_reads_old_keys_and_writes_the_new_one() -> None:
    old, new = os.urandom(32), os.urandom(32)
    stored = SecretBox(old).encrypt("m", {"api_key": "k"})
    rotated = SecretBox(new, [old])
    assert rotated.decrypt("m", stored) == {"api_key": "k"}
    assert rotated.encrypt("m", {"api_key": "k"})["key_id"] == rotated.current_key_id != stored["key_id"]
    with pytest.raises(SecretsDecryptionError):
        SecretBox(new).decrypt("m", stored)
