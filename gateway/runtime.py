"""The gateway runtime: one supervised asyncio task per device, knowing no protocol.

Each device loop owns its driver instance, its own schedule and its own reconnect back-off, so a
slow, hanging or dead device can only ever cost its own cycles. Every exception inside a loop is
caught, logged once per state change, and turned into `bad` samples for that device's tags.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from devices.model import DeviceSpec, Sample, TagSpec, now_ts
from drivers import registry
from drivers.base import Driver, TagError
from gateway.backoff import Backoff
from gateway.filters import ChangeFilter
from gateway.outlet import Outlet, WriteHandler
from gateway.settings import GatewayConfig

log = logging.getLogger("minegate.gateway")

DriverFactory = Callable[[DeviceSpec], Driver]


def default_factory(spec: DeviceSpec) -> Driver:
    return registry.driver_class(spec.driver)(spec)


@dataclass
class DeviceStats:
    state: str = "down"
    since: float = field(default_factory=now_ts)
    error: str | None = "not connected yet"
    connects: int = 0
    reads: int = 0
    read_errors: int = 0
    bad_samples: int = 0
    samples_published: int = 0
    overruns: int = 0
    last_rtt_ms: float | None = None
    last_error: str | None = None
    last_read: float | None = None


class NullOutlet:
    """Used when no northbound sink is configured: counts what would have been published."""

    def __init__(self) -> None:
        self.batches = 0
        self.samples = 0

    async def start(self, write_handler: WriteHandler | None) -> None:
        return None

    async def submit(self, device: str, samples: Sequence[Sample]) -> None:
        self.batches += 1
        self.samples += len(samples)

    def device_state(self, device: str, up: bool, since: float, error: str | None) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {"batches": self.batches, "samples": self.samples}

    async def stop(self) -> None:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, (TagError, ConnectionError)) else f"{type(exc).__name__}: {text}" \
        if str(exc) else text


class DeviceRunner:
    """Polls (and subscribes) one device until cancelled, reconnecting forever with back-off."""

    def __init__(self, spec: DeviceSpec, outlet: Outlet, factory: DriverFactory = default_factory,
                 backoff_cap: float = 30.0) -> None:
        self.spec = spec
        self.outlet = outlet
        self.factory = factory
        self.backoff = Backoff(initial=min(0.5, backoff_cap), cap=backoff_cap)
        self.stats = DeviceStats()
        self.driver: Driver | None = None
        self.filter = ChangeFilter(spec.tags, spec.heartbeat)
        self._lock = asyncio.Lock()  # one request at a time on a driver: reads and writes interleave safely
        self._driver_stats: dict[str, Any] = {}
        self.read_timeout = float(spec.options.get("read_timeout", max(3 * spec.timeout, 2 * spec.interval, 2.0)))

    # -- state ------------------------------------------------------------------------------
    def _set_state(self, up: bool, error: str | None) -> None:
        state = "up" if up else "down"
        if self.stats.state == state and self.stats.error == error:
            return
        changed = self.stats.state != state
        self.stats.state, self.stats.error = state, error
        if changed:
            self.stats.since = now_ts()
        if up:
            log.info("device up", extra={"event": "device.up", "device": self.spec.name})
        else:
            self.stats.last_error = error
            log.warning("device down: %s", error, extra={"event": "device.down", "device": self.spec.name,
                                                          "error": error})
        self.outlet.device_state(self.spec.name, up, self.stats.since, error)

    async def _publish(self, samples: Sequence[Sample]) -> tuple[int, str | None]:
        """Publish what the filter lets through; returns the batch's bad count and first error."""
        selected = self.filter.select(samples, time.monotonic())
        found = self.filter.bad, self.filter.error  # read before awaiting: another loop may filter meanwhile
        if selected:
            self.stats.samples_published += len(selected)
            await self.outlet.submit(self.spec.name, selected)
        return found

    async def _publish_bad(self, tags: Sequence[TagSpec], error: str) -> None:
        ts = now_ts()
        self.stats.bad_samples += len(tags)
        await self._publish([Sample.bad(self.spec.name, t.name, error, ts) for t in tags if t.readable])

    # -- main loop --------------------------------------------------------------------------
    async def run(self) -> None:
        readable = [t for t in self.spec.tags if t.readable]
        while True:
            driver = None
            try:
                driver = self.factory(self.spec)
                await asyncio.wait_for(driver.connect(), timeout=max(3 * self.spec.timeout, 5.0))
            except asyncio.CancelledError:
                if driver is not None:
                    await _close(driver)
                raise
            except Exception as exc:
                error = "connect timed out" if isinstance(exc, TimeoutError) else f"connect failed: {_describe(exc)}"
                await self._fail(driver, readable, error)
                continue
            self.driver = driver
            self.stats.connects += 1
            self.backoff.reset()
            self.filter.forget()
            self._set_state(True, None)
            try:
                await self._serve(driver, readable)
            except asyncio.CancelledError:
                await _close(driver)
                self.driver = None
                raise
            except Exception as exc:
                error = "read timed out (device not answering)" if isinstance(exc, TimeoutError) else _describe(exc)
                await self._fail(driver, readable, error)

    async def _fail(self, driver: Driver | None, tags: Sequence[TagSpec], error: str) -> None:
        self._set_state(False, error)
        self.driver = None
        if driver is not None:
            self._driver_stats = _safe_stats(driver)
            await _close(driver)
        await self._publish_bad(tags, error)
        await asyncio.sleep(self.backoff.next_delay())

    async def _serve(self, driver: Driver, readable: Sequence[TagSpec]) -> None:
        subscribed = [t for t in readable if driver.supports_subscribe and t.mode != "poll"]
        polled = [t for t in readable if t not in subscribed]
        failure: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        pending: list[asyncio.Task[None]] = []
        if subscribed:
            queue: asyncio.Queue[list[Sample]] = asyncio.Queue()
            await driver.subscribe(subscribed, queue.put_nowait)
            pending.append(asyncio.create_task(self._drain(queue)))
        groups: dict[float, list[TagSpec]] = {}
        for t in polled:
            groups.setdefault(t.interval or self.spec.interval, []).append(t)
        for interval, tags in groups.items():
            pending.append(asyncio.create_task(self._poll(driver, interval, tags, failure)))
        if not pending:
            await asyncio.Event().wait()
        try:
            done = await failure
            raise done
        finally:
            for task in pending:
                task.cancel()
            # gather, not a suppress() per task: a stop() arriving during this cleanup must still
            # cancel the device loop instead of being swallowed with the children's cancellations.
            await asyncio.gather(*pending, return_exceptions=True)

    async def _drain(self, queue: asyncio.Queue[list[Sample]]) -> None:
        while True:
            batch = await queue.get()
            await self._publish(batch)

    async def _poll(self, driver: Driver, interval: float, tags: Sequence[TagSpec],
                    failure: asyncio.Future[BaseException]) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while True:
                started = loop.time()
                async with self._lock:
                    # a timeout scope rather than wait_for: no extra task per cycle
                    async with asyncio.timeout(self.read_timeout):
                        samples = await driver.read(tags)
                done = loop.time()
                stats = self.stats
                stats.reads += 1
                stats.last_read = time.time()
                stats.last_rtt_ms = round((done - started) * 1000, 3)
                bad, error = await self._publish(samples)  # bad samples are counted in the filter's pass
                if bad:
                    stats.bad_samples += bad
                    stats.read_errors += 1
                    stats.last_error = error
                due += interval
                now = loop.time()
                if now > due:
                    missed = int((now - due) // interval) + 1
                    self.stats.overruns += missed
                    due += missed * interval
                await asyncio.sleep(due - now)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not failure.done():
                failure.set_result(exc)

    async def write(self, tag_name: str, value: Any) -> Sample:
        """Write an engineering value and read it back (when the tag is readable)."""
        tag = self.spec.tag(tag_name)
        if not tag.writable:
            raise TagError(f"tag {tag_name} is read-only (access: {tag.access.value})")
        driver = self.driver
        if driver is None or self.stats.state != "up":
            raise TagError(f"device {self.spec.name} is down: {self.stats.error}")
        async with self._lock:
            await asyncio.wait_for(driver.write(tag, value), timeout=self.read_timeout)
            if not tag.readable:
                return Sample(self.spec.name, tag.name, value)
            samples = await asyncio.wait_for(driver.read([tag]), timeout=self.read_timeout)
        return samples[0]

    def snapshot(self) -> dict[str, Any]:
        d = asdict(self.stats)
        driver = self.driver
        d["driver"] = _safe_stats(driver) if driver is not None else self._driver_stats
        d["interval"] = self.spec.interval
        d["tags"] = len(self.spec.tags)
        return d


def _safe_stats(driver: Driver) -> dict[str, Any]:
    try:
        return dict(driver.stats())
    except Exception as exc:
        return {"error": str(exc)}


async def _close(driver: Driver) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(driver.close(), timeout=5.0)


GC_YOUNG_THRESHOLD = 50_000
GC_FREEZE_AFTER = 10.0
_gc_frozen = False


def tune_gc(young: int = GC_YOUNG_THRESHOLD) -> None:
    """Collect young objects in larger steps.

    Every poll cycle allocates a sample per tag and keeps a whole batch alive while it is
    filtered and encoded; with Python's default young-generation threshold (700 allocations) the
    cycle collector then runs hundreds of times a second and re-scans those live batches, which
    measured about 40 % of the gateway's CPU at 10,000 tags/s. Reference cycles are still
    collected, only less often.
    """
    g0, g1, g2 = gc.get_threshold()
    if 0 < g0 < young:
        gc.set_threshold(young, g1, g2)


def freeze_startup_objects() -> None:
    """Move what exists once the devices run (config, tag specs, request plans, decoders) out of
    the collector's reach, so full collections scan only what the cycles create; once per process."""
    global _gc_frozen
    if not _gc_frozen:
        _gc_frozen = True
        gc.freeze()


class Gateway:
    """All device loops of one config plus the outlet they publish to."""

    def __init__(self, config: GatewayConfig, outlet: Outlet | None = None,
                 factory: DriverFactory = default_factory, backoff_cap: float = 30.0,
                 tune_memory: bool = True) -> None:
        self.config = config
        self.outlet: Outlet = outlet if outlet is not None else NullOutlet()
        self.runners = {d.name: DeviceRunner(d, self.outlet, factory, backoff_cap) for d in config.devices}
        self._tasks: list[asyncio.Task[None]] = []
        self.started = now_ts()
        self.tune_memory = tune_memory
        self._freeze: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        await self.outlet.start(self.write)
        if self.tune_memory:
            tune_gc()
            self._freeze = asyncio.get_running_loop().call_later(GC_FREEZE_AFTER, freeze_startup_objects)
        for name, runner in self.runners.items():
            self._tasks.append(asyncio.create_task(runner.run(), name=f"device:{name}"))
        log.info("gateway started with %d devices", len(self.runners),
                 extra={"event": "gateway.start", "gateway": self.config.id})

    async def write(self, device: str, tag: str, value: Any) -> Sample:
        runner = self.runners.get(device)
        if runner is None:
            raise TagError(f"no device {device!r}")
        return await runner.write(tag, value)

    async def stop(self) -> None:
        if self._freeze is not None:
            self._freeze.cancel()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.outlet.stop()
        log.info("gateway stopped", extra={"event": "gateway.stop", "gateway": self.config.id})

    def stats(self) -> dict[str, Any]:
        return {
            "gateway": self.config.id,
            "enterprise": self.config.enterprise,
            "uptime_s": round(now_ts() - self.started, 3),
            "devices": {name: r.snapshot() for name, r in self.runners.items()},
            "northbound": _outlet_stats(self.outlet),
        }


def _outlet_stats(outlet: Outlet) -> dict[str, Any]:
    try:
        return dict(outlet.stats())
    except Exception as exc:
        return {"error": str(exc)}
