"""What one benchmark run measured, and the targets it is held to."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.wrk import WrkResult


@dataclass(frozen=True)
class DirectVsSidecar:
    """Scenario 1: the same traffic straight to the mock provider and through the sidecar (result cache off)."""

    inputs: int
    latency_ms: float
    connections: int
    direct: WrkResult
    sidecar: WrkResult
    sidecar_calls: int = 0  # provider calls the sidecar made during its measured run (the mock's counter)
    paced_rps: float | None = None  # the load offered to both paths (requests/s); None: as fast as answered

    @property
    def key(self) -> tuple[int, float, int, bool]:
        """(inputs per request, provider latency, connections, paced)"""
        return self.inputs, self.latency_ms, self.connections, self.paced_rps is not None

    @property
    def ratio(self) -> float:
        return self.sidecar.rps / self.direct.rps if self.direct.rps else 0.0

    @property
    def p50_added_ms(self) -> float:
        return self.sidecar.p50_ms - self.direct.p50_ms


@dataclass(frozen=True)
class Merging:
    """Scenario 2: many single-input clients; provider calls counted by the mock."""

    connections: int
    latency_ms: float
    direct: WrkResult
    sidecar: WrkResult
    direct_calls: int
    sidecar_calls: int

    @property
    def merge_factor(self) -> float:
        return self.sidecar.ok_requests / self.sidecar_calls if self.sidecar_calls else 0.0


@dataclass(frozen=True)
class RateLimited:
    """Scenario 3: the provider takes `provider_rps` requests/s; inputs embedded per second."""

    connections: int
    latency_ms: float
    provider_rps: float
    sidecar_rpm: float  # the model's rate_limit.requests_per_minute in the sidecar
    direct: WrkResult
    sidecar: WrkResult
    direct_mock_inputs: int  # inputs the mock accepted (not 429) during the measured run
    sidecar_mock_inputs: int
    sidecar_calls: int
    sidecar_retries: int

    @property
    def direct_inputs_per_s(self) -> float:
        return self.direct.ok_rps  # one input per request

    @property
    def sidecar_inputs_per_s(self) -> float:
        return self.sidecar.ok_rps

    @property
    def gain(self) -> float:
        return self.sidecar_inputs_per_s / self.direct_inputs_per_s if self.direct_inputs_per_s else 0.0


@dataclass(frozen=True)
class Cached:
    """Scenario 4: scenario 1's single-input traffic again, result cache on."""

    baseline: WrkResult | None  # cache off (scenario 1, same traffic); None when scenario 1 did not run
    cached: WrkResult
    hits: int
    misses: int
    provider_calls: int

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def gain(self) -> float | None:
        return self.cached.rps / self.baseline.rps if self.baseline is not None and self.baseline.rps else None


@dataclass
class Footprint:
    """Scenario 5: memory and start-up of the sidecar process."""

    ready_seconds: list[tuple[str, float]] = field(default_factory=list)
    rss_ready_mib: float | None = None  # just after ready
    rss_idle_mib: float | None = None  # models created, one request served, no load
    rss_load_mib: float | None = None  # highest VmRSS sampled under load, result cache off
    rss_cache_mib: float | None = None  # highest VmRSS sampled under load, result cache on
    hwm_mib: float | None = None  # VmHWM of the cache-off sidecar at the end
    rss_after_mib: float | None = None  # the cache-off sidecar, one second after its last load


# Keys of scenario 1's rows (`DirectVsSidecar.key`).
ONE_INPUT = (1, 0.0, 32, False)
ONE_INPUT_PACED = (1, 0.0, 32, True)
ONE_INPUT_ONE_CONNECTION = (1, 0.0, 1, False)
SIXTEEN_INPUTS = (16, 0.0, 32, False)


@dataclass
class Results:
    direct_vs_sidecar: list[DirectVsSidecar] = field(default_factory=list)
    merging: Merging | None = None
    rate_limited: RateLimited | None = None
    cached: Cached | None = None
    footprint: Footprint = field(default_factory=Footprint)

    def row(self, key: tuple[int, float, int, bool]) -> DirectVsSidecar | None:
        return next((row for row in self.direct_vs_sidecar if row.key == key), None)


@dataclass(frozen=True)
class SaturatedBudget:
    """What p50 within 2 ms of direct at 32 saturated connections asks of the sidecar, against the cheapest request
    it serves: one answered from the result cache, with no provider call at all (scenario 4)."""

    connections: int
    direct_p50_ms: float
    cache_hit: WrkResult

    @property
    def required_rps(self) -> float:
        """Closed loop (Little's law): p50 = connections / throughput."""
        return self.connections / ((self.direct_p50_ms + 2.0) / 1000)

    @property
    def cpu_us_per_request(self) -> float:
        """The CPU a request may cost at that throughput with the sidecar's one core fully busy."""
        return 1e6 / self.required_rps


def saturated_budget(results: Results) -> SaturatedBudget | None:
    one, cached = results.row(ONE_INPUT), results.cached
    if one is None or cached is None:
        return None
    return SaturatedBudget(one.connections, one.direct.p50_ms, cached.cached)


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run


def _p50_added(name: str, row: DirectVsSidecar | None) -> Target:
    if row is None:
        return Target(name, "<= 2 ms", "not run", None)
    return Target(name, "<= 2 ms", f"{row.p50_added_ms:+.2f} ms", row.p50_added_ms <= 2.0)


def _throughput(name: str, minimum: float, row: DirectVsSidecar | None) -> Target:
    goal = f">= {minimum:.0%}".replace("%", " %")
    if row is None:
        return Target(name, goal, "not run", None)
    return Target(name, goal, f"{row.ratio:.0%}", row.ratio >= minimum)


def targets(results: Results) -> list[Target]:
    out: list[Target] = []
    one = results.row(ONE_INPUT)
    out.append(_throughput("1 input: sidecar / direct throughput", 0.5, one))
    out.append(_p50_added("1 input: p50 added, one connection (no queueing)", results.row(ONE_INPUT_ONE_CONNECTION)))
    paced = results.row(ONE_INPUT_PACED)
    out.append(_p50_added("1 input: p50 added, 32 connections paced at half the direct throughput", paced))
    out.append(_p50_added("1 input: p50 added, 32 connections as fast as answered (saturated)", one))
    out.append(_throughput("16 inputs: sidecar / direct throughput", 0.4, results.row(SIXTEEN_INPUTS)))
    merging = results.merging
    if merging is not None:
        out.append(
            Target(
                "merging: client requests / provider calls",
                ">= 8x",
                f"{merging.merge_factor:.1f}x",
                merging.merge_factor >= 8.0,
            )
        )
        added = merging.sidecar.p50_ms - merging.direct.p50_ms
        out.append(Target("merging: p50 vs direct", "within 5 ms", f"{added:+.2f} ms", added <= 5.0))
    else:
        out.append(Target("merging: client requests / provider calls", ">= 8x", "not run", None))
        out.append(Target("merging: p50 vs direct", "within 5 ms", "not run", None))
    limited = results.rate_limited
    if limited is not None:
        out.append(
            Target(
                "rate-limited provider: inputs/s sidecar / direct",
                ">= 10x",
                f"{limited.gain:.1f}x",
                limited.gain >= 10.0,
            )
        )
    else:
        out.append(Target("rate-limited provider: inputs/s sidecar / direct", ">= 10x", "not run", None))
    footprint = results.footprint
    idle = footprint.rss_idle_mib
    out.append(
        Target(
            "idle RSS",
            "<= 80 MB",
            "not measured" if idle is None else f"{idle:.1f} MiB",
            None if idle is None else idle <= 80.0,
        )
    )
    slowest = max((seconds for _, seconds in footprint.ready_seconds), default=None)
    out.append(
        Target(
            "process start to ready",
            "<= 1.5 s",
            "not measured" if slowest is None else f"{slowest:.2f} s (slowest of {len(footprint.ready_seconds)})",
            None if slowest is None else slowest <= 1.5,
        )
    )
    return out
