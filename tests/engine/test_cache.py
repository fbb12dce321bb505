from __future__ import annotations

from sidecar.domain.results import SparseEmbedding, TextEmbedding
from sidecar.engine.cache import ENTRY_OVERHEAD, ResultCache, estimate_bytes

from .fakes import FakeService, make_engine, make_model, sample, vectors


async def test_only_misses_go_to_the_provider_and_results_keep_their_order() -> None:
    engine, metrics = make_engine()
    service = FakeService()
    model = make_model()

    assert await engine.infer(service, model, ["a", "b"]) == vectors(["a", "b"])
    assert await engine.infer(service, model, ["a", "c", "b"]) == vectors(["a", "c", "b"])

    assert service.calls == [["a", "b"], ["c"]]
    assert sample(metrics, "sidecar_inference_cache_lookups_total", result="hit") == 2
    assert sample(metrics, "sidecar_inference_cache_lookups_total", result="miss") == 3


async def test_a_fully_cached_request_makes_no_call() -> None:
    engine, _ = make_engine()
    service = FakeService()
    model = make_model()
    await engine.infer(service, model, ["a", "b"])

    assert await engine.infer(service, model, ["b", "a", "b"]) == vectors(["b", "a", "b"])
    assert len(service.calls) == 1


async def test_a_changed_configuration_misses() -> None:
    engine, _ = make_engine()
    service = FakeService()
    await engine.infer(service, make_model(dimensions=10), ["a"])
    await engine.infer(service, make_model(dimensions=20), ["a"])
    assert service.calls == [["a"], ["a"]]


async def test_forget_drops_the_models_entries_only() -> None:
    engine, _ = make_engine()
    service = FakeService()
    first, second = make_model("first"), make_model("second")
    await engine.infer(service, first, ["a"])
    await engine.infer(service, second, ["a"])

    engine.forget("first")
    await engine.infer(service, first, ["a"])
    await engine.infer(service, second, ["a"])

    assert service.calls == [["a"], ["a"], ["a"]]


async def test_disabled_cache_always_calls() -> None:
    engine, metrics = make_engine(cache_enabled=False)
    service = FakeService()
    model = make_model()
    await engine.infer(service, model, ["a"])
    await engine.infer(service, model, ["a"])
    assert service.calls == [["a"], ["a"]]
    assert sample(metrics, "sidecar_inference_cache_lookups_total", result="miss") == 0


async def test_entry_bound_evicts_the_least_recently_used() -> None:
    engine, _ = make_engine(cache_max_entries=2)
    service = FakeService()
    model = make_model()
    await engine.infer(service, model, ["a"])
    await engine.infer(service, model, ["b"])
    await engine.infer(service, model, ["a"])  # hit: "a" is now the most recent
    await engine.infer(service, model, ["c"])  # evicts "b"

    await engine.infer(service, model, ["a", "b"])

    assert service.calls == [["a"], ["b"], ["c"], ["b"]]


def test_size_estimates() -> None:
    assert estimate_bytes(TextEmbedding([0.0] * 10)) == ENTRY_OVERHEAD + 33 + len(b"[0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0]")
    assert estimate_bytes(SparseEmbedding({"ab": 1.0, "cde": 2.0})) == ENTRY_OVERHEAD + (2 + 106) + (3 + 106)


def test_size_estimates_follow_what_python_holds() -> None:
    import sys

    vector = TextEmbedding([i / 7 for i in range(1536)])
    assert estimate_bytes(vector) - ENTRY_OVERHEAD == sys.getsizeof(vector.json)
    tokens = {f"token{i}": i / 7 for i in range(200)}
    held = sys.getsizeof(tokens) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in tokens.items())
    assert 0.8 * held <= estimate_bytes(SparseEmbedding(tokens)) - ENTRY_OVERHEAD <= 1.2 * held


def test_byte_bound_evicts_oldest() -> None:
    one = ENTRY_OVERHEAD + 33 + len(b"[1.0,2.0,3.0,4.0]")
    cache = ResultCache(max_entries=100, max_bytes=2 * one)
    vector = TextEmbedding([1.0, 2.0, 3.0, 4.0])
    cache.put("m", "f", "a", vector)
    cache.put("m", "f", "b", vector)
    assert cache.bytes == 2 * one

    cache.put("m", "f", "c", vector)

    assert cache.get("m", "f", "a") is None
    assert cache.get("m", "f", "b") == vector
    assert cache.get("m", "f", "c") == vector
    assert (len(cache), cache.bytes) == (2, 2 * one)


def test_an_entry_larger_than_the_bound_is_not_kept() -> None:
    cache = ResultCache(max_entries=100, max_bytes=100)
    cache.put("m", "f", "a", TextEmbedding([0.0] * 100))
    assert len(cache) == 0
    assert cache.bytes == 0


def test_replacing_an_entry_keeps_the_byte_count() -> None:
    cache = ResultCache(max_entries=10, max_bytes=10_000)
    cache.put("m", "f", "a", TextEmbedding([1.0]))
    cache.put("m", "f", "a", TextEmbedding([1.0, 2.0]))
    assert cache.bytes == ENTRY_OVERHEAD + 33 + len(b"[1.0,2.0]")
    cache.forget("m")
    assert (len(cache), cache.bytes) == (0, 0)
