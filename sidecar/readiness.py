"""Whether the sidecar may take traffic, and why not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "starting: waiting for the preflight checks"
    shutting_down: bool = False

    def mark_ready(self) -> None:
        self.ready, self.reason = True, "ready"

    def mark_not_ready(self, reason: str) -> None:
        self.ready, self.reason = False, reason

    def mark_shutting_down(self) -> None:
        self.shutting_down = True
        self.mark_not_ready("shutting down")
