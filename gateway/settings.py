"""The validated gateway configuration as plain data (the loader in `gateway.config` builds it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.model import DeviceSpec


@dataclass(frozen=True, slots=True)
class BufferSettings:
    path: str = "./data/buffer.db"
    max_mb: float = 512.0
    max_age: float = 7 * 86400.0  # seconds


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    id: str
    enterprise: str
    devices: tuple[DeviceSpec, ...] = ()
    buffer: BufferSettings = field(default_factory=BufferSettings)
    writes: bool = False
    northbound: tuple[Mapping[str, Any], ...] = ()
    """Each sink's settings as written (after `${VAR}` substitution), e.g. `{"type": "mqtt", "url": ...}`;
    validated by `gateway.northbound.check_sink`."""
    http: Mapping[str, Any] = field(default_factory=dict)
    """Optional local statistics endpoint: `{"host": "127.0.0.1", "port": 9100}`."""
    reconnect_max: float = 30.0
    """Cap of the per-device reconnect back-off, seconds."""
    source: str = "<memory>"

    def device(self, name: str) -> DeviceSpec:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(f"no device {name!r} (have: {', '.join(d.name for d in self.devices)})")
