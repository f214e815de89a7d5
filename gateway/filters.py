"""Report-by-change: decide which samples of a cycle are worth publishing.

A sample goes out when its quality changed, its value moved by more than the tag's deadband
(any change when there is none), or the tag's heartbeat elapsed. This keeps northbound traffic
proportional to what happens in the plant while still proving every tag alive.

`select` runs once per device and cycle over every sample, so it is one tight loop: the common
cases (value changed, or unchanged and no heartbeat due) cost one dict lookup and two
comparisons, and it counts the cycle's bad samples on the way so the runtime needs no second pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from devices.model import BAD, Sample, TagSpec

_NO_RULE: tuple[float | None, float | None] = (None, None)


class ChangeFilter:
    def __init__(self, tags: Iterable[TagSpec], heartbeat: float | None) -> None:
        # tag -> (deadband, heartbeat)
        self._rules: dict[str, tuple[float | None, float | None]] = {
            t.name: (t.deadband, t.heartbeat if t.heartbeat is not None else heartbeat) for t in tags
        }
        # tag -> (value, quality, published at, deadband, heartbeat): the rule rides along, so a
        # sample costs one lookup
        self._last: dict[str, tuple[Any, str, float, float | None, float | None]] = {}
        self.bad = 0
        """Bad samples seen by the last `select` call."""
        self.error: str | None = None
        """The first bad sample's error in the last `select` call."""

    def select(self, samples: Sequence[Sample] | Iterable[Sample], now: float) -> list[Sample]:
        out: list[Sample] = []
        last = self._last
        bad = 0
        error = None
        for s in samples:
            quality = s.quality
            if quality == BAD:
                bad += 1
                if error is None:
                    error = s.error
            prev = last.get(s.tag)
            if prev is None:
                band, hb = self._rules.get(s.tag, _NO_RULE)
            else:
                _, _, published, band, hb = prev
                if quality == prev[1]:
                    value = s.value
                    if value == prev[0]:
                        if hb is None or now - published < hb:
                            continue
                    elif band is not None and _within(value, prev[0], band) and (hb is None or now - published < hb):
                        continue
            last[s.tag] = (s.value, quality, now, band, hb)
            out.append(s)
        self.bad, self.error = bad, error
        return out

    def forget(self) -> None:
        """After a reconnect every tag is sent again, so consumers see fresh values at once."""
        self._last.clear()


def _within(value: Any, previous: Any, band: float) -> bool:
    """True when both are finite numbers no more than `band` apart (then the move is not published)."""
    if not (_is_number(value) and _is_number(previous)):
        return False
    if not (math.isfinite(value) and math.isfinite(previous)):
        return False
    return bool(abs(value - previous) <= band)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)

