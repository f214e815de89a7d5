"""Optional local statistics endpoint: `/stats` as JSON, `/metrics` as Prometheus text.

A tiny asyncio HTTP server keeps the gateway free of a web framework; it only ever answers GET
on loopback or the plant network, so the minimal parsing is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

StatsSource = Callable[[], dict[str, Any]]

_COUNTERS = ("connects", "reads", "read_errors", "bad_samples", "samples_published", "overruns")


class _GatewayCollector(Collector):
    def __init__(self, source: StatsSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        stats = self.source()
        gw = stats.get("gateway", "")
        up = GaugeMetricFamily("minegate_device_up", "1 when the device is connected", labels=["gateway", "device"])
        rtt = GaugeMetricFamily("minegate_device_last_rtt_ms", "last read round trip", labels=["gateway", "device"])
        counters = {k: CounterMetricFamily(f"minegate_device_{k}", f"device {k.replace('_', ' ')}",
                                           labels=["gateway", "device"]) for k in _COUNTERS}
        for name, d in stats.get("devices", {}).items():
            up.add_metric([gw, name], 1.0 if d.get("state") == "up" else 0.0)
            if d.get("last_rtt_ms") is not None:
                rtt.add_metric([gw, name], float(d["last_rtt_ms"]))
            for k, fam in counters.items():
                fam.add_metric([gw, name], float(d.get(k, 0)))
        yield up
        yield rtt
        yield from counters.values()
        nb = GaugeMetricFamily("minegate_northbound", "northbound statistics", labels=["gateway", "name"])
        for key, value in _flatten(stats.get("northbound", {})):
            nb.add_metric([gw, key], float(value))
        yield nb


def _flatten(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield key, v


class StatsServer:
    def __init__(self, source: StatsSource, host: str = "127.0.0.1", port: int = 9100) -> None:
        self.source = source
        self.host, self.port = host, port
        self.registry = CollectorRegistry()
        self.registry.register(_GatewayCollector(source))
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            if len(parts) < 2 or parts[0] != "GET":
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"only GET\n"
            elif path in ("/stats", "/"):
                status, ctype = "200 OK", "application/json"
                body = orjson.dumps(self.source(), option=orjson.OPT_INDENT_2, default=str)
            elif path == "/metrics":
                status, ctype, body = "200 OK", "text/plain; version=0.0.4", generate_latest(self.registry)
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"try /stats or /metrics\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
