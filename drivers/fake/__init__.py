"""An in-memory driver for tests and dry runs: no protocol, configurable misbehaviour.

`connection.behaviour`: `ok` (default), `hang` (every read blocks until cancelled), `error`
(connect fails), `flaky` (every `fail_every`-th read raises). Values are a per-tag counter, or
`connection.values[tag]` when given; writes are kept and read back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from devices.model import DeviceSpec, Sample, TagSpec
from drivers.base import ConfigProblem, Driver, DriverError, TagError
from drivers.codec import CodecError, coerce

BEHAVIOURS = ("ok", "hang", "error", "flaky")


class FakeDriver(Driver):
    name = "fake"

    def __init__(self, device: DeviceSpec) -> None:
        super().__init__(device)
        conn = device.connection
        self.behaviour = str(conn.get("behaviour", "ok"))
        self.fail_every = int(conn.get("fail_every", 3))
        self.values: dict[str, Any] = dict(conn.get("values", {}))
        self.reads = 0
        self.connected = False

    @classmethod
    def check_connection(cls, connection: Mapping[str, Any]) -> list[ConfigProblem]:
        b = connection.get("behaviour", "ok")
        if b not in BEHAVIOURS:
            return [ConfigProblem("behaviour", f"unknown behaviour {b!r} (allowed: {', '.join(BEHAVIOURS)})")]
        return []

    async def connect(self) -> None:
        await asyncio.sleep(0)
        if self.behaviour == "error":
            raise DriverError("connection refused (fake device configured to fail)")
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        if not self.connected:
            raise DriverError("not connected")
        self.reads += 1
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        if self.behaviour == "flaky" and self.reads % self.fail_every == 0:
            self.connected = False
            raise DriverError(f"read {self.reads} failed (fake device configured to be flaky)")
        await asyncio.sleep(0)
        out = []
        for t in tags:
            raw = self.values.get(t.name, self.reads)
            out.append(Sample(self.device.name, t.name, t.to_engineering(raw)))
        return out

    async def write(self, tag: TagSpec, value: Any) -> None:
        if not tag.writable:
            raise TagError(f"tag {tag.name} is read-only (access: {tag.access})")
        try:
            raw = coerce(tag.to_raw(coerce(value, "float64")) if tag.type not in ("bool", "string") else value,
                         tag.type or "float64")
        except CodecError as exc:
            raise TagError(str(exc)) from None
        self.values[tag.name] = raw
