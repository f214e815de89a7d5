"""The northbound outlet: what the runtime hands its samples to (`gateway.outlet.Outlet`).

`submit` returns once the batch is on disk in the buffer; every sink then delivers it on its
own schedule, so a dead InfluxDB never holds MQTT back and a device loop never waits for the
network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from devices.model import Sample
from gateway.northbound.buffer import Buffer, BufferClosed, DropRange
from gateway.northbound.encoding import pack, samples_json
from gateway.northbound.settings import HttpSettings, InfluxSettings, MqttSettings, SinkSettings
from gateway.northbound.sink import Sink, SinkContext
from gateway.northbound.status import StatusBoard
from gateway.outlet import WriteHandler
from gateway.settings import GatewayConfig

log = logging.getLogger("gateway.northbound")


class NorthboundOutlet:
    """Buffer plus sinks; implements `gateway.outlet.Outlet`."""

    def __init__(
        self,
        config: GatewayConfig,
        sinks: Sequence[SinkSettings],
        *,
        durable: bool = True,
        clock: Callable[[], float] = time.time,
        stop_timeout: float = 5.0,
    ) -> None:
        self.config = config
        self.settings = tuple(sinks)
        self.stop_timeout = stop_timeout
        self.board = StatusBoard(d.name for d in config.devices)
        self.buffer: Buffer | None = None
        if self.settings:
            b = config.buffer
            self.buffer = Buffer(
                b.path, [s.name for s in self.settings], max_bytes=int(b.max_mb * 1024 * 1024),
                max_age=b.max_age, durable=durable, clock=clock, on_drop=self._on_drop,
            )
        self.sinks: list[Sink] = []
        self._started = False
        self.submitted_batches = 0
        self.submitted_samples = 0
        self.refused_batches = 0
        self.refused_samples = 0

    async def start(self, write_handler: WriteHandler | None) -> None:
        if self._started:
            return
        self._started = True
        if self.buffer is None:
            log.warning("no northbound sink configured: samples are counted and discarded")
            return
        await asyncio.to_thread(self.buffer.open)
        self.buffer.bind(asyncio.get_running_loop())
        ctx = SinkContext(
            gateway=self.config.id, enterprise=self.config.enterprise, buffer=self.buffer, board=self.board,
            writes=self.config.writes, devices={d.name: d for d in self.config.devices},
            write_handler=write_handler,
        )
        for s in self.settings:
            self.sinks.append(_make_sink(s, ctx))
        for sink in self.sinks:
            await sink.start()
        log.info("northbound: buffer %s (epoch %s, next seq %d), sinks %s", self.buffer.path, self.buffer.epoch,
                 self.buffer.head + 1, ", ".join(f"{s.name} ({s.type})" for s in self.sinks))

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        self.submitted_batches += 1
        self.submitted_samples += len(samples)
        if self.buffer is None:
            return
        if not self._started:
            raise RuntimeError("northbound outlet: submit before start")
        raw = samples_json(samples)
        enc, blob = pack(raw)
        try:
            # the uncompressed array rides along in the buffer's memory ring: a sink that keeps
            # up publishes it as is, only a backlog read from disk is inflated
            await self.buffer.append(device, len(samples), enc, blob, raw)
        except (OSError, BufferClosed) as exc:
            # counted and logged by the buffer; the device loop must go on regardless
            self.refused_batches += 1
            self.refused_samples += len(samples)
            log.error("northbound: batch of %s (%d samples) not stored: %s", device, len(samples), exc)

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        if self.board.set(device, up, since, error):
            for sink in self.sinks:
                sink.status_changed()

    def _on_drop(self, drops: list[DropRange]) -> None:
        for sink in self.sinks:
            if any(d.sink == sink.name for d in drops):
                sink.status_changed()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "submitted_batches": self.submitted_batches,
            "submitted_samples": self.submitted_samples,
            "refused_batches": self.refused_batches,
            "refused_samples": self.refused_samples,
        }
        if self.buffer is None:
            out["sinks"] = {}
            return out
        buf = self.buffer.stats()
        per_sink = buf.pop("sinks")
        out["buffer"] = buf
        out["queue_depth"] = buf["depth_samples"]
        out["oldest_undelivered_age"] = max(
            (s["oldest_undelivered_age"] for s in per_sink.values() if s["oldest_undelivered_age"] is not None),
            default=None,
        )
        out["sinks"] = {sink.name: {**per_sink.get(sink.name, {}), **sink.stats()} for sink in self.sinks}
        return out

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for sink in self.sinks:
            try:
                await sink.stop(self.stop_timeout)
            except Exception:
                log.exception("northbound: sink %s did not stop cleanly", sink.name)
        if self.buffer is not None:
            with contextlib.suppress(Exception):
                await self.buffer.sync()
            await asyncio.to_thread(self.buffer.close)


def _make_sink(s: SinkSettings, ctx: SinkContext) -> Sink:
    # each sink's client library is imported only when such a sink is configured: influxdb-client
    # and httpx alone add ~60 MB to a gateway that only speaks MQTT
    if isinstance(s, MqttSettings):
        from gateway.northbound.mqtt_sink import MqttSink

        return MqttSink(s, ctx)
    if isinstance(s, HttpSettings):
        from gateway.northbound.http_sink import HttpSink

        return HttpSink(s, ctx)
    from gateway.northbound.influx_sink import InfluxSink

    return InfluxSink(s, ctx)


def make_sinks(entries: Sequence[Any]) -> list[SinkSettings]:
    from gateway.northbound.settings import default_names, parse_sink

    names = default_names(list(entries))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"northbound: sink names must be unique, {', '.join(dupes)} repeated (set `name`)")
    return [parse_sink(e, n) for e, n in zip(entries, names, strict=True)]


__all__ = ["HttpSettings", "InfluxSettings", "MqttSettings", "NorthboundOutlet", "make_sinks"]
