"""Handing samples to consumers: batched per callback, and a faulty consumer never stops a loop."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from devices.model import Sample
from drivers.base import SampleCallback

log = logging.getLogger(__name__)


def group_callbacks(samples: Iterable[tuple[SampleCallback, Sample]]) -> list[tuple[SampleCallback, list[Sample]]]:
    out: dict[int, tuple[SampleCallback, list[Sample]]] = {}
    for cb, s in samples:
        entry = out.get(id(cb))
        if entry is None:
            out[id(cb)] = (cb, [s])
        else:
            entry[1].append(s)
    return list(out.values())


def deliver(batches: Iterable[tuple[SampleCallback, list[Sample]]]) -> None:
    for cb, samples in batches:
        try:
            cb(samples)
        except Exception:
            log.exception("sample callback failed")
