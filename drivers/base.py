"""The one interface every southbound driver implements.

The gateway runtime knows only this interface: it never imports a protocol package. A driver
owns its connection; the runtime owns timing, reconnect policy and publication.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from devices.model import DeviceSpec, Sample, TagSpec

SampleCallback = Callable[[list[Sample]], None]


class DriverError(Exception):
    """The device as a whole cannot be reached or answered nonsense: the runtime reconnects."""


class TagError(Exception):
    """One tag is wrong (bad address, refused write...): the device stays up."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """A config mistake a driver found; `field` is relative to the device or tag being checked."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request a driver would send, so planning can be inspected and tested without I/O."""

    description: str
    tags: tuple[str, ...]
    detail: Mapping[str, Any] = field(default_factory=dict)


class Driver(abc.ABC):
    """Base of all protocol drivers; one instance serves one configured device."""

    name: ClassVar[str] = ""
    supports_subscribe: ClassVar[bool] = False

    def __init__(self, device: DeviceSpec) -> None:
        self.device = device

    # -- configuration checks (no I/O): the loader turns these into FILE:LINE errors ---------
    @classmethod
    def check_connection(cls, connection: Mapping[str, Any]) -> list[ConfigProblem]:
        return []

    @classmethod
    def check_tag(cls, tag: TagSpec, options: Mapping[str, Any]) -> list[ConfigProblem]:
        return []

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[ConfigProblem]:
        return []

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection; raise `DriverError` (or any OSError) when the device is unreachable."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection; must never raise."""

    # -- data ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        """One sample per requested tag, `bad` for tags that failed; raise only when the whole
        device is gone (then the runtime reconnects)."""

    @abc.abstractmethod
    async def write(self, tag: TagSpec, value: Any) -> None:
        """Write an engineering value; raise `TagError` with a clear reason when refused."""

    async def subscribe(self, tags: Sequence[TagSpec], callback: SampleCallback) -> None:
        """Deliver changes of `tags` to `callback` as they come (only if `supports_subscribe`)."""
        raise NotImplementedError(f"driver {self.name} does not support subscriptions")

    async def browse(self, depth: int = 3) -> list[dict[str, Any]]:
        """Discover the device's points (`{"address", "name", "type"}`) so tags can be written
        without a separate tool; only protocols with an address space implement it."""
        raise NotImplementedError(f"driver {self.name} cannot browse")

    def plan(self, tags: Sequence[TagSpec]) -> list[PlannedRequest]:
        """The requests a `read(tags)` would make; default: one per tag."""
        return [PlannedRequest(f"read {t.address}", (t.name,)) for t in tags]

    def stats(self) -> dict[str, Any]:
        """Driver-specific statistics merged into the device's statistics (e.g. PDU size)."""
        return {}
