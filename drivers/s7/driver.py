"""`S7Driver`: Siemens S7-300/400/1200/1500 (and compatibles) over S7 communication (port 102).

A read cycle is planned once per tag set and PDU size (see `planner`), executed as a handful of
multi-variable reads, and decoded from the span buffers. Failures stay as small as the PLC lets
them: a refused job fails its own tags, a failed item its own bytes, and a merged span that hits
an address beyond a DB's end is split so only the tag that is really out of range stays `bad`.
A CPU that is not in RUN still answers with frozen values, so its samples are `uncertain`.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snap7.datatypes import S7WordLen

from devices.model import BAD, GOOD, UNCERTAIN, DeviceSpec, Sample, TagSpec, now_ts
from drivers import codec
from drivers.base import ConfigProblem, Driver, DriverError, PlannedRequest, TagError
from drivers.s7.client import S7Client
from drivers.s7.errors import ITEM_ADDRESS, ITEM_OK, S7Refused, item_reason
from drivers.s7.planner import Block, ReadPlan, describe, plan_reads
from drivers.s7.settings import build_settings, connection_problems, option_problems
from drivers.s7.transport import format_tsap
from drivers.s7.types import S7Point, TypeProblem, pack_bit, resolve

log = logging.getLogger("minegate.drivers.s7")

_PLAN_CACHE = 16
_NOT_RUN = {
    "stop": "CPU in STOP: values are frozen at their last state",
    "hold": "CPU in HOLD: values are frozen at their last state",
    "startup": "CPU in STARTUP: values may not be current yet",
    "unknown": "CPU reports an unknown operating mode: values may not be current",
}


@dataclass(frozen=True, slots=True)
class _Failure:
    lo: int  # byte range inside the span
    hi: int
    code: int | None  # item code, None when the whole job was refused
    reason: str | None  # set when the whole job was refused


@dataclass(frozen=True, slots=True)
class _Cycle:
    """A plan with the way back from planner keys (point indexes) to span positions."""

    plan: ReadPlan
    points: tuple[S7Point, ...]
    where: tuple[tuple[int, int], ...]  # per point: (span index, offset in span)
    source: tuple[TagSpec, ...]  # the tags it was made for (a renamed or edited tag means a new plan)


class S7Driver(Driver):
    name = "s7"

    def __init__(self, device: DeviceSpec) -> None:
        super().__init__(device)
        try:
            self.settings = build_settings(device.connection, device.options, device.timeout)
        except ValueError as exc:
            raise DriverError(f"device {device.name}: {exc}") from None
        self.client: S7Client | None = None
        self.cpu_state = "not read"
        self._state_supported = True
        self._state_at: float | None = None
        self._points: dict[str, S7Point | TypeProblem] = {}
        self._cycles: OrderedDict[tuple[str, ...], _Cycle] = OrderedDict()
        self._isolated: set[str] = set()
        self._last: _Cycle | None = None
        self.reads = 0
        self.writes = 0
        self.connects = 0

    # -- configuration checks (no I/O) ------------------------------------------------------
    @classmethod
    def check_connection(cls, connection: Mapping[str, Any]) -> list[ConfigProblem]:
        return connection_problems(connection)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[ConfigProblem]:
        return option_problems(options)

    @classmethod
    def check_tag(cls, tag: TagSpec, options: Mapping[str, Any]) -> list[ConfigProblem]:
        try:
            resolve(tag)
        except TypeProblem as exc:
            return [ConfigProblem(exc.field, str(exc))]
        return []

    # -- lifecycle --------------------------------------------------------------------------
    async def connect(self) -> None:
        await self.close()
        s = self.settings
        client = S7Client(s.host, s.port, s.local_tsap, s.remote_tsap, s.pdu_size, s.timeout)
        await client.open()
        self.client = client
        self.connects += 1
        self._cycles.clear()
        self._isolated.clear()
        self._state_supported = True
        self._state_at = None
        await self._read_cpu_state()
        readable = [t for t in self.device.tags if t.readable]
        cycle = self._cycle(readable)
        plan = cycle.plan
        log.info("%s: connected to %s:%d (TSAP %s -> %s), PDU %d; %d tags -> %d spans -> %d items in %d "
                 "requests per cycle (max_gap %d); CPU %s", self.device.name, s.host, s.port,
                 format_tsap(s.local_tsap), format_tsap(s.remote_tsap), client.pdu_size, len(cycle.points),
                 len(plan.spans), plan.items, len(plan.requests), s.max_gap, self.cpu_state)
        for line in describe(plan):
            log.debug("%s: %s", self.device.name, line)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # close must never raise
                log.debug("%s: error while closing", self.device.name, exc_info=True)

    def _require(self) -> S7Client:
        if self.client is None:
            raise DriverError("not connected")
        if not self.client.connected:
            raise DriverError(self.client.broken or "not connected")
        return self.client

    # -- planning ---------------------------------------------------------------------------
    def _point(self, tag: TagSpec) -> S7Point | TypeProblem:
        found = self._points.get(tag.name)
        if found is None or (isinstance(found, S7Point) and found.tag is not tag and found.tag != tag):
            try:
                found = resolve(tag)
            except TypeProblem as exc:
                found = exc
            self._points[tag.name] = found
        return found

    @property
    def pdu_size(self) -> int:
        """The PDU size reads are planned for: negotiated when connected, else the one asked for."""
        if self.client is not None and self.client.pdu_size:
            return self.client.pdu_size
        return self.settings.pdu_size

    def _cycle(self, tags: Sequence[TagSpec]) -> _Cycle:
        key = tuple(t.name for t in tags)
        cached = self._cycles.get(key)
        if (cached is not None and cached.plan.pdu_size == self.pdu_size
                and all(a is b or a == b for a, b in zip(cached.source, tags, strict=True))):
            self._cycles.move_to_end(key)
            return cached
        points = tuple(p for p in (self._point(t) for t in tags) if isinstance(p, S7Point))
        blocks = [Block(n, p.area_code, p.address.db, p.start, p.size, alone=p.tag.name in self._isolated)
                  for n, p in enumerate(points)]
        plan = plan_reads(blocks, self.pdu_size, self.settings.max_gap, self.settings.max_items)
        where: list[tuple[int, int]] = [(0, 0)] * len(points)
        for index, span in enumerate(plan.spans):
            for k in span.keys:
                assert isinstance(k, int)
                where[k] = (index, points[k].start - span.start)
        cycle = _Cycle(plan, points, tuple(where), tuple(tags))
        self._cycles[key] = cycle
        if len(self._cycles) > _PLAN_CACHE:
            self._cycles.popitem(last=False)
        return cycle

    def plan(self, tags: Sequence[TagSpec]) -> list[PlannedRequest]:
        cycle = self._cycle([t for t in tags if t.readable])
        out = []
        for line, request in zip(describe(cycle.plan), cycle.plan.requests, strict=True):
            spans = {i.span for i in request.items}
            names = tuple(p.tag.name for p, (s, off) in zip(cycle.points, cycle.where, strict=True)
                          if s in spans and any(i.span == s and i.offset < off + p.size and off < i.offset + i.size
                                                for i in request.items))
            detail = {"items": [{"area": i.area, "db": i.db, "start": i.start, "size": i.size} for i in request.items],
                      "request_bytes": request.request_bytes, "reply_bytes": request.reply_bytes,
                      "pdu_size": cycle.plan.pdu_size}
            out.append(PlannedRequest(line, names, detail))
        return out

    # -- reading ----------------------------------------------------------------------------
    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        self._require()
        ts = now_ts()
        by_name = await self._read_tags(tags, ts, isolate=True)
        state = await self._read_cpu_state()
        self.reads += 1
        caveat = _NOT_RUN.get(state) if state else None
        out = []
        for t in tags:
            sample = by_name[t.name]
            if caveat and sample.quality != BAD:
                sample.quality, sample.error = UNCERTAIN, caveat
            out.append(sample)
        return out

    async def _read_tags(self, tags: Sequence[TagSpec], ts: float, isolate: bool) -> dict[str, Sample]:
        client = self._require()
        dev = self.device.name
        out: dict[str, Sample] = {}
        readable = [t for t in tags if t.readable]
        cycle = self._cycle(readable)
        if len(cycle.points) != len(tags):  # some tags cannot be read at all: say why
            for t in tags:
                p = self._point(t)
                if isinstance(p, TypeProblem):
                    out[t.name] = Sample.bad(dev, t.name, f"config: {p.field}: {p}", ts)
                elif not t.readable:
                    out[t.name] = Sample.bad(dev, t.name, f"tag {t.name} is write-only (access: w)", ts)
        if isolate:
            self._last = cycle
        buffers, failures = await self._execute(client, cycle.plan)
        retry: list[TagSpec] = []
        for p, (span, off) in zip(cycle.points, cycle.where, strict=True):
            name = p.tag.name
            hit = None
            if failures and span in failures:
                hit = next((f for f in failures[span] if f.lo < off + p.size and off < f.hi), None)
            if hit is None:
                try:
                    raw = p.decode(buffers[span], off)
                except (ValueError, IndexError, struct.error) as exc:
                    out[name] = Sample.bad(dev, name, f"cannot decode {p.type.name} at {p.address}: {exc}", ts)
                    continue
                if p.tag.scale is not None or p.tag.offset is not None:
                    raw = codec.scale_to_engineering(raw, p.tag.scale, p.tag.offset)
                out[name] = Sample(dev, name, raw, GOOD, ts)
            elif (isolate and hit.code == ITEM_ADDRESS and name not in self._isolated
                  and len(cycle.plan.spans[span].keys) > 1):
                retry.append(p.tag)
            else:
                reason = hit.reason or item_reason(hit.code or 0, str(p.address), p.address.area_name())
                out[name] = Sample.bad(dev, name, reason, ts)
        if retry:
            # a merged span ran past the end of a DB: read its tags on their own, now and from now on
            self._isolated.update(t.name for t in retry)
            self._cycles.clear()
            log.warning("%s: %d tags share a span with an address out of range; reading them one by one",
                        dev, len(retry))
            out.update(await self._read_tags(retry, ts, isolate=False))
            if isolate:
                self._last = self._cycle(readable)
        return out

    async def _execute(self, client: S7Client, plan: ReadPlan) -> tuple[list[bytearray], dict[int, list[_Failure]]]:
        buffers = [bytearray(s.size) for s in plan.spans]
        failures: dict[int, list[_Failure]] = {}
        for request in plan.requests:
            try:
                results = await client.read_vars([(i.area, i.db, i.start, i.size) for i in request.items])
            except S7Refused as exc:
                for i in request.items:
                    failures.setdefault(i.span, []).append(_Failure(i.offset, i.offset + i.size, None, str(exc)))
                continue
            for i, r in zip(request.items, results, strict=True):
                if r.code == ITEM_OK and len(r.data) == i.size:
                    buffers[i.span][i.offset: i.offset + i.size] = r.data
                    continue
                reason = None if r.code != ITEM_OK else f"PLC returned {len(r.data)} of {i.size} bytes"
                failures.setdefault(i.span, []).append(_Failure(i.offset, i.offset + i.size, r.code, reason))
        return buffers, failures

    async def _read_cpu_state(self) -> str | None:
        """The operating mode, re-read every `cpu_state_interval`; None when not known."""
        interval = self.settings.cpu_state_interval
        client = self.client
        if interval is None or client is None or not self._state_supported:
            return None
        now = time.monotonic()
        if self._state_at is not None and now - self._state_at < interval:
            return self.cpu_state
        state = await client.cpu_state()
        self._state_at = now
        if state is None:
            self._state_supported = False
            self.cpu_state = "not reported"
            log.info("%s: PLC does not report its operating mode (SZL 0x0424); samples are not checked "
                     "against STOP", self.device.name)
            return None
        if state != self.cpu_state:
            level = logging.INFO if state == "run" else logging.WARNING
            log.log(level, "%s: CPU is in %s", self.device.name, state.upper())
        self.cpu_state = state
        return state

    # -- writing ----------------------------------------------------------------------------
    async def write(self, tag: TagSpec, value: Any) -> None:
        if not tag.writable:
            raise TagError(f"tag {tag.name} is read-only (access: {tag.access.value})")
        client = self._require()
        p = self._point(tag)
        if isinstance(p, TypeProblem):
            raise TagError(f"tag {tag.name}: {p.field}: {p}")
        a = p.address
        try:
            if p.type.codec_type == "bool":
                bit = pack_bit(codec.coerce(value, "bool"))
                await self._write(client, p, a.byte * 8 + (a.bit or 0), S7WordLen.BIT, bit)
            elif p.type.codec_type == "string":
                await self._write_string(client, p, value)
            else:
                await self._write(client, p, a.byte, S7WordLen.BYTE, p.encode_value(value))
        except codec.CodecError as exc:
            scaled = " (as raw value (value - offset) / scale)" if tag.scale is not None or tag.offset is not None \
                else ""
            raise TagError(f"tag {tag.name} ({p.type.name}): {exc}{scaled}") from None
        except S7Refused as exc:
            raise TagError(f"tag {tag.name}: {exc}") from None
        self.writes += 1

    async def _write(self, client: S7Client, p: S7Point, start: int, word_len: S7WordLen, data: bytes) -> None:
        code = await client.write_var(p.area_code, p.address.db, start, word_len, data)
        if code != ITEM_OK:
            raise TagError(f"tag {p.tag.name}: {item_reason(code, str(p.address), p.address.area_name())}")

    async def _write_string(self, client: S7Client, p: S7Point, value: Any) -> None:
        a = p.address
        head = (await client.read_vars([(p.area_code, a.db, a.byte, 1)]))[0]
        if head.code != ITEM_OK or not head.data:
            raise TagError(f"tag {p.tag.name}: cannot read the string's declared length: "
                           f"{item_reason(head.code, str(a), a.area_name())}")
        declared = head.data[0]
        capacity = min(p.length, declared) if declared else p.length
        payload = p.encode_text(value, capacity)
        room = client.max_write_bytes()
        if len(payload) <= room:
            await self._write(client, p, a.byte + 1, S7WordLen.BYTE, payload)
            return
        # too long for one request: the characters first, the current length last
        for pos in range(1, len(payload), room):
            await self._write(client, p, a.byte + 1 + pos, S7WordLen.BYTE, payload[pos: pos + room])
        await self._write(client, p, a.byte + 1, S7WordLen.BYTE, payload[:1])

    # -- statistics -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        s = self.settings
        client = self.client
        d: dict[str, Any] = {
            "pdu_size": client.pdu_size if client is not None else None,
            "pdu_requested": s.pdu_size,
            "local_tsap": format_tsap(s.local_tsap),
            "remote_tsap": format_tsap(s.remote_tsap),
            "cpu_state": self.cpu_state,
            "reads": self.reads,
            "writes": self.writes,
            "connects": self.connects,
            "isolated_tags": sorted(self._isolated),
        }
        if client is not None:
            d.update(requests=client.requests, bytes_out=client.bytes_out, bytes_in=client.bytes_in)
        if self._last is not None:
            plan = self._last.plan
            d["plan"] = {"tags": len(self._last.points), "spans": len(plan.spans), "items": plan.items,
                         "requests_per_cycle": len(plan.requests), "payload_bytes": plan.payload_bytes,
                         "max_gap": s.max_gap}
        return d
