"""Report-by-change: decide which samples of a cycle are worth publishing.

A sample goes out when its quality changed, its value moved by more than the tag's deadband
(any change when there is none), or the tag's heartbeat elapsed. This keeps northbound traffic
proportional to what happens in the plant while still proving every tag alive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from devices.model import Sample, TagSpec


class ChangeFilter:
    def __init__(self, tags: Iterable[TagSpec], heartbeat: float | None) -> None:
        self._deadband: dict[str, float | None] = {}
        self._heartbeat: dict[str, float | None] = {}
        for t in tags:
            self._deadband[t.name] = t.deadband
            self._heartbeat[t.name] = t.heartbeat if t.heartbeat is not None else heartbeat
        # tag -> (value, quality, published at)
        self._last: dict[str, tuple[Any, str, float]] = {}

    def select(self, samples: Iterable[Sample], now: float) -> list[Sample]:
        out: list[Sample] = []
        last = self._last
        for s in samples:
            prev = last.get(s.tag)
            if prev is None or self._changed(s, prev) or self._due(s.tag, prev[2], now):
                last[s.tag] = (s.value, s.quality, now)
                out.append(s)
        return out

    def _changed(self, s: Sample, prev: tuple[Any, str, float]) -> bool:
        value, quality, _ = prev
        if s.quality != quality:
            return True
        if s.value == value:
            return False
        band = self._deadband.get(s.tag)
        if band is None or not _is_number(s.value) or not _is_number(value):
            return True
        if not (math.isfinite(s.value) and math.isfinite(value)):
            return True
        return abs(s.value - value) > band

    def _due(self, tag: str, published: float, now: float) -> bool:
        hb = self._heartbeat.get(tag)
        return hb is not None and now - published >= hb

    def forget(self) -> None:
        """After a reconnect every tag is sent again, so consumers see fresh values at once."""
        self._last.clear()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
