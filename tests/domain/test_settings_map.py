from typing import Any

import pytest

from sidecar.domain.errors import ElasticsearchError
from sidecar.domain.settings_map import (
    Validation,
    check_url,
    extract_required_string,
    extract_similarity,
    java_repr,
    remove_as_type,
    remove_map_or_throw,
    throw_if_not_empty,
)


def body_of(exc: pytest.ExceptionInfo[ElasticsearchError]) -> dict[str, Any]:
    return exc.value.body()


def test_java_map_rendering_matches_es() -> None:
    assert java_repr({"foo": "bar", "n": 1, "nested": {"a": [1, "b"]}, "flag": True, "nil": None}) == (
        "{foo=bar, n=1, nested={a=[1, b]}, flag=true, nil=null}"
    )


def test_unknown_settings_message() -> None:
    with pytest.raises(ElasticsearchError) as exc:
        throw_if_not_empty({"foo": "bar"}, "elser")
    reason = "Model configuration contains settings [{foo=bar}] unknown to the [elser] service"
    assert body_of(exc) == {
        "error": {"root_cause": [{"type": "status_exception", "reason": reason}], "type": "status_exception",
                  "reason": reason},
        "status": 400,
    }


def test_wrong_type_is_a_status_exception() -> None:
    with pytest.raises(ElasticsearchError) as exc:
        remove_as_type({"num_allocations": "abc"}, "num_allocations", int)
    assert exc.value.status == 400
    assert exc.value.reason == (
        "field [num_allocations] is not of the expected type. The value [abc] cannot be converted to a [Integer]"
    )


@pytest.mark.parametrize("value", [True, 1.5, 2**31])
def test_integers_must_be_java_ints(value: object) -> None:
    with pytest.raises(ElasticsearchError):
        remove_as_type({"n": value}, "n", int)


def test_missing_map() -> None:
    with pytest.raises(ElasticsearchError) as exc:
        remove_map_or_throw({}, "service_settings")
    assert (exc.value.status, exc.value.error_type, exc.value.reason) == (
        400, "status_exception", "Missing required field [service_settings]"
    )


def test_validation_collects_messages_in_order() -> None:
    validation = Validation()
    settings: dict[str, Any] = {"model": "", "similarity": "foo"}
    extract_required_string(settings, "url", "service_settings", validation)
    extract_required_string(settings, "model", "task_settings", validation)
    extract_similarity(settings, "service_settings", validation)
    with pytest.raises(ElasticsearchError) as exc:
        validation.raise_if_any()
    assert exc.value.error_type == "validation_exception"
    assert exc.value.reason == (
        "Validation Failed: 1: [service_settings] does not contain the required setting [url];"
        "2: [task_settings] Invalid value empty string. [model] must be a non-empty string;"
        "3: [service_settings] Invalid value [foo] received. [similarity] must be one of [cosine, dot_product, l2_norm];"
    )


@pytest.mark.parametrize("url", ["not a url", "ftp://x", "http://", "http://host:99999"])
def test_bad_urls_are_reported(url: str) -> None:
    validation = Validation()
    assert check_url(url, "url", "service_settings", validation) is None
    assert validation.messages[0].startswith(
        f"[service_settings] Invalid url [{url}] received for field [url]. Error: unable to parse url [{url}]. Reason: "
    )


def test_good_url_passes() -> None:
    validation = Validation()
    assert check_url("https://api.openai.com/v1/embeddings", "url", "service_settings", validation)
    assert validation.messages == []
