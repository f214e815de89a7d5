"""What the device loops hand their samples to: the northbound side, seen from the runtime.

The runtime knows nothing of MQTT or InfluxDB; it only needs something that accepts a batch per
device and cycle, hears about device state changes, and may call back with write requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from devices.model import Sample

WriteHandler = Callable[[str, str, Any], Awaitable[Sample]]
"""`(device, tag, engineering value) -> read-back sample`; raises with a reason when refused."""


class Outlet(Protocol):
    async def start(self, write_handler: WriteHandler | None) -> None: ...

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        """Accept one batch; returning means it is durable (or deliberately dropped and counted)."""
        ...

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    async def stop(self) -> None:
        """Flush what can be flushed and release resources."""
        ...
