"""Rewrite requirements.lock with the sha256 of every file PyPI has for each pinned version.

`make lock-hashes` (network: PyPI's simple index, JSON form). With hashes in the file, `pip install -r
requirements.lock` runs in hash-checking mode: the image build refuses any file PyPI did not publish for the
pinned version. Every file of the version is listed, so the build works on any platform (amd64, arm64).
Comment lines and the order of the pins are kept.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/simple"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)")


def _file_version(filename: str) -> str | None:
    """The version in a wheel (`name-1.0-py3-none-any.whl`) or sdist (`name-1.0.tar.gz`) file name."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)].rsplit("-", 1)[-1]
    return None


def hashes(name: str, version: str) -> list[str]:
    request = urllib.request.Request(f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    found = sorted(
        {entry["hashes"]["sha256"] for entry in files if _file_version(entry["filename"]) == version}
    )
    if not found:
        raise SystemExit(f"lock-hashes: PyPI lists no file for {name}=={version}")
    return found


def main(path: Path) -> int:
    out: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("--hash") or (stripped.endswith("\\") and PIN.match(stripped) is None):
            continue  # the previous hashes of a pin
        match = PIN.match(stripped)
        if match is None:
            out.append(line)
            continue
        name, version = match.groups()
        digests = hashes(name, version)
        options = [f"    --hash=sha256:{digest}" for digest in digests]
        out.append(f"{name}=={version} \\")
        out.append(" \\\n".join(options))
        print(f"{name}=={version}: {len(digests)} files", file=sys.stderr)
    path.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))
