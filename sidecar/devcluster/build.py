"""The version and build an ES release reports in `GET /` and `Warning` headers."""

from __future__ import annotations

import hashlib
from typing import Any

# Recorded from real releases; other versions get a stable made-up build.
KNOWN_BUILDS = {
    "8.12.2": ("48a287ab9497e852de30327444b0809e55d46466", "2024-02-19T10:04:32.774273190Z", "9.9.2"),
}
LUCENE_BY_MINOR = {
    (8, 11): "9.8.0",
    (8, 12): "9.9.2",
    (8, 13): "9.10.0",
    (8, 14): "9.10.0",
    (8, 15): "9.11.1",
    (8, 16): "9.12.0",
    (8, 17): "9.12.0",
    (8, 18): "9.12.1",
    (8, 19): "9.12.2",
    (9, 0): "10.1.0",
    (9, 1): "10.2.2",
}


def build_info(version: str) -> dict[str, Any]:
    if version in KNOWN_BUILDS:
        build_hash, build_date, lucene = KNOWN_BUILDS[version]
    else:
        parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
        key = (parts[0], parts[1]) if len(parts) == 2 else (8, 12)
        build_hash = hashlib.sha1(version.encode()).hexdigest()
        build_date = "2024-06-01T00:00:00.000000000Z"
        lucene = LUCENE_BY_MINOR.get(key, "9.12.0")
    major = int(version.split(".")[0])
    return {
        "number": version,
        "build_flavor": "default",
        "build_type": "tar",
        "build_hash": build_hash,
        "build_date": build_date,
        "build_snapshot": False,
        "lucene_version": lucene,
        "minimum_wire_compatibility_version": "7.17.0" if major == 8 else f"{major - 1}.18.0",
        "minimum_index_compatibility_version": "7.0.0" if major == 8 else f"{major - 1}.0.0",
    }
