"""`?pretty` laid out as Elasticsearch's Jackson pretty printer lays it out, token for token."""

from __future__ import annotations

import orjson

from sidecar.api.pretty import pretty_json


def test_objects_arrays_and_empties() -> None:
    body = {"license": {"status": "active", "max_nodes": 1000, "meta": {}, "tags": []}, "ids": [1, {"k": [2.5]}]}
    assert pretty_json(orjson.dumps(body)).decode() == (
        "{\n"
        '  "license" : {\n'
        '    "status" : "active",\n'
        '    "max_nodes" : 1000,\n'
        '    "meta" : { },\n'
        '    "tags" : [ ]\n'
        "  },\n"
        '  "ids" : [\n'
        "    1,\n"
        "    {\n"
        '      "k" : [\n'
        "        2.5\n"
        "      ]\n"
        "    }\n"
        "  ]\n"
        "}\n"
    )


def test_strings_keep_their_punctuation_and_escapes() -> None:
    body = {"reason": 'a, b: {c} [d] "e" \\ f', "": ""}
    assert pretty_json(orjson.dumps(body)).decode() == (
        '{\n  "reason" : "a, b: {c} [d] \\"e\\" \\\\ f",\n  "" : ""\n}\n'
    )


def test_a_vector_passed_through_as_provider_text_keeps_its_digits() -> None:
    vector = orjson.Fragment(b"[0.5,-1e-05,2]")
    assert pretty_json(orjson.dumps({"embedding": vector})) == b'{\n  "embedding" : [\n    0.5,\n    -1e-05,\n    2\n  ]\n}\n'
