"""`mode: poll` tags handed to `subscribe`: read in chunks every interval, delivered like changes.

Some servers sample badly or charge per monitored item; for those a tag says `mode: poll` and is
read with the Read service instead. One task per distinct interval, fixed-rate (a slow cycle
skips ticks rather than piling them up); while the session is down the loop idles — the
supervisor has already published the tags as bad and will reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from devices.model import Sample, TagSpec, now_ts
from drivers.base import DriverError, SampleCallback
from drivers.opcua.delivery import deliver, group_callbacks

log = logging.getLogger(__name__)

ReadFn = Callable[[Sequence[TagSpec]], Awaitable[list[Sample]]]


class Poller:
    def __init__(self, device: str, read: ReadFn, default_interval: float) -> None:
        self.device = device
        self._read = read
        self.default_interval = default_interval
        self.entries: dict[str, tuple[TagSpec, SampleCallback]] = {}
        self._tasks: dict[float, asyncio.Task[None]] = {}
        self._running = False
        self.cycles = 0

    def interval_of(self, tag: TagSpec) -> float:
        return tag.interval or self.default_interval

    def register(self, tags: Sequence[TagSpec], callback: SampleCallback) -> None:
        for tag in tags:
            if tag.readable:
                self.entries[tag.name] = (tag, callback)
        if self._running:
            self._spawn()

    def unregister(self, names: Sequence[str]) -> None:
        for name in names:
            self.entries.pop(name, None)

    def start(self) -> None:
        self._running = True
        self._spawn()

    def _spawn(self) -> None:
        for interval in {self.interval_of(t) for t, _ in self.entries.values()}:
            task = self._tasks.get(interval)
            if task is None or task.done():
                self._tasks[interval] = asyncio.create_task(self._loop(interval),
                                                            name=f"opcua-poll-{self.device}-{interval}")

    async def stop(self) -> None:
        self._running = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            entries = [e for e in self.entries.values() if self.interval_of(e[0]) == interval]
            if not entries:
                return
            try:
                samples = await self._read([t for t, _ in entries])
            except DriverError:
                samples = []  # the supervisor reports the device and reconnects
            except Exception:
                log.exception("%s: poll cycle failed", self.device)
                samples = []
            if samples:
                self.cycles += 1
                callbacks = {t.name: cb for t, cb in entries}
                deliver(group_callbacks((callbacks[s.tag], s) for s in samples if s.tag in callbacks))
            next_tick += interval
            now = loop.time()
            if next_tick < now:
                next_tick = now + interval - (now - next_tick) % interval
            await asyncio.sleep(next_tick - now)

    def emit_bad(self, reason: str) -> None:
        now = now_ts()
        deliver(group_callbacks((cb, Sample.bad(self.device, t.name, reason, now))
                                for t, cb in self.entries.values()))
