import asyncio
import io
import json

import structlog

from sidecar.observability.logging import REDACTED, configure_logging, get_logger, log_request


def test_secrets_are_redacted_from_every_line() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    log = get_logger("test")
    log.info(
        "calling",
        api_key="sk-abcdefghijklmnop",
        headers={"Authorization": "Bearer tok123", "Accept": "application/json"},
        detail="sent Authorization: ApiKey dGVzdDp0ZXN0 and sk-abcdefghijklmnop",
        password="hunter2",
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["api_key"] == REDACTED
    assert line["password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert "dGVzdDp0ZXN0" not in line["detail"] and "sk-abcdefghijklmnop" not in line["detail"]
    assert line["event"] == "calling" and line["level"] == "info"


def test_console_format_and_level_filter() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "console", stream)
    get_logger("test").info("hidden")
    get_logger("test").warning("shown", token="abc")
    output = stream.getvalue()
    assert "hidden" not in output and "shown" in output and "abc" not in output


def test_redaction_is_case_insensitive_and_leaves_plain_values_alone() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    get_logger("test").info(
        "request",
        upper="BEARER abc.def and BASIC dXNlcjpwYXNz",
        lower="apikey c2VjcmV0 then hf_abcdefghij",
        route="/_inference/{task_type}/{model_id}",
        status=200,
        duration_ms=1.5,
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["upper"] == "BEARER [REDACTED] and BASIC [REDACTED]"
    assert line["lower"] == "apikey [REDACTED] then [REDACTED]"
    assert (line["route"], line["status"], line["duration_ms"]) == ("/_inference/{task_type}/{model_id}", 200, 1.5)


def test_credentials_in_non_ascii_text_are_redacted_too() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    # "\u0131" (dotless i) matches "i" case-insensitively: "Bas\u0131c" is caught as the regex would catch it.
    get_logger("test").info("x", accented="clé: Bearer abc.def", dotless="Bas\u0131c dXNlcjpwYXNz", plain="café")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["accented"] == f"clé: Bearer {REDACTED}"
    assert line["dotless"] == f"Bas\u0131c {REDACTED}"
    assert line["plain"] == "café"


def test_the_request_line_is_what_the_pipeline_would_write() -> None:
    fields = {"method": "POST", "route": "/_inference/{model_id}", "model_id": "sk-abcdefghijkl", "status": 200}
    for log_format in ("json", "console"):
        stream = io.StringIO()
        configure_logging("INFO", log_format, stream)
        structlog.contextvars.bind_contextvars(request_id="Bearer abc.def")
        get_logger("sidecar.request").info("request", **fields)
        log_request(fields, "Bearer abc.def")
        structlog.contextvars.clear_contextvars()
        by_pipeline, fast = stream.getvalue().splitlines()
        if log_format == "json":
            by_pipeline_event, fast_event = json.loads(by_pipeline), json.loads(fast)
            assert by_pipeline_event.pop("timestamp")[:10] == fast_event.pop("timestamp")[:10]
            assert list(by_pipeline_event.items()) == list(fast_event.items())
            assert fast_event["model_id"] == REDACTED and fast_event["request_id"] == f"Bearer {REDACTED}"
        else:
            assert by_pipeline[27:] == fast[27:]


def test_no_request_line_above_info() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream)
    log_request({"method": "GET", "status": 200}, "id-1")
    assert stream.getvalue() == ""


def test_remembered_clean_values_are_bounded_and_never_hold_a_credential() -> None:
    from sidecar.observability import logging as sidecar_logging

    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    for n in range(5000):
        log_request({"note": "Bearer abc.def"}, f"id-{n}")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 5000 and {line["note"] for line in lines} == {f"Bearer {REDACTED}"}
    assert len(sidecar_logging._CLEAN_TEXTS) <= sidecar_logging._MAX_CLEAN_TEXTS
    assert not any("Bearer" in text for text in sidecar_logging._CLEAN_TEXTS)


async def test_request_lines_of_one_loop_turn_are_flushed_once() -> None:
    class CountingStream(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    stream = CountingStream()
    configure_logging("INFO", "json", stream)
    for n in range(10):
        log_request({"status": 200}, f"id-{n}")
    assert stream.flushes == 0
    await asyncio.sleep(0)
    assert stream.flushes == 1
    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == [f"id-{n}" for n in range(10)]
