"""The benchmark's arithmetic: wrk's percentile rule, and slices of one load added up into one result."""

from __future__ import annotations

import pytest

from bench.wrk import MARKER, WrkResult, percentile

# Latencies in microseconds: 10 requests at 100, 80 at 200, 10 at 5000.
HISTOGRAM = ((100, 10), (200, 80), (5000, 10))


def result(histogram: tuple[tuple[int, int], ...], *, requests: int, seconds: float, **fields: object) -> WrkResult:
    return WrkResult(
        requests=requests,
        seconds=seconds,
        non_2xx=0,
        socket_errors=0,
        timeouts=0,
        p50_ms=percentile(histogram, 50) / 1000,
        p90_ms=percentile(histogram, 90) / 1000,
        p99_ms=percentile(histogram, 99) / 1000,
        max_ms=max(value for value, _ in histogram) / 1000,
        mean_ms=0.0,
        histogram=histogram,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("p", "expected"), [(0, 100), (9, 100), (10, 200), (50, 200), (89, 200), (90, 5000), (99, 5000)]
)
def test_percentile_is_wrks_rule(p: float, expected: int) -> None:
    # wrk: rank = round(p/100 * count + 0.5), halves away from zero (p90 of 100 values: rank 91); then the first
    # value whose running count reaches the rank.
    assert percentile(HISTOGRAM, p) == expected


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile((), 50) == 0


def test_parse_reads_the_histogram() -> None:
    line = (
        f'{MARKER}{{"requests":3,"duration_us":2000000,"bytes":10,"connect":0,"read":1,"write":0,"status":2,'
        '"timeout":0,"p50_us":150,"p90_us":900,"p99_us":900,"max_us":900,"mean_us":400.0,'
        '"histogram":[[150,2],[900,1]]}'
    )
    parsed = WrkResult.parse("Running 2s test\n" + line + "\n")
    assert (parsed.requests, parsed.seconds, parsed.non_2xx, parsed.socket_errors) == (3, 2.0, 2, 1)
    assert parsed.histogram == ((150, 2), (900, 1))
    assert (parsed.p50_ms, parsed.max_ms, parsed.mean_ms) == (0.15, 0.9, 0.4)


def test_combine_adds_counts_and_merges_the_histograms() -> None:
    fast = result(
        ((100, 90),), requests=90, seconds=2.0, sidecar_cpu_seconds=1.0, cpu_sidecar=0.5, cpu_probes_ms=(9.5,)
    )
    slow = result(
        ((100, 5), (3000, 5)), requests=10, seconds=2.0, sidecar_cpu_seconds=2.0, cpu_sidecar=1.0, cpu_probes_ms=(18.0,)
    )

    both = WrkResult.combine([fast, slow])

    assert (both.requests, both.seconds, both.rps) == (100, 4.0, 25.0)
    assert both.histogram == ((100, 95), (3000, 5))
    assert (both.p50_ms, both.p90_ms, both.p99_ms, both.max_ms) == (0.1, 0.1, 3.0, 3.0)
    assert both.mean_ms == pytest.approx((100 * 95 + 3000 * 5) / 100 / 1000)
    assert both.sidecar_cpu_seconds == 3.0
    assert both.cpu_us_per_request == pytest.approx(30_000.0)
    assert both.cpu_sidecar == pytest.approx(0.75)  # weighted by each slice's length
    assert both.cpu_probes_ms == (9.5, 18.0)


def test_combine_without_cpu_figures_leaves_them_unknown() -> None:
    one = result(HISTOGRAM, requests=100, seconds=1.0)
    two = result(HISTOGRAM, requests=100, seconds=1.0, sidecar_cpu_seconds=1.0)
    both = WrkResult.combine([one, two])
    assert both.sidecar_cpu_seconds is None
    assert both.cpu_sidecar is None
    assert both.p50_ms == 0.2


def test_combine_of_one_result_is_that_result() -> None:
    one = result(HISTOGRAM, requests=100, seconds=1.0)
    assert WrkResult.combine([one]) is one
