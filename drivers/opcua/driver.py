"""`driver: opcua` — subscriptions and polling over one session, secured, and self-healing.

The runtime sees the usual Driver contract. On top of it this driver heals itself once connected:
a supervisor task notices a lost session (or a subscription gone silent), publishes every
subscribed tag as `bad` with the reason, reconnects with back-off and re-creates every
subscription — so a PLC restart needs no gateway restart, whether or not the runtime also calls
`close()`/`connect()` (both paths end in the same state; `subscribe` is idempotent per tag name).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

from asyncua import ua

from devices.model import DeviceSpec, Sample, TagSpec, now_ts
from drivers.base import ConfigProblem, Driver, DriverError, PlannedRequest, SampleCallback, TagError
from drivers.opcua.browse import browse as browse_server
from drivers.opcua.limits import OperationLimits, chunks
from drivers.opcua.nodeid import NodeAddress, NodeIdError, parse_nodeid
from drivers.opcua.poller import Poller
from drivers.opcua.security import describe
from drivers.opcua.session import Session
from drivers.opcua.settings import (
    TAG_MODES,
    ConnectionSettings,
    parse_connection,
    parse_options,
    tag_mode,
)
from drivers.opcua.subscriptions import SubscriptionManager
from drivers.opcua.typemap import WriteValueError, status_name, status_text, to_sample, to_variant

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
SUPERVISOR_TICK = 0.25
_READ_ONLY_CODES = {ua.StatusCodes.BadNotWritable, ua.StatusCodes.BadUserAccessDenied,
                    ua.StatusCodes.BadWriteNotSupported}


class OpcUaDriver(Driver):
    name = "opcua"
    supports_subscribe = True

    def __init__(self, device: DeviceSpec) -> None:
        super().__init__(device)
        settings, problems = parse_connection(device.connection)
        self.options, option_problems = parse_options(device.options)
        self._problems = problems + option_problems
        self.settings: ConnectionSettings = settings or ConnectionSettings(endpoint="opc.tcp://invalid:4840")
        self._session: Session | None = None
        self._subs = SubscriptionManager(device.name, self.options, device.interval, self.settings.timeout)
        self._poller = Poller(device.name, self._read_for_poller, device.interval)
        self._supervisor: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._addresses: dict[str, tuple[NodeAddress | None, str | None]] = {}
        self.last_error: str | None = None
        self.reconnects = 0
        self.reads = 0

    # -- configuration checks ------------------------------------------------------------------
    @classmethod
    def check_connection(cls, connection: Mapping[str, Any]) -> list[ConfigProblem]:
        return parse_connection(connection)[1]

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> list[ConfigProblem]:
        return parse_options(options)[1]

    @classmethod
    def check_tag(cls, tag: TagSpec, options: Mapping[str, Any]) -> list[ConfigProblem]:
        problems = []
        try:
            parse_nodeid(tag.address)
        except NodeIdError as exc:
            problems.append(ConfigProblem("address", str(exc)))
        if tag.mode is not None and tag.mode not in TAG_MODES:
            problems.append(ConfigProblem("mode", f"unknown mode {tag.mode!r} (allowed: {', '.join(TAG_MODES)})"))
        if tag.deadband is not None and tag.deadband < 0:
            problems.append(ConfigProblem("deadband", f"must be >= 0, got {tag.deadband}"))
        if tag.interval is not None and tag.interval <= 0:
            problems.append(ConfigProblem("interval", f"must be a positive duration, got {tag.interval}"))
        return problems

    # -- lifecycle -----------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._problems:
            listed = "; ".join(f"{p.field}: {p.message}" for p in self._problems)
            raise DriverError(f"invalid OPC UA settings: {listed}")
        await self._stop_supervisor()
        if self._session is not None and self._session.alive:
            self._start_supervisor()
            return
        await self._drop_session()
        await self._open()
        self._start_supervisor()

    async def _open(self) -> None:
        bound = self.settings.timeout * 4 + 2.0
        try:
            session = await asyncio.wait_for(Session.open(self.settings, self.options, self.device.name), bound)
        except TimeoutError:
            self.last_error = f"cannot connect to {self.settings.endpoint}: no answer within {bound:.3g}s"
            raise DriverError(self.last_error) from None
        except DriverError as exc:
            self.last_error = str(exc)
            raise
        self._session = session
        try:
            async with self._lock:
                await self._subs.attach(session)
        except Exception as exc:
            err = session.check(exc)
            self.last_error = str(err) if err else f"cannot create subscriptions: {describe(exc)}"
            await self._drop_session()
            raise DriverError(self.last_error) from None
        self._poller.start()
        self.last_error = None
        log.info("%s: connected to %s (%s), limits %s", self.device.name, self.settings.endpoint,
                 self.settings.label, session.limits.as_dict())

    async def close(self) -> None:
        try:
            await self._stop_supervisor()
            await self._poller.stop()
            await self._drop_session()
        except Exception:
            log.exception("%s: error while closing", self.device.name)

    async def _drop_session(self) -> None:
        session, self._session = self._session, None
        self._subs.detach()
        if session is not None:
            await session.close()

    def _start_supervisor(self) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(self._supervise(), name=f"opcua-supervisor-{self.device.name}")

    async def _stop_supervisor(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- self-healing --------------------------------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(SUPERVISOR_TICK)
            session = self._session
            if session is None or not session.alive:
                reason = (session.lost_reason if session else None) or f"connection to {self.settings.endpoint} lost"
                await self._recover(reason)
                continue
            try:
                async with self._lock:
                    for group in self._subs.stale_groups():
                        await self._subs.rebuild(group)
                    await self._subs.retry_failed()
            except Exception as exc:
                if session.check(exc) is None:
                    log.warning("%s: subscription maintenance failed: %s", self.device.name, describe(exc))

    async def _recover(self, reason: str) -> None:
        """Publish the loss, then reconnect with exponential back-off (jittered) until it works."""
        self.last_error = reason
        log.warning("%s: %s; reconnecting", self.device.name, reason)
        self._subs.emit_bad(reason)
        self._poller.emit_bad(reason)
        await self._drop_session()
        delay = BACKOFF_START
        while True:
            try:
                await self._open()
            except DriverError as exc:
                log.info("%s: reconnect failed: %s (next try in %.1fs)", self.device.name, exc, delay)
            else:
                self.reconnects += 1
                return
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.options.reconnect_max)

    def _require(self) -> Session:
        session = self._session
        if session is None or not session.alive:
            raise DriverError(self.last_error or (session.lost_reason if session else None) or "not connected")
        return session

    # -- data ----------------------------------------------------------------------------------
    def _address(self, tag: TagSpec) -> tuple[NodeAddress | None, str | None]:
        cached = self._addresses.get(tag.address)
        if cached is None:
            try:
                cached = (parse_nodeid(tag.address), None)
            except NodeIdError as exc:
                cached = (None, str(exc))
            self._addresses[tag.address] = cached
        return cached

    async def read(self, tags: Sequence[TagSpec]) -> list[Sample]:
        return await self._read_with(self._require(), tags)

    async def _read_for_poller(self, tags: Sequence[TagSpec]) -> list[Sample]:
        session = self._session
        if session is None or not session.alive:
            return []
        return await self._read_with(session, tags)

    async def _read_with(self, session: Session, tags: Sequence[TagSpec]) -> list[Sample]:
        now = now_ts()
        out: list[Sample | None] = [None] * len(tags)
        index: list[int] = []
        nodeids: list[ua.NodeId] = []
        for i, tag in enumerate(tags):
            address, problem = self._address(tag)
            if address is None:
                out[i] = Sample.bad(self.device.name, tag.name, problem or "invalid NodeId", now)
                continue
            try:
                nodeids.append(session.resolve(address))
            except NodeIdError as exc:
                out[i] = Sample.bad(self.device.name, tag.name, str(exc), now)
                continue
            index.append(i)
        if nodeids:
            try:
                values = await session.read(nodeids)
            except Exception as exc:
                err = session.check(exc)
                if err is not None:
                    raise err from None
                reason = describe(exc)
                for i in index:
                    out[i] = Sample.bad(self.device.name, tags[i].name, reason, now)
            else:
                self.reads += 1
                now = now_ts()
                for i, dv in zip(index, values, strict=True):
                    out[i] = to_sample(self.device.name, tags[i], dv, now)
        return [s for s in out if s is not None]

    async def subscribe(self, tags: Sequence[TagSpec], callback: SampleCallback) -> None:
        """`mode: subscribe` tags become monitored items, `mode: poll` tags are read every interval;
        calling again with the same tag names replaces them (no duplicates)."""
        polled = [t for t in tags if tag_mode(t.mode) == "poll"]
        monitored = [t for t in tags if tag_mode(t.mode) == "subscribe"]
        self._poller.unregister([t.name for t in monitored])
        async with self._lock:
            new, replaced = self._subs.register(monitored, callback)
            replaced.extend(self._subs.unregister([t.name for t in polled]))
            session = self._session
            if session is not None and session.alive:
                try:
                    await self._subs.remove(replaced)
                    await self._subs.add(new)
                except Exception as exc:
                    err = session.check(exc)
                    if err is None:
                        raise DriverError(f"cannot subscribe: {describe(exc)}") from None
                    if self._supervisor is None or self._supervisor.done():
                        raise err from None
        self._poller.register(polled, callback)
        if self._session is not None:
            self._poller.start()

    async def write(self, tag: TagSpec, value: Any) -> None:
        if not tag.writable:
            raise TagError(f"tag {tag.name} is read-only (access: {tag.access}); set access: rw to write it")
        session = self._require()
        address, problem = self._address(tag)
        if address is None:
            raise TagError(f"tag {tag.name}: {problem}")
        try:
            nodeid = session.resolve(address)
        except NodeIdError as exc:
            raise TagError(f"tag {tag.name}: {exc}") from None
        try:
            meta, current = await session.node_meta(nodeid)
        except Exception as exc:
            err = session.check(exc)
            if err is not None:
                raise err from None
            raise TagError(f"tag {tag.name}: cannot read node {tag.address}: {describe(exc)}") from None
        if not meta.writable:
            raise TagError(f"tag {tag.name}: node {tag.address} is read-only on the server"
                           " (its access level has no CurrentWrite)")
        try:
            variant = to_variant(tag, value, meta, current)
        except WriteValueError as exc:
            raise TagError(f"tag {tag.name}: {exc} (node DataType: {meta.datatype})") from None
        try:
            status = await session.write_value(nodeid, variant)
        except Exception as exc:
            err = session.check(exc)
            if err is not None:
                raise err from None
            raise TagError(f"tag {tag.name}: write failed: {describe(exc)}") from None
        if not status.is_good():
            if status.value in _READ_ONLY_CODES:
                raise TagError(f"tag {tag.name}: node {tag.address} is read-only on the server"
                               f" ({status_name(status.value)})")
            raise TagError(f"tag {tag.name}: the server refused the write: {status_text(status.value)}")

    async def browse(self, depth: int = 3) -> list[dict[str, Any]]:
        session = self._require()
        try:
            return await browse_server(session, depth)
        except Exception as exc:
            err = session.check(exc)
            raise (err or DriverError(f"browse failed: {describe(exc)}")) from None

    # -- introspection -------------------------------------------------------------------------
    @property
    def limits(self) -> OperationLimits:
        return self._session.limits if self._session is not None else OperationLimits()

    def plan(self, tags: Sequence[TagSpec]) -> list[PlannedRequest]:
        size = self.limits.max_nodes_per_read
        return [PlannedRequest(f"Read {len(batch)} nodes", tuple(t.name for t in batch),
                               {"service": "Read", "nodes": len(batch), "max_nodes_per_read": size})
                for batch in chunks(list(tags), size)]

    def stats(self) -> dict[str, Any]:
        session = self._session
        return {
            "connected": session is not None and session.alive,
            "endpoint": self.settings.endpoint,
            "security": self.settings.label,
            **self._subs.stats(),
            "polled_tags": len(self._poller.entries),
            "reads": self.reads,
            "reconnects": self.reconnects,
            "operation_limits": self.limits.as_dict(),
            "last_error": self.last_error,
        }
