from sidecar.domain.errors import ElasticsearchError, ProviderError, no_handler, validation_exception, wrong_method


def test_envelope_with_metadata_and_headers() -> None:
    error = ElasticsearchError(
        401, "security_exception", "missing", metadata={"license.expired.feature": "ml"}, headers={"X": ["a"]}
    )
    own = {"type": "security_exception", "reason": "missing", "license.expired.feature": "ml", "header": {"X": ["a"]}}
    assert error.body() == {"error": {"root_cause": [own], **own}, "status": 401}


def test_es_body_round_trips_unchanged() -> None:
    body = {
        "error": {
            "root_cause": [{"type": "status_exception", "reason": "no capacity"}],
            "type": "status_exception",
            "reason": "no capacity",
            "caused_by": {"type": "illegal_state_exception", "reason": "no nodes"},
        },
        "status": 429,
    }
    assert ElasticsearchError.from_body(429, body).body() == body


def test_flat_body_passes_through() -> None:
    body = {"error": "no handler found for uri [/x] and method [GET]"}
    assert ElasticsearchError.from_body(400, body).body() == body


def test_validation_reason_numbering() -> None:
    assert validation_exception(["a", "b"]).reason == "Validation Failed: 1: a;2: b;"


def test_router_errors() -> None:
    assert no_handler("/x?y=1", "GET").flat_body == {"error": "no handler found for uri [/x?y=1] and method [GET]"}
    error = wrong_method("/_inference/a/b", "PATCH", ["DELETE", "GET", "POST", "PUT"])
    assert error.status == 405
    assert error.flat_body == {
        "error": "Incorrect HTTP method for uri [/_inference/a/b] and method [PATCH], allowed: [DELETE, GET, POST, PUT]",
        "status": 405,
    }
    assert error.headers == {"Allow": "DELETE,GET,POST,PUT"}


def test_provider_error_status_mapping() -> None:
    unauthorized = ProviderError("Received an authentication error status code", status=401, upstream_message="bad")
    assert unauthorized.to_es_error("m").body()["status"] == 401
    assert unauthorized.to_es_error("m").reason == (
        "Received an authentication error status code for request from inference entity id [m] status [401]. "
        "Error message: [bad]"
    )
    assert ProviderError("Received a server error status code", status=500).to_es_error("m").status == 400
