"""Starting the servers, creating the models and running the scenarios."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import http, profile
from bench.procs import (
    Child,
    Children,
    RssSampler,
    busy_share,
    cpu_probe_ms,
    cpu_ticks,
    free_port,
    process_cpu_seconds,
    rss_mib,
    status_kib,
    steal_share,
)
from bench.results import ONE_INPUT, Cached, DirectVsSidecar, Merging, RateLimited, Results
from bench.wrk import Load, WrkResult, run_wrk

HOST = "127.0.0.1"
API_KEY = "sk-bench"
OPENAI_MODEL = "text-embedding-3-small"
DIMENSIONS = 1536
ADMIN = http.basic("admin", "changeme")
ELASTIC = http.basic("elastic", "changeme")
SERVICE_ACCOUNT = ("sidecar", "changeme")
UNLIMITED_RPM = 100_000_000

# Scenario 3: the mock takes 50 requests/s; the model's limit in the sidecar is set a little below that, as one
# would set it below a provider's quota, so that the sidecar paces its calls instead of collecting 429s.
LIMITED_PROVIDER_RPS = 50.0
LIMITED_MODEL_RPM = 2850


@dataclass(frozen=True)
class Options:
    seconds: float = 10.0
    warmup: float = 2.0
    scenarios: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    latency_row: bool = True  # scenario 1 again with a 20 ms provider
    single_connection_row: bool = True  # scenario 1 with one connection: the added latency without queueing
    paced_row: bool = True  # 1 input, 32 connections paced at half the direct throughput: latency below saturation
    sidecar_env: Mapping[str, str] = field(default_factory=dict)
    uvloop: bool = False
    profile_dir: Path | None = None  # py-spy each measured run against the sidecar into this directory
    slices: int = 5  # scenario 1 alternates direct and sidecar runs of seconds / slices each


@dataclass(frozen=True)
class CpuPlan:
    sidecar: frozenset[int]
    load: frozenset[int]  # wrk, the mocks, the stand-in and the benchmark itself

    @classmethod
    def make(cls) -> CpuPlan:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            return cls(frozenset(allowed), frozenset(allowed))
        return cls(frozenset(allowed[:1]), frozenset(allowed[1:]))

    @property
    def shared(self) -> bool:
        return bool(self.sidecar & self.load)

    def describe(self) -> str:
        if self.shared:
            return f"everything on CPU {_cpus(self.load)} (fewer than 2 CPUs available: numbers are pessimistic)"
        others = "wrk, mock providers, stand-in and driver"
        return f"sidecar on CPU {_cpus(self.sidecar)}; {others} on CPU {_cpus(self.load)}"


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


@dataclass
class Mock:
    child: Child
    url: str  # base URL
    latency_ms: float
    rate_limit: float | None

    @property
    def embeddings_url(self) -> str:
        return self.url + "/v1/embeddings"

    def stats(self) -> tuple[int, int]:
        status, body = http.call_json("GET", self.url + "/_stats", timeout=10.0)
        if status != 200:
            raise RuntimeError(f"mock {self.child.name}: GET /_stats answered {status}")
        openai = body["providers"]["openai"]
        return int(openai["calls"]), int(openai["inputs"])


class CallCounter:
    """Provider calls a mock received since `mark()`."""

    def __init__(self, mock: Mock) -> None:
        self.mock = mock
        self.start = 0
        self.total = 0  # over every `mark()` ... `add()` span

    def mark(self) -> None:
        self.start = self.mock.stats()[0]

    def since(self) -> int:
        return self.mock.stats()[0] - self.start

    def add(self) -> None:
        self.total += self.since()


@dataclass
class Sidecar:
    child: Child
    url: str
    ready_seconds: float

    def metrics(self) -> str:
        status, raw = http.call("GET", self.url + "/_sidecar/metrics", timeout=10.0)
        if status != 200:
            raise RuntimeError(f"GET /_sidecar/metrics answered {status}")
        return raw.decode()

    def counter(self, name: str, labels: str = "") -> float:
        return http.prometheus_values(self.metrics(), name).get(labels, 0.0)

    def infer_url(self, model_id: str) -> str:
        return f"{self.url}/_inference/text_embedding/{model_id}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, options: Options, wrk: str, children: Children, cpus: CpuPlan) -> None:
        self.options = options
        self.wrk = wrk
        self.children = children
        self.cpus = cpus
        self.results = Results()
        self.python = sys.executable
        self.secrets_key = base64.b64encode(os.urandom(32)).decode()
        self.standin_url = ""
        self.mocks: dict[str, Mock] = {}
        self.sidecar: Sidecar | None = None
        self.peak_rss = 0.0  # highest VmRSS (MiB) of the current sidecar sampled during measured runs
        self.started = time.perf_counter()

    # --- the servers -------------------------------------------------------------------------------------

    def start_mock(self, name: str, latency_ms: float, rate_limit: float | None = None) -> Mock:
        port = free_port()
        argv = [
            self.python, "-m", "sidecar.testing.mock_providers", "--host", HOST, "--port", str(port),
            "--latency-ms", f"{latency_ms:g}", "--openai-dimensions", str(DIMENSIONS), "--api-key", API_KEY,
        ]  # fmt: skip
        if rate_limit is not None:
            argv += ["--rate-limit", f"{rate_limit:g}"]
        child = self.children.start(name, argv, cpus=self.cpus.load)
        mock = Mock(child, f"http://{HOST}:{port}", latency_ms, rate_limit)
        self._wait(child, mock.url + "/_stats", 20.0)
        self.mocks[name] = mock
        return mock

    def start_standin(self) -> None:
        port = free_port()
        argv = [self.python, "-m", "sidecar.devcluster", "--port", str(port)]
        child = self.children.start("standin", argv, cpus=self.cpus.load)
        self.standin_url = f"http://{HOST}:{port}"
        self._wait(child, self.standin_url + "/", 30.0, authorization=ELASTIC)

    def sidecar_argv(self) -> list[str]:
        if self.options.uvloop:  # an experiment only: the sidecar has no uvloop setting
            code = (
                "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
                "from sidecar.cli import main; sys.exit(main(['serve']))"
            )
            return [self.python, "-c", code]
        script = Path(self.python).parent / "inference-sidecar"
        if script.exists():
            return [str(script), "serve"]
        return [self.python, "-m", "sidecar", "serve"]

    def start_sidecar(self, name: str, *, cache: bool) -> Sidecar:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("SIDECAR_")}
        env.update(
            SIDECAR_HOST=HOST,
            SIDECAR_PORT=str(port),
            SIDECAR_ES_URL=self.standin_url,
            SIDECAR_ES_USERNAME=SERVICE_ACCOUNT[0],
            SIDECAR_ES_PASSWORD=SERVICE_ACCOUNT[1],
            SIDECAR_SECRETS_KEY=self.secrets_key,
            SIDECAR_CACHE_ENABLED="true" if cache else "false",
            SIDECAR_SHUTDOWN_GRACE_SECONDS="0",
            SIDECAR_SHUTDOWN_DRAIN_SECONDS="2",
        )
        env.update(self.options.sidecar_env)
        url = f"http://{HOST}:{port}"
        child = self.children.start(name, self.sidecar_argv(), env=env, cpus=self.cpus.sidecar)
        ready_at = http.first_ok(url + "/_sidecar/health/ready", timeout=30.0)
        if ready_at is None:
            raise RuntimeError(f"{name} was not ready within 30 s:\n{child.tail()}")
        sidecar = Sidecar(child, url, ready_at - child.started)
        self.results.footprint.ready_seconds.append((name, sidecar.ready_seconds))
        log(f"  {name}: ready {sidecar.ready_seconds:.2f} s after start (pid {child.pid})")
        return sidecar

    def _wait(self, child: Child, url: str, timeout: float, authorization: str | None = None) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited ({child.process.returncode}):\n{child.tail()}")
            if http.first_ok(url, timeout=0.5, interval=0.05, authorization=authorization) is not None:
                return
        raise RuntimeError(f"{child.name} did not answer {url} within {timeout:g} s:\n{child.tail()}")

    def create_model(self, sidecar: Sidecar, model_id: str, mock: Mock, requests_per_minute: int) -> None:
        body: dict[str, Any] = {
            "service": "openai",
            "service_settings": {
                "api_key": API_KEY,
                "url": mock.embeddings_url,
                "rate_limit": {"requests_per_minute": requests_per_minute},
            },
            "task_settings": {"model": OPENAI_MODEL},
        }
        status, answer = http.call_json("PUT", sidecar.infer_url(model_id), body, authorization=ADMIN)
        if status != 200:
            raise RuntimeError(f"PUT {model_id} answered {status}: {answer}")
        status, answer = http.call_json("POST", sidecar.infer_url(model_id), {"input": ["hello"]}, authorization=ADMIN)
        vectors = answer.get("text_embedding") if isinstance(answer, dict) else None
        if status != 200 or not vectors or len(vectors[0]["embedding"]) != DIMENSIONS:
            raise RuntimeError(f"inference on {model_id} answered {status}: {str(answer)[:300]}")

    def prefill(self, sidecar: Sidecar, model_id: str, texts: list[str], chunk: int = 100) -> None:
        """Embed every text once, so that the measured run finds all of them cached."""
        for start in range(0, len(texts), chunk):
            body = {"input": texts[start : start + chunk]}
            status, _ = http.call("POST", sidecar.infer_url(model_id), body, authorization=ADMIN)
            if status != 200:
                raise RuntimeError(f"prefill of {model_id} answered {status}")

    # --- load ----------------------------------------------------------------------------------------------

    def _wrk(self, load: Load, seconds: float, timeout: float) -> WrkResult:
        return run_wrk(self.wrk, load, seconds, cpus=self.cpus.load, timeout=timeout)

    def measure(
        self, label: str, load: Load, *, timeout: float = 5.0, before: Callable[[], None] | None = None
    ) -> WrkResult:
        """A warm-up run (discarded), then `before()` (read counters), then the measured run."""
        if self.options.warmup > 0:
            self._wrk(load, self.options.warmup, timeout)
        if before is not None:
            before()
        result = self._measured(label, load, self.options.seconds, timeout)
        self._log(label, result)
        return result

    def measure_pair(
        self,
        labels: tuple[str, str],
        loads: tuple[Load, Load],
        *,
        before: Callable[[], None],
        after: Callable[[], None],
    ) -> tuple[WrkResult, WrkResult]:
        """Two loads (direct, then through the sidecar) measured in alternating slices of the run's length.

        The speed of this VM's cores changes within seconds; in alternation both sides meet the same speeds, so
        their ratio stays fair. Each slice has a warm-up of its own (the warm-up length split over the slices, at
        least 1 s): a process left idle while the other path ran starts its slice cold. `before()` and `after()`
        bracket each slice of the second load (its counters).
        """
        slices = self.options.slices
        warmup = max(1.0, self.options.warmup / slices) if self.options.warmup > 0 else 0.0
        parts: tuple[list[WrkResult], list[WrkResult]] = ([], [])
        for _ in range(slices):
            for side in (0, 1):
                if warmup:
                    self._wrk(loads[side], warmup, 5.0)
                if side == 1:
                    before()
                parts[side].append(self._measured(labels[side], loads[side], self.options.seconds / slices, 5.0))
                if side == 1:
                    after()
        results = (WrkResult.combine(parts[0]), WrkResult.combine(parts[1]))
        for label, result in zip(labels, results, strict=True):
            self._log(label, result)
        return results

    def _measured(self, label: str, load: Load, seconds: float, timeout: float) -> WrkResult:
        """One measured wrk run, with the sidecar's CPU, memory and (with `--profile`) samples around it."""
        sampler = RssSampler(self.sidecar.child.pid) if self.sidecar is not None else None
        probe = cpu_probe_ms(self.cpus.sidecar)
        spy, raw = self._start_profile(label, load, seconds)
        pid = self.sidecar.child.pid if self.sidecar is not None else None
        ticks = cpu_ticks()
        cpu_before = process_cpu_seconds(pid) if pid is not None else None
        with sampler if sampler is not None else _nothing():
            result = self._wrk(load, seconds, timeout)
        cpu_after = process_cpu_seconds(pid) if pid is not None else None
        after = cpu_ticks()
        result = dataclasses.replace(
            result,
            cpu_sidecar=busy_share(ticks, after, self.cpus.sidecar),
            cpu_load=busy_share(ticks, after, self.cpus.load),
            steal_sidecar=steal_share(ticks, after, self.cpus.sidecar),
            cpu_probes_ms=(probe,),
            sidecar_cpu_seconds=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        )
        if spy is not None and raw is not None:
            self._finish_profile(spy, raw)
        if sampler is not None:
            self.peak_rss = max(self.peak_rss, sampler.peak_mib)
        return result

    def _log(self, label: str, result: WrkResult) -> None:
        probes = result.cpu_probes_ms
        notes = [f"probe {min(probes):.1f}-{max(probes):.1f} ms"] if probes else []
        notes += [f"{result.rps:,.0f} req/s", f"p50 {result.p50_ms:.2f} ms", f"p99 {result.p99_ms:.2f} ms"]
        notes += [f"{result.non_2xx:,} non-2xx"] if result.non_2xx else []
        notes += [f"{result.socket_errors:,} socket errors"] if result.socket_errors else []
        notes += [f"{result.timeouts:,} timeouts"] if result.timeouts else []
        notes.append(
            f"CPU busy: sidecar's {result.cpu_sidecar or 0:.0%} (steal {result.steal_sidecar or 0:.1%}), "
            f"load's {result.cpu_load or 0:.0%}"
        )
        if result.sidecar_cpu_share is not None and result.cpu_us_per_request is not None:
            notes.append(f"sidecar process {result.sidecar_cpu_share:.0%}, {result.cpu_us_per_request:.0f} us/request")
        log(f"  {label}: {', '.join(notes)}  [{time.perf_counter() - self.started:.0f} s]")

    def _start_profile(
        self, label: str, load: Load, seconds: float
    ) -> tuple[subprocess.Popen[bytes] | None, Path | None]:
        directory = self.options.profile_dir
        if directory is None or self.sidecar is None or load.url.startswith(tuple(m.url for m in self.mocks.values())):
            return None, None
        py_spy = profile.find_py_spy()
        if py_spy is None:
            log("  (--profile: py-spy not found; pip install py-spy)")
            return None, None
        directory.mkdir(parents=True, exist_ok=True)
        raw = directory / (re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-") + ".txt")
        return profile.start(py_spy, self.sidecar.child.pid, seconds, raw, self.cpus.load), raw

    def _finish_profile(self, spy: subprocess.Popen[bytes], raw: Path) -> None:
        try:
            spy.wait(self.options.seconds + 30.0)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5.0)
        if raw.exists():
            summary = profile.summarize(raw)
            raw.with_suffix(".summary.txt").write_text(summary)
            log(f"  profile: {raw.with_suffix('.summary.txt')}")

    def direct_load(self, mock: Mock, inputs: int, connections: int, **kwargs: Any) -> Load:
        return Load(mock.embeddings_url, f"Bearer {API_KEY}", inputs, connections, model=OPENAI_MODEL, **kwargs)

    def sidecar_load(self, model_id: str, inputs: int, connections: int, **kwargs: Any) -> Load:
        assert self.sidecar is not None
        return Load(self.sidecar.infer_url(model_id), ADMIN, inputs, connections, **kwargs)

    def compare(self, inputs: int, mock: Mock, model_id: str, connections: int, rate: float | None = None) -> None:
        """Scenario 1's row: the same load straight to `mock` and through the sidecar to `model_id`, in alternation."""
        tag = f"{inputs} input{'s' if inputs > 1 else ''}, {mock.latency_ms:g} ms, {connections} conn"
        tag += "" if rate is None else f" paced at {rate:,.0f}/s"
        counter = CallCounter(mock)
        direct, through = self.measure_pair(
            (f"direct  {tag}", f"sidecar {tag}"),
            (
                self.direct_load(mock, inputs, connections, rate=rate),
                self.sidecar_load(model_id, inputs, connections, rate=rate),
            ),
            before=counter.mark,
            after=counter.add,
        )
        self.results.direct_vs_sidecar.append(
            DirectVsSidecar(inputs, mock.latency_ms, connections, direct, through, counter.total, rate)
        )

    # --- the run ---------------------------------------------------------------------------------------------

    def run(self) -> Results:
        scenarios = self.options.scenarios
        footprint = self.results.footprint
        log(f"placement: {self.cpus.describe()}")
        fast = self.start_mock("mock-0ms", 0.0)
        slow = self.start_mock("mock-20ms", 20.0)
        limited = self.start_mock("mock-limited", 20.0, LIMITED_PROVIDER_RPS)
        log("  mock providers up")
        self.start_standin()
        log(f"  Elasticsearch stand-in up at {self.standin_url}")

        sidecar = self.sidecar = self.start_sidecar("sidecar", cache=False)
        footprint.rss_ready_mib = rss_mib(sidecar.child.pid)
        self.create_model(sidecar, "bench", fast, UNLIMITED_RPM)
        self.create_model(sidecar, "bench-20ms", slow, UNLIMITED_RPM)
        self.create_model(sidecar, "bench-limited", limited, LIMITED_MODEL_RPM)
        time.sleep(0.5)
        footprint.rss_idle_mib = rss_mib(sidecar.child.pid)
        log(f"  models created; sidecar RSS {footprint.rss_idle_mib or 0:.1f} MiB idle")
        self.peak_rss = 0.0

        if 1 in scenarios:
            log("scenario 1: direct vs through the sidecar, result cache off")
            rows = [(1, fast, "bench", 32), (16, fast, "bench", 32)]
            if self.options.latency_row:
                rows.append((1, slow, "bench-20ms", 32))
            if self.options.single_connection_row:
                rows.append((1, fast, "bench", 1))
            for inputs, mock, model_id, connections in rows:
                self.compare(inputs, mock, model_id, connections)
            saturated = self.results.row(ONE_INPUT)
            if self.options.paced_row and saturated is not None:
                self.compare(1, fast, "bench", 32, rate=saturated.direct.rps / 2)

        if 2 in scenarios:
            log("scenario 2: 64 single-input clients, provider latency 20 ms")
            direct_counter, sidecar_counter = CallCounter(slow), CallCounter(slow)
            direct = self.measure("direct ", self.direct_load(slow, 1, 64), before=direct_counter.mark)
            direct_calls = direct_counter.since()
            through = self.measure("sidecar", self.sidecar_load("bench-20ms", 1, 64), before=sidecar_counter.mark)
            sidecar_calls = sidecar_counter.since()
            self.results.merging = Merging(64, slow.latency_ms, direct, through, direct_calls, sidecar_calls)
            log(f"  provider calls: direct {direct_calls:,}, sidecar {sidecar_calls:,}")

        if 3 in scenarios:
            log(f"scenario 3: provider limited to {LIMITED_PROVIDER_RPS:g} requests/s, 64 single-input clients")
            marks: dict[str, tuple[int, int, float]] = {}

            def mark(key: str) -> Callable[[], None]:
                def read() -> None:
                    calls, inputs = limited.stats()
                    marks[key] = (calls, inputs, sidecar.counter("sidecar_provider_retries_total", 'service="openai"'))

                return read

            direct = self.measure("direct ", self.direct_load(limited, 1, 64), before=mark("direct"))
            direct_inputs = limited.stats()[1] - marks["direct"][1]
            through = self.measure(
                "sidecar", self.sidecar_load("bench-limited", 1, 64), timeout=10.0, before=mark("sidecar")
            )
            calls, inputs = limited.stats()
            retries = sidecar.counter("sidecar_provider_retries_total", 'service="openai"') - marks["sidecar"][2]
            self.results.rate_limited = RateLimited(
                64,
                limited.latency_ms,
                LIMITED_PROVIDER_RPS,
                LIMITED_MODEL_RPM,
                direct,
                through,
                direct_inputs,
                inputs - marks["sidecar"][1],
                calls - marks["sidecar"][0],
                int(retries),
            )

        footprint.rss_load_mib = self.peak_rss or None
        footprint.hwm_mib = _mib(status_kib(sidecar.child.pid, "VmHWM"))
        time.sleep(1.0)
        footprint.rss_after_mib = rss_mib(sidecar.child.pid)
        if footprint.rss_load_mib is not None:
            log(f"  sidecar RSS under load: {footprint.rss_load_mib:.1f} MiB (VmHWM {footprint.hwm_mib or 0:.1f} MiB)")
        self.children.stop(sidecar.child)
        self.sidecar = None

        if 4 in scenarios or 5 in scenarios:
            log("scenario 4: scenario 1's single-input traffic, result cache on" if 4 in scenarios else "restart")
            cached_sidecar = self.sidecar = self.start_sidecar("sidecar-cache", cache=True)
            if 4 in scenarios:
                baseline_row = self.results.row(ONE_INPUT)
                baseline = None if baseline_row is None else baseline_row.sidecar
                self.peak_rss = 0.0
                load = self.sidecar_load("bench", 1, 32)
                lookups: dict[str, float] = {}

                def lookups_before() -> None:
                    text = cached_sidecar.metrics()
                    lookups.update(http.prometheus_values(text, "sidecar_inference_cache_lookups_total"))
                    lookups["calls"] = fast.stats()[0]

                if baseline is None:
                    log("  (scenario 1 skipped: no cache-off baseline; the gain is shown as n/a)")
                self.prefill(cached_sidecar, "bench", load.pool_texts())
                cached = self.measure("sidecar, cache on", load, before=lookups_before)
                after = http.prometheus_values(cached_sidecar.metrics(), "sidecar_inference_cache_lookups_total")
                hits = after.get('result="hit"', 0.0) - lookups.get('result="hit"', 0.0)
                misses = after.get('result="miss"', 0.0) - lookups.get('result="miss"', 0.0)
                calls = fast.stats()[0] - int(lookups["calls"])
                self.results.cached = Cached(baseline, cached, int(hits), int(misses), calls)
                footprint.rss_cache_mib = self.peak_rss or None
                log(f"  cache hits {int(hits):,}, misses {int(misses):,}, provider calls {calls:,}")
            self.children.stop(cached_sidecar.child)
            self.sidecar = None
        return self.results


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024.0


def wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (completed.stdout or completed.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"
