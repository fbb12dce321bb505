"""A deterministic stand-in for ELSER's text expansion.

Each lower-cased word of the input becomes a token whose weight comes from a hash of the word;
longer words also expand to their four-letter stem, and every word adds one related token from a
small vocabulary, as ELSER adds terms that are not in the text. Weights are rounded like Java
floats, tokens are sorted by descending weight. Inputs longer than 512 whitespace-separated
tokens are cut there and flagged `is_truncated`.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

MAX_TOKENS = 512
_WORD = re.compile(r"[0-9a-z]+")
RELATED_VOCABULARY = (
    "information",
    "system",
    "data",
    "search",
    "document",
    "language",
    "model",
    "query",
    "result",
    "service",
    "people",
    "place",
    "time",
    "work",
    "world",
    "music",
    "sport",
    "food",
    "science",
    "history",
)


@dataclass(frozen=True)
class Expansion:
    tokens: dict[str, float]
    is_truncated: bool


def java_float(value: float) -> float:
    """The value as a Java float prints it: rounded to 32 bits, shortest round-tripping decimal."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return float(text)
    return float(single)


def _unit(seed: str) -> float:
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 0xFFFFFFFF


def expand(text: str) -> Expansion:
    pieces = text.split()
    truncated = len(pieces) > MAX_TOKENS
    words = _WORD.findall(" ".join(pieces[:MAX_TOKENS]).lower())
    weights: dict[str, float] = {}

    def add(token: str, weight: float) -> None:
        if weight > weights.get(token, 0.0):
            weights[token] = weight

    for word in words:
        base = 0.2 + 2.3 * _unit(word)
        add(word, base)
        if len(word) > 4:
            add(word[:4], base * 0.5)
        related = RELATED_VOCABULARY[int(_unit("related:" + word) * len(RELATED_VOCABULARY)) % len(RELATED_VOCABULARY)]
        add(related, 0.1 + 0.4 * _unit("weight:" + word))
    ordered = sorted(((token, java_float(weight)) for token, weight in weights.items()), key=lambda tw: (-tw[1], tw[0]))
    return Expansion(dict(ordered), truncated)
