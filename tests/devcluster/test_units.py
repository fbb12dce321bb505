"""The stand-in's pure pieces: ELSER stand-in determinism, Java float rounding, platform names,
ES's grantor ordering, byte-size rendering, parameter suggestions and router precedence."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.devcluster.elser import MAX_TOKENS, expand, java_float
from sidecar.devcluster.errors import did_you_mean
from sidecar.devcluster.ml_deployments import human_bytes, parse_byte_size
from sidecar.devcluster.nodes import platform_name
from sidecar.devcluster.privileges import cluster_catalog, index_catalog
from sidecar.devcluster.routing import Router, route
from sidecar.domain.errors import FlatError


def test_expansion_is_deterministic_and_sorted() -> None:
    expansion = expand("Football stadium!")
    assert expansion.tokens == {
        "stadium": 2.1674478,
        "football": 1.094046,
        "stad": 1.0837239,
        "foot": 0.547023,
        "query": 0.4586032,
        "food": 0.4118319,
    }
    assert expansion.is_truncated is False
    assert expand("Football stadium!") == expansion
    assert expand("").tokens == {}


def test_truncation_after_512_whitespace_tokens() -> None:
    assert expand(" ".join(["a"] * MAX_TOKENS)).is_truncated is False
    cut = expand(" ".join(["a"] * MAX_TOKENS + ["zebra"]))
    assert cut.is_truncated is True
    assert "zebra" not in cut.tokens


@pytest.mark.parametrize(
    ("value", "printed"), [(1.61899852752685546875, 1.6189985), (0.1, 0.1), (2 / 3, 0.6666667), (1.0, 1.0)]
)
def test_java_float(value: float, printed: float) -> None:
    assert java_float(value) == printed


@pytest.mark.parametrize(
    ("os_name", "arch", "platform"),
    [
        ("Linux", "amd64", "linux-x86_64"),
        ("Linux", "aarch64", "linux-aarch64"),
        ("Mac OS X", "aarch64", "darwin-aarch64"),
        ("Windows Server 2019", "amd64", "windows-x86_64"),
        ("Linux", "i386", "linux-x86"),
    ],
)
def test_platform_name(os_name: str, arch: str, platform: str) -> None:
    assert platform_name(os_name, arch) == platform


@pytest.mark.parametrize(
    ("version", "action", "grantors"),
    [
        ((8, 12), "cluster:admin/xpack/ml/trained_models/deployment/start", ["manage_ml", "manage", "all"]),
        ((8, 12), "cluster:admin/xpack/inference/put", ["manage", "all"]),
        ((8, 12), "cluster:monitor/main", ["monitor", "manage", "all"]),
        ((8, 14), "cluster:admin/xpack/inference/put", ["manage_inference", "manage", "all"]),
        (
            (8, 14),
            "cluster:monitor/xpack/inference",
            ["monitor_inference", "manage_inference", "monitor", "manage", "all"],
        ),
    ],
)
def test_cluster_grantors_in_es_order(version: tuple[int, int], action: str, grantors: list[str]) -> None:
    assert cluster_catalog(version).grantors(action) == grantors


@pytest.mark.parametrize(
    ("action", "grantors"),
    [
        ("indices:data/write/bulk[s]", ["create_doc", "create", "delete", "index", "write", "all"]),
        ("indices:admin/create", ["create_index", "manage", "all"]),
        ("indices:data/read/search", ["read", "all"]),
        ("indices:admin/refresh", ["maintenance", "manage", "all"]),
        ("indices:data/write/delete/byquery", ["delete", "write", "all"]),
    ],
)
def test_index_grantors_in_es_order(action: str, grantors: list[str]) -> None:
    assert index_catalog((8, 12)).grantors(action) == grantors


def test_privilege_hierarchy() -> None:
    catalog = cluster_catalog((8, 12))
    manage, monitor, manage_ml = (catalog.by_name[n] for n in ("manage", "monitor", "manage_ml"))
    assert (
        catalog.holds(["all"], manage) and catalog.holds(["manage"], monitor) and catalog.holds(["manage"], manage_ml)
    )
    assert catalog.holds(["manage_ml"], catalog.by_name["monitor_ml"])
    assert not catalog.holds(["manage"], catalog.by_name["all"])
    assert not catalog.holds(["manage"], catalog.by_name["manage_security"])
    assert catalog.resolve("manage_inference") is None
    assert cluster_catalog((8, 14)).resolve("manage_inference") is not None


@pytest.mark.parametrize(("size", "text"), [(438123914, "417.8mb"), (274756282, "262mb"), (10240, "10kb"), (5, "5b")])
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_parse_byte_size() -> None:
    assert parse_byte_size("10kb") == 10240
    assert parse_byte_size("0") == 0


def test_did_you_mean() -> None:
    assert did_you_mean("sizee", {"size", "from", "sort"}) == ["size"]
    assert did_you_mean("zzz", {"size"}) == []


async def _handler(_: Any) -> Any:
    return None


def test_router_prefers_literal_segments_and_reports_methods() -> None:
    literal = route("GET", "/_ml/trained_models/_stats", _handler)
    param = route(("GET", "PUT"), "/_ml/trained_models/{model_id}", _handler)
    router = Router([param, literal])
    assert router.resolve("GET", "/_ml/trained_models/_stats", "")[0] is literal
    assert router.resolve("PUT", "/_ml/trained_models/_stats", "")[0] is param
    assert router.resolve("GET", "/_ml/trained_models/x/", "")[1] == {"model_id": "x"}
    with pytest.raises(FlatError) as wrong:
        router.resolve("DELETE", "/_ml/trained_models/x", "/_ml/trained_models/x")
    assert (wrong.value.status, wrong.value.headers) == (405, {"Allow": "GET,PUT"})
    with pytest.raises(FlatError) as unknown:
        router.resolve("GET", "/nothing/here/at/all", "/nothing/here/at/all?x=1")
    assert unknown.value.flat_body == {"error": "no handler found for uri [/nothing/here/at/all?x=1] and method [GET]"}
