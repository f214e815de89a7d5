"""Sensor and device faults that can be switched on in a running simulator.

Per tag: `stuck` (the value freezes, as a jammed sensor or a frozen converter), `out_of_range`
(the value jumps beyond the measuring range, as a broken 4-20 mA loop), `failed` (the device
reports the point as failed: a Modbus exception, an OPC UA Bad status). Per device: `offline`
(powered off or cable cut: connections are dropped and refused) and `no_answer` (connections are
accepted but requests time out, as a dead slave behind a serial gateway).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEVICE_FAULTS", "FAULT_KINDS", "TAG_FAULTS", "FaultError", "Faults"]

TAG_FAULTS = ("stuck", "out_of_range", "failed")
DEVICE_FAULTS = ("offline", "no_answer")
FAULT_KINDS = TAG_FAULTS + DEVICE_FAULTS


class FaultError(ValueError):
    """A fault that cannot be applied; the message names what is allowed."""


class Faults:
    """The faults in force on one simulated device and their effect on the served values."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.frozen: dict[str, Any] = {}
        self.device: set[str] = set()

    def check(self, tag: str | None, kind: str, tags: Mapping[str, Any], supported: tuple[str, ...],
              ranges: Mapping[str, tuple[float, float]], protocol: str) -> None:
        if kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault {kind!r} (allowed: {', '.join(FAULT_KINDS)})")
        if kind not in supported:
            raise FaultError(f"fault {kind!r} is not simulated for {protocol} devices "
                             f"(allowed: {', '.join(supported)})")
        if kind in DEVICE_FAULTS:
            return
        if tag is None:
            raise FaultError(f"fault {kind!r} needs a tag (have: {', '.join(tags)})")
        if tag not in tags:
            raise FaultError(f"no tag {tag!r} (have: {', '.join(tags)})")
        if kind == "out_of_range" and tag not in ranges:
            raise FaultError(f"tag {tag!r} has no measuring range to leave "
                             f"(out_of_range works on: {', '.join(ranges) or 'none'})")

    def add(self, tag: str | None, kind: str, current: Any) -> None:
        if kind in DEVICE_FAULTS:
            self.device.add(kind)
            return
        assert tag is not None
        self.tags[tag] = kind
        if kind == "stuck":
            self.frozen[tag] = current

    def clear(self, tag: str | None = None) -> None:
        """Clear the faults of `tag`, or every fault when `tag` is None."""
        if tag is None:
            self.tags.clear()
            self.frozen.clear()
            self.device.clear()
            return
        self.tags.pop(tag, None)
        self.frozen.pop(tag, None)

    def failed(self) -> set[str]:
        return {t for t, k in self.tags.items() if k == "failed"}

    def apply(self, values: Mapping[str, Any], ranges: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
        """The values a faulty device shows, from the physical ones."""
        out = dict(values)
        for tag, kind in self.tags.items():
            if kind == "stuck":
                out[tag] = self.frozen.get(tag, out.get(tag))
            elif kind == "out_of_range":
                lo, hi = ranges[tag]
                out[tag] = hi + (hi - lo)
        return out
