"""Child processes: started pinned to CPUs, logged to files, always stopped (also when the benchmark dies)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import orjson

_PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """What a child runs between fork and exec: die with the parent (SIGTERM), and pin to `cpus`."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float  # time.perf_counter() just before the fork

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Children:
    """Every server the benchmark starts; `stop_all` (or leaving the `with`) ends them, newest first."""

    logdir: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cpus: frozenset[int] | None = None,
    ) -> Child:
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                preexec_fn=child_setup(cpus),  # children start before any sampler thread runs
                start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children in order
            )
        child = Child(name, process, log, started)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 10.0) -> None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait(5.0)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception:  # keep going: every other child must still be stopped
                with contextlib.suppress(Exception):
                    child.process.kill()

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


# --- CPU ---------------------------------------------------------------------------------------------------


def cpu_ticks() -> dict[int, tuple[int, int, int]]:
    """Per CPU from /proc/stat: (busy ticks, all ticks, steal ticks); idle and iowait count as not busy.

    Steal is time the hypervisor gave this virtual CPU's physical core to someone else: it counts as busy.
    """
    ticks: dict[int, tuple[int, int, int]] = {}
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                name, _, rest = line.partition(" ")
                if not name.startswith("cpu") or name == "cpu":
                    continue
                values = [int(value) for value in rest.split()]
                idle = values[3] + (values[4] if len(values) > 4 else 0)
                steal = values[7] if len(values) > 7 else 0
                ticks[int(name[3:])] = (sum(values[:8]) - idle, sum(values[:8]), steal)
    except (OSError, ValueError):
        return {}
    return ticks


Ticks = dict[int, tuple[int, int, int]]


def busy_share(before: Ticks, after: Ticks, cpus: frozenset[int]) -> float:
    """How busy `cpus` were between two `cpu_ticks()` readings, 0..1 (averaged over the set)."""
    return _share(before, after, cpus, 0)


def steal_share(before: Ticks, after: Ticks, cpus: frozenset[int]) -> float:
    """How much of the time of `cpus` the hypervisor took between two `cpu_ticks()` readings, 0..1."""
    return _share(before, after, cpus, 2)


def _share(before: Ticks, after: Ticks, cpus: frozenset[int], field: int) -> float:
    part = sum(after[cpu][field] - before[cpu][field] for cpu in cpus if cpu in before and cpu in after)
    total = sum(after[cpu][1] - before[cpu][1] for cpu in cpus if cpu in before and cpu in after)
    return part / total if total else 0.0


def cpu_probe_ms(cpus: frozenset[int]) -> float:
    """The CPU time of a fixed workload (Python arithmetic, `orjson` of a 1536-float vector) on `cpus`, best of 3.

    The speed of the machine at that moment: on a shared VM it can change by a factor of two within a minute
    with no steal time to show for it, and every figure of the run moves with it.
    """
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)  # this thread only
    try:
        best = float("inf")
        for _ in range(3):
            started = time.thread_time()
            total = 0
            for i in range(100_000):
                total += i * i
            for _ in range(100):
                orjson.loads(_PROBE_VECTOR)
            best = min(best, time.thread_time() - started)
    finally:
        os.sched_setaffinity(0, before)
    return best * 1000


_PROBE_VECTOR = orjson.dumps([((i * 7919) % 2000 - 1000) / 12345.678 for i in range(1536)])


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used (/proc/<pid>/stat), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the command: state is field 3, utime 14 and stime 15 (1-based, as in proc(5))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- memory ------------------------------------------------------------------------------------------------


def status_kib(pid: int, key: str) -> int | None:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mib(pid: int) -> float | None:
    kib = status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024.0


class RssSampler:
    """The highest VmRSS of `pid` seen while the `with` block runs (sampled every `interval` seconds)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mib(self.pid)
            if value is not None:
                self.peak_mib = max(self.peak_mib, value)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(2.0)
