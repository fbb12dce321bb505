"""A bounded LRU of results, keyed by model, configuration fingerprint and the hash of one input text."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from sidecar.domain.results import Embedding, SparseEmbedding

# What CPython really holds, measured with sys.getsizeof: the key tuple, digest, OrderedDict link and result
# object per entry; a bytes header besides the characters of a vector's JSON text; a str header, a float object
# and a dict slot per sparse token, besides the token's characters.
ENTRY_OVERHEAD = 160
BYTES_HEADER = 33
SPARSE_ENTRY_BYTES = 106

CacheKey = tuple[str, str, bytes]


def estimate_bytes(result: Embedding) -> int:
    if isinstance(result, SparseEmbedding):
        return ENTRY_OVERHEAD + sum(len(token) + SPARSE_ENTRY_BYTES for token in result.embedding)
    return ENTRY_OVERHEAD + BYTES_HEADER + len(result.json)


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class ResultCache:
    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[CacheKey, tuple[Embedding, int]] = OrderedDict()
        self._by_model: dict[str, set[CacheKey]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model_id: str, fingerprint: str, text: str) -> Embedding | None:
        key = (model_id, fingerprint, text_digest(text))
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, model_id: str, fingerprint: str, text: str, result: Embedding) -> None:
        size = estimate_bytes(result)
        if size > self.max_bytes or self.max_entries <= 0:
            return
        key = (model_id, fingerprint, text_digest(text))
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (result, size)
        self.bytes += size
        self._by_model.setdefault(model_id, set()).add(key)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._evict_oldest()

    def forget(self, model_id: str) -> None:
        for key in self._by_model.pop(model_id, ()):
            _, size = self._entries.pop(key)
            self.bytes -= size

    def clear(self) -> None:
        self._entries.clear()
        self._by_model.clear()
        self.bytes = 0

    def _evict_oldest(self) -> None:
        key, (_, size) = self._entries.popitem(last=False)
        self.bytes -= size
        keys = self._by_model[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_model[key[0]]
