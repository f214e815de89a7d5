"""Northbound side of the gateway: disk-backed store-and-forward to MQTT and InfluxDB.

The runtime builds one outlet with `build_outlet(config)`; the config loader checks each
`northbound` entry with `check_sink(entry)`.
"""

from __future__ import annotations

from gateway.northbound.outlet import NorthboundOutlet, make_sinks
from gateway.northbound.settings import SINK_TYPES, SinkConfigError, check_sink, parse_duration
from gateway.outlet import Outlet
from gateway.settings import GatewayConfig


def build_outlet(config: GatewayConfig) -> Outlet:
    """The outlet for `config`: a buffer at `config.buffer.path` feeding one sink per entry.

    Raises `ValueError` (a `SinkConfigError` naming every problem) for an entry `check_sink`
    refuses or for two sinks with the same name.
    """
    return NorthboundOutlet(config, make_sinks(config.northbound))


__all__ = [
    "SINK_TYPES",
    "NorthboundOutlet",
    "SinkConfigError",
    "build_outlet",
    "check_sink",
    "parse_duration",
]
