"""What every sink shares: the context it is given."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.model import DeviceSpec
from gateway.northbound.buffer import Buffer
from gateway.northbound.status import StatusBoard
from gateway.outlet import WriteHandler


@dataclass(slots=True)
class SinkContext:
    gateway: str
    enterprise: str
    buffer: Buffer
    board: StatusBoard
    writes: bool = False
    devices: Mapping[str, DeviceSpec] = field(default_factory=dict)
    write_handler: WriteHandler | None = None


class Sink(abc.ABC):
    """One northbound destination fed from the buffer in seq order."""

    type: str = ""

    def __init__(self, name: str, ctx: SinkContext) -> None:
        self.name = name
        self.ctx = ctx

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin delivering; must return promptly even when the destination is unreachable."""

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """Deliver what is in flight within `grace` seconds, then release everything; never raises."""

    def status_changed(self) -> None:
        """A device changed state or batches were dropped (only sinks with a status care)."""
        return None

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]: ...
