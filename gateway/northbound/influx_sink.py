"""InfluxDB sink: batches from the buffer as line protocol through influxdb-client (v2 write API).

Several stored batches are combined into one write of up to `batch_size` lines, or whatever
arrived within `flush_interval`. A failed write is retried with back-off and the batches stay in
the buffer; only a write the server refuses as malformed (400/422) is given up, counted and logged,
since retrying it could never succeed and would block everything behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from gateway.backoff import Backoff
from gateway.northbound.buffer import Record
from gateway.northbound.lineproto import LineFormatter
from gateway.northbound.settings import InfluxSettings
from gateway.northbound.sink import Sink, SinkContext

log = logging.getLogger("gateway.northbound.influxdb")

PERMANENT = (400, 422)


class InfluxSink(Sink):
    type = "influxdb"

    def __init__(self, settings: InfluxSettings, ctx: SinkContext) -> None:
        super().__init__(settings.name, ctx)
        self.settings = settings
        self._formatter = LineFormatter(ctx.enterprise, ctx.gateway)
        self._client: InfluxDBClient | None = None
        self._write_api: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._backoff = Backoff(settings.retry_min, settings.retry_max, jitter=0.8)
        self._reader: Any = None
        self.connected = False
        self.writes = 0
        self.failures = 0
        self.points = 0
        self.skipped_bad = 0
        self.rejected_batches = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.tls is not None:
            kwargs["verify_ssl"] = not s.tls.insecure
            if s.tls.ca:
                kwargs["ssl_ca_cert"] = s.tls.ca
        if s.token:
            kwargs["token"] = s.token
        if s.org:
            kwargs["org"] = s.org
        self._client = InfluxDBClient(url=s.url, timeout=int(s.timeout * 1000), **kwargs)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._reader = self.ctx.buffer.reader()
        self._task = asyncio.create_task(self._run(), name=f"influx-{self.name}")

    async def stop(self, grace: float) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._client.close)

    async def _run(self) -> None:
        buffer = self.ctx.buffer
        loop = asyncio.get_running_loop()
        pos = buffer.cursor(self.name)
        pending: list[Record] = []
        lines: list[str] = []
        first_at = 0.0
        while True:
            if not pending:
                pos = max(pos, buffer.cursor(self.name))  # the buffer may have dropped past us
            # one stored batch gives at least one line (unless all bad): read no more than fits
            recs = await buffer.read(self._reader, pos, limit=max(1, self.settings.batch_size - len(lines)))
            for rec in recs:
                _written, skipped = self._formatter.lines(rec.device, rec.samples_json(), lines)
                self.skipped_bad += skipped
                if not pending:
                    first_at = loop.time()
                pending.append(rec)
                pos = rec.seq
            if not pending:
                await buffer.wait_beyond(pos, within=1.0)
                continue
            if len(lines) < self.settings.batch_size:
                remaining = first_at + self.settings.flush_interval - loop.time()
                if remaining > 0 and not recs:
                    await buffer.wait_beyond(pos, within=remaining)
                    continue
                if remaining > 0:
                    continue
            await self._deliver(lines)
            for rec in pending:
                buffer.ack(self.name, rec.seq, rec.count)
            pending, lines = [], []

    async def _deliver(self, lines: list[str]) -> None:
        """Write until it succeeds, or until the server refuses the data itself."""
        if not lines:
            return
        body = "\n".join(lines)
        while True:
            try:
                await asyncio.to_thread(self._write_api.write, bucket=self.settings.bucket,
                                        org=self.settings.org or None, record=body,
                                        write_precision=WritePrecision.MS)
            except ApiException as exc:
                self.failures += 1
                if exc.status in PERMANENT:
                    self.rejected_batches += 1
                    self.last_error = f"server refused {len(lines)} lines: {exc.status} {exc.body!r:.300}"
                    log.error("influxdb %s: %s; giving them up", self.name, self.last_error)
                    return
                self.last_error = f"write failed: {exc.status} {exc.reason}"
            except Exception as exc:
                self.failures += 1
                self.last_error = f"write failed: {type(exc).__name__}: {exc}"
            else:
                self.writes += 1
                self.points += len(lines)
                if not self.connected:
                    log.info("influxdb %s: writing to %s", self.name, self.settings.url)
                self.connected = True
                self._backoff.reset()
                return
            if self.connected:
                log.warning("influxdb %s: %s; retrying with back-off", self.name, self.last_error)
            self.connected = False
            await asyncio.sleep(self._backoff.next_delay())

    def stats(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "connected": self.connected,
            "writes": self.writes,
            "failures": self.failures,
            "points": self.points,
            "skipped_bad": self.skipped_bad,
            "rejected_batches": self.rejected_batches,
            "last_error": self.last_error,
        }
