"""`?pretty` as Elasticsearch prints it: Jackson's `DefaultPrettyPrinter` with ES's indenters.

ES (`JsonXContentGenerator.usePrettyPrint`) indents objects and arrays alike by two spaces, one value per line,
writes `"name" : value`, an empty object or array as `{ }` / `[ ]`, and ends a pretty body with a line feed. The
compact JSON is re-laid out token by token, so numbers and strings keep exactly the text they had.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^"{}\[\],:]+')
_CLOSING = {b"{": b"}", b"[": b"]"}


def pretty_json(compact: bytes) -> bytes:
    out: list[bytes] = []
    depth = 0
    tokens = [match.group() for match in _TOKENS.finditer(compact)]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _CLOSING:
            if i + 1 < len(tokens) and tokens[i + 1] == _CLOSING[token]:
                out += (token, b" ", tokens[i + 1])
                i += 2
                continue
            depth += 1
            out += (token, b"\n", b"  " * depth)
        elif token in (b"}", b"]"):
            depth -= 1
            out += (b"\n", b"  " * depth, token)
        elif token == b",":
            out += (b",\n", b"  " * depth)
        elif token == b":":
            out.append(b" : ")
        else:
            out.append(token)
        i += 1
    out.append(b"\n")
    return b"".join(out)
