"""The Modbus driver: TCP, RTU over a serial line, and RTU framing over TCP.

A read runs a cached plan: the requests the planner chose for exactly this list of tags, each
with a block decoder compiled for its tags, so a cycle costs one request per span plus one
`struct` call and one sample per tag. A span answered with ILLEGAL DATA ADDRESS is bisected
in the same cycle (the good tags in it are still read); what bisection learns about the
device's holes is kept on the connection and the plans are rebuilt around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from devices.model import GOOD, DeviceSpec, Sample, TagSpec
from drivers.base import ConfigProblem, Driver, DriverError, PlannedRequest, TagError
from drivers.codec import BlockDecoder, CodecError, coerce, swap16
from drivers.modbus import planner
from drivers.modbus.planner import Holes, Item, Span
from drivers.modbus.points import Point, PointError, check_point, compile_point
from drivers.modbus.settings import (
    PlanOptions,
    check_connection,
    check_options,
    connection_settings,
    plan_options,
)
from drivers.modbus.transport import (
    ILLEGAL_ADDRESS,
    BadResponse,
    Counters,
    Link,
    ModbusExceptionResponse,
    acquire_link,
    release_link,
)

log = logging.getLogger(__name__)

_PLAN_CACHE_SIZE = 32
_POINT_CACHE_SIZE = 65536


@dataclass(slots=True)
class _Job:
    """One span of a plan, ready to run: which tags it serves and how their values are made."""

    span: Span
    names: tuple[str, ...]
    slots: tuple[int, ...]  # each tag's position in the read's tag list
    scales: tuple[tuple[int, float, float], ...]  # (index in this job, scale, offset)
    decoder: BlockDecoder | None  # register tables
    bit_offsets: tuple[int, ...]  # coil / discrete-input tables


@dataclass(slots=True)
class _Plan:
    tags: tuple[TagSpec, ...]  # held so the id()-based cache key stays unique
    jobs: list[_Job]
    fixed: list[tuple[int, str]]  # (slot, error) for tags that cannot be read at all
    holes_version: int
    reorder: Callable[[Sequence[Sample]], Sequence[Sample]] | None
    """Samples come out job by job (then `fixed`); this puts them back in the order asked for."""


class ModbusDriver(Driver):
    name = "modbus"

    def __init__(self, device: DeviceSpec) -> None:
        super().__init__(device)
        self.settings = connection_settings(device.connection, device.timeout)
        self.options: PlanOptions = plan_options(device.options)
        self.unit = self.settings.unit
        self.timeout = self.settings.timeout
        self.counters = Counters()
        self._link: Link | None = None
        self._points: dict[int, tuple[TagSpec, Point | PointError]] = {}
        self._plans: dict[tuple[int, ...], _Plan] = {}
        self._last_plan: tuple[int, int] = (0, 0)

    # -- configuration checks --------------------------------------------------------------
    @classmethod
    def check_connection(cls, connection: Mapping[str, Any]) -> list[ConfigProblem]:
        return check_connection(connection)

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[ConfigProblem]:
        return check_options(options)

    @classmethod
    def check_tag(cls, tag: TagSpec, options: Mapping[str, Any]) -> list[ConfigProblem]:
        opts = plan_options(options) if not check_options(options) else None
        return check_point(tag, opts)

    # -- lifecycle -------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._link is None:
            self._link = acquire_link(self.settings)
        try:
            await self._link.open(max(2.0 * self.timeout, 1.0))
        except BaseException:
            await self.close()
            raise
        readable = [t for t in self.device.tags if t.readable]
        spans = self.plan(readable)
        log.info("%s: %d requests for %d tags (%s unit %d)", self.device.name, len(spans), len(readable),
                 self.settings.describe(), self.unit)
        for req in spans:
            log.debug("%s: %s", self.device.name, req.description)

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            try:
                release_link(link)
            except Exception:  # closing must never fail
                log.debug("closing %s failed", self.settings.describe(), exc_info=True)

    # -- planning --------------------------------------------------------------------------
    def _point(self, tag: TagSpec) -> Point | PointError:
        entry = self._points.get(id(tag))
        if entry is None or entry[0] is not tag:
            try:
                point: Point | PointError = compile_point(tag)
            except PointError as exc:
                point = exc
            if len(self._points) >= _POINT_CACHE_SIZE:
                self._points.clear()
            entry = self._points[id(tag)] = (tag, point)
        return entry[1]

    @property
    def _holes(self) -> Holes:
        return self._link.holes if self._link is not None else _NO_HOLES

    def _spans(self, tags: Sequence[TagSpec]) -> tuple[list[Span], list[tuple[int, str]], list[Point | PointError]]:
        items: list[Item] = []
        fixed: list[tuple[int, str]] = []
        points: list[Point | PointError] = []
        for slot, tag in enumerate(tags):
            point = self._point(tag)
            points.append(point)
            if isinstance(point, PointError):
                fixed.append((slot, str(point)))
            elif not point.readable:
                fixed.append((slot, f"tag {tag.name} is write-only (access: w)"))
            else:
                items.append(Item(slot, self.unit, point.table, point.address, point.count))
        return planner.plan(items, self.options, self._holes), fixed, points

    def plan(self, tags: Sequence[TagSpec]) -> list[PlannedRequest]:
        spans, _, _ = self._spans(tags)
        return [
            PlannedRequest(
                s.describe(),
                tuple(tags[i.key].name for i in s.items),
                {"unit": s.unit, "table": s.table.prefix, "function": s.table.read_fc,
                 "start": s.start, "count": s.count},
            )
            for s in spans
        ]

    def _job(self, span: Span, tags: Sequence[TagSpec], points: Sequence[Point | PointError]) -> _Job:
        """Compile one span; its items are always tags whose point compiled."""
        slots = tuple(i.key for i in span.items)
        pts = [p for p in (points[s] for s in slots) if isinstance(p, Point)]
        scales = tuple((i, *lin) for i, lin in enumerate(p.linear for p in pts) if lin is not None)
        decoder = None if span.table.is_bits else BlockDecoder([p.block_field(span.start) for p in pts])
        offsets = tuple(p.address - span.start for p in pts) if span.table.is_bits else ()
        return _Job(span, tuple(tags[s].name for s in slots), slots, scales, decoder, offsets)

    def _plan_for(self, tags: Sequence[TagSpec]) -> _Plan:
        holes = self._holes
        key = tuple(map(id, tags))
        plan = self._plans.get(key)
        if plan is not None and plan.holes_version == holes.version:
            return plan
        spans, fixed, points = self._spans(tags)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        jobs = [self._job(s, tags, points) for s in spans]
        produced = [slot for job in jobs for slot in job.slots] + [slot for slot, _ in fixed]
        where = {slot: i for i, slot in enumerate(produced)}
        order = [where[slot] for slot in range(len(tags))]
        reorder = itemgetter(*order) if order != list(range(len(order))) else None
        plan = self._plans[key] = _Plan(tuple(tags), jobs, fixed, holes.version, reorder)
        self._last_plan = (len(spans), len(tags) - len(fixed))
        return plan

    # -- data ------------------------------------------------------------------------------
    def _require_link(self) -> Link:
        link = self._link
        if link is None:
            raise DriverError(f"{self.device.name}: not connected")
        return link

    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        link = self._require_link()
        plan = self._plan_for(tags)
        parts: list[list[Sample]] = []
        for job in plan.jobs:
            try:
                parts.append(await self._run(link, job))
            except ModbusExceptionResponse as exc:
                if exc.code == ILLEGAL_ADDRESS:
                    got: dict[int, Sample] = {}
                    await self._bisect(link, job, tags, got)
                    parts.append([got[slot] for slot in job.slots])
                else:
                    parts.append(self._bad(job, f"{exc} reading {_where(job.span)}"))
            except BadResponse as exc:
                parts.append(self._bad(job, str(exc)))
        if plan.fixed:
            now = time.time()
            parts.append([Sample.bad(self.device.name, tags[slot].name, error, now) for slot, error in plan.fixed])
        samples = parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))
        return samples if plan.reorder is None else list(plan.reorder(samples))

    async def _run(self, link: Link, job: _Job) -> list[Sample]:
        """The hot path: one request, one block decode, samples made by `map` (no per-tag bytecode
        beyond the sample itself), in the job's order."""
        span = job.span
        decoder = job.decoder
        values: Sequence[Any]
        if decoder is not None:
            block = await link.read_registers(self.unit, span.table, span.start, span.count, self.timeout,
                                              self.counters)
            values = decoder.decode(block, swap16(block) if decoder.needs_swapped else None)
        else:
            bits = await link.read_bits(self.unit, span.table, span.start, span.count, self.timeout, self.counters)
            values = [bits[o] for o in job.bit_offsets]
        if job.scales:
            values = list(values)
            for i, scale, offset in job.scales:
                values[i] = values[i] * scale + offset
        n = len(job.names)
        return list(map(Sample, repeat(self.device.name, n), job.names, values, repeat(GOOD, n),
                        repeat(time.time(), n)))

    def _bad(self, job: _Job, error: str) -> list[Sample]:
        now = time.time()
        device = self.device.name
        return [Sample.bad(device, name, error, now) for name in job.names]

    async def _bisect(self, link: Link, job: _Job, tags: Sequence[TagSpec], got: dict[int, Sample]) -> bool:
        """Find what a refused span trips over and read everything else into `got` (by slot).
        True when nothing in `job` itself is unreadable (the refusal came from between its parts)."""
        span = job.span
        parts = planner.split(span)
        if parts is None:
            if link.holes.add(span.unit, span.table, span.start, span.end):
                log.warning("%s: %s is refused (ILLEGAL_ADDRESS); reading it on its own from now on",
                            self.device.name, _where(span))
            got.update(zip(job.slots, self._bad(job, f"{ModbusExceptionResponse(ILLEGAL_ADDRESS)} reading "
                                                     f"{_where(span)}"), strict=True))
            return False
        points = [self._point(t) for t in tags]
        clean = True
        for part in parts:
            sub = self._job(part, tags, points)
            try:
                got.update(zip(sub.slots, await self._run(link, sub), strict=True))
            except ModbusExceptionResponse as exc:
                if exc.code == ILLEGAL_ADDRESS:
                    await self._bisect(link, sub, tags, got)
                else:
                    got.update(zip(sub.slots, self._bad(sub, f"{exc} reading {_where(part)}"), strict=True))
                clean = False
            except BadResponse as exc:
                got.update(zip(sub.slots, self._bad(sub, str(exc)), strict=True))
                clean = False
        if clean:
            left, right = parts
            p = span.table.prefix
            if right.start > left.end:
                learned = link.holes.add(span.unit, span.table, left.end, right.start)
                what = f"reads over {p}{left.end}-{p}{right.start - 1}"
            else:
                learned = link.holes.add_barrier(span.unit, span.table, right.start)
                what = f"reads running from {p}{left.end - 1} into {p}{right.start}"
            if learned:
                log.warning("%s: unit %d refuses %s (ILLEGAL_ADDRESS); requests no longer bridge them",
                            self.device.name, span.unit, what)
        return clean

    async def write(self, tag: TagSpec, value: Any) -> None:
        if not tag.writable:
            raise TagError(f"tag {tag.name} is read-only (access: {tag.access.value})")
        point = self._point(tag)
        if isinstance(point, PointError):
            raise TagError(str(point))
        link = self._require_link()
        opts = self.options
        try:
            if point.table.is_bits:
                await link.write_coil(self.unit, point.address, coerce(value, "bool"), self.timeout, self.counters,
                                      multiple=opts.force_multiple_write)
            elif point.where.bit is not None:
                await link.write_bit(self.unit, point.address, point.where.bit, coerce(value, "bool"), self.timeout,
                                     self.counters, mask_write=opts.mask_write, multiple=opts.force_multiple_write)
            else:
                await link.write_registers(self.unit, point.address, point.encode_registers(value), self.timeout,
                                           self.counters, multiple=opts.force_multiple_write)
        except CodecError as exc:
            raise TagError(f"tag {tag.name}: cannot write {value!r}: {exc}") from None
        except ModbusExceptionResponse as exc:
            raise TagError(f"tag {tag.name}: write to {point.where} refused: {exc}") from None
        except BadResponse as exc:
            raise TagError(f"tag {tag.name}: {exc}") from None

    def stats(self) -> dict[str, Any]:
        c = self.counters
        holes = self._holes
        link = self._link
        return {
            "requests": c.requests,
            "errors": c.errors,
            "timeouts": c.timeouts,
            "last_rtt_ms": c.last_rtt_ms,
            "holes": len(holes),
            "hole_ranges": holes.describe(),
            "plan_requests": self._last_plan[0],
            "plan_tags": self._last_plan[1],
            "connection": self.settings.describe(),
            "unit": self.unit,
            "shared_by": link.refs if link is not None else 0,
        }


_NO_HOLES = Holes()


def _where(span: Span) -> str:
    p = span.table.prefix
    last = f"-{p}{span.end - 1}" if span.count > 1 else ""
    return f"{p}{span.start}{last} (unit {span.unit})"
