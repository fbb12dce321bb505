"""glibc's allocator tuning: taken where glibc is, a no-op elsewhere."""

from __future__ import annotations

import ctypes
import platform
from typing import Any

import pytest

from sidecar import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_both_thresholds() -> None:
    assert allocator.tune_allocator() is True


def test_without_mallopt_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, _name: Any) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert allocator.tune_allocator() is False


def test_the_thresholds_passed_to_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []

    class FakeMallopt:
        argtypes: Any = None
        restype: Any = None

        def __call__(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

    class Libc:
        def __init__(self, _name: Any) -> None:
            self.mallopt = FakeMallopt()

    monkeypatch.setattr(ctypes, "CDLL", Libc)
    assert allocator.tune_allocator() is True
    assert calls == [(-3, 4 * 1024 * 1024), (-1, 32 * 1024 * 1024)]
