"""`--profile DIR`: py-spy samples the sidecar during each measured run; the hottest functions are summarised.

py-spy (`pip install py-spy`) attaches to another process with ptrace, which needs root or CAP_SYS_PTRACE.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.procs import child_setup

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(py_spy: str, pid: int, seconds: float, output: Path, cpus: frozenset[int]) -> subprocess.Popen[bytes]:
    argv = [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "200",
        "--format", "raw", "--nonblocking", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=child_setup(cpus))


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match.group('function')} ({file})"


# Where the sidecar's time goes, by the innermost frame that names a part (checked leaf first, in this order).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("provider response JSON parse (orjson.loads)", ("UpstreamResponse.json",)),
    ("response JSON (orjson.dumps in json_response)", ("json_response (",)),
    ("request log line (structlog, redaction)", ("structlog/", "observability/logging")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("provider HTTP call (sidecar.http.client)", ("sidecar/http/client", "post_json")),
    ("engine and plugin (batcher, retry, limiter, settings)", ("sidecar/engine/", "plugins/", "pydantic/")),
    ("handler (body, auth, model cache)", ("sidecar/api/inference", "sidecar/security/", "sidecar/registry/")),
    ("middleware (ids, timing, errors)", ("sidecar/api/",)),
    ("HTTP server (sidecar.http, httptools)", ("sidecar/http/", "httptools", "multidict/")),
    ("asyncio loop and sockets", ("asyncio/", "selectors")),
)


def categorize(raw: Path) -> list[tuple[str, float]]:
    """Share of samples per category of `CATEGORIES` (plus "other"), largest first."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_name(frame) for frame in stack.split(";") if frame]
        for frame in reversed(frames):
            category = next((name for name, marks in CATEGORIES if any(mark in frame for mark in marks)), None)
            if category is not None:
                counts[category] += count
                break
        else:
            counts["other"] += count
    return [(name, n / total) for name, n in counts.most_common()] if total else []


def summarize(raw: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function (file-level, lines merged) from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", "share    part of the sidecar"]
    lines += [f"{100 * share:6.1f}   {name}" for name, share in categorize(raw)]
    lines += ["", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in own.most_common(top)]
    lines += ["", "total %  function (inclusive)"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
