import base64
import os

import pytest

from sidecar.settings import ConfigurationError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SIDECAR_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.es_hosts == ["http://localhost:9200"]
    assert (settings.host, settings.port, settings.index_prefix) == ("0.0.0.0", 9280, ".sidecar-inference")
    assert settings.secrets_key is None and settings.api_compat == "8.12"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("SIDECAR_ES_URL", "https://a:9200, https://b:9200")
    monkeypatch.setenv("SIDECAR_SECRETS_KEY", key)
    monkeypatch.setenv("SIDECAR_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.es_hosts == ["https://a:9200", "https://b:9200"]
    assert settings.secrets_key_bytes() == base64.b64decode(key)
    assert settings.log_level == "DEBUG"
    assert key not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SIDECAR_PORT", "http", "invalid configuration: SIDECAR_PORT: "),
        ("SIDECAR_SECRETS_KEY", "c2hvcnQ=", "SIDECAR_SECRETS_KEY: Value error, secrets key must be base64 of 32 random"),
        ("SIDECAR_LOG_FORMAT", "xml", "SIDECAR_LOG_FORMAT: "),
    ],
)
def test_bad_values_give_one_clear_line(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as exc:
        load_settings()
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    if variable == "SIDECAR_SECRETS_KEY":
        assert value not in str(exc.value)


@pytest.mark.parametrize("prefix", [".inference-sidecar", ".secrets-inference-x", "Upper", "a b", "x*"])
def test_index_prefix_must_be_ours_and_valid(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    monkeypatch.setenv("SIDECAR_INDEX_PREFIX", prefix)
    with pytest.raises(ConfigurationError) as exc:
        load_settings()
    assert "SIDECAR_INDEX_PREFIX: Value error, the prefix must" in str(exc.value)


def test_every_setting_is_documented_in_the_readme() -> None:
    from pathlib import Path

    from sidecar.settings import Settings

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`SIDECAR_{name.upper()}`" not in readme]
    assert missing == []
