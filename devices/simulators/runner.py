"""Running simulators: one device (`start_simulator`) or a whole plant on one clock (`start_plant`).

A `SimGroup` owns the simulated clock of its simulators and, when `speed > 0`, a ticker task
that advances it at `speed` × real time; `step()` advances it by hand. Models advance tick by
tick, then every server publishes once, so a plant's devices always agree on the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import random
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from devices.profiles.spec import Profile, load_spec
from devices.simulators.base import DeviceModel
from devices.simulators.clock import Schedule, SimClock
from devices.simulators.faults import Faults
from devices.simulators.models import MODELS

__all__ = ["DEFAULT_PLANT", "Plant", "SimGroup", "Simulator", "simulated_profiles", "start_plant",
           "start_simulator"]

log = logging.getLogger(__name__)

DEFAULT_PLANT: tuple[tuple[str, str], ...] = (
    ("belt_scale_main", "belt_scale"),
    ("belt_scale_wash", "belt_scale"),
    ("truck_scale", "truck_scale"),
    ("methane_face", "methane_sensor"),
    ("co_face", "co_sensor"),
    ("dust_yard", "dust_monitor"),
    ("main_fan", "ventilation_fan"),
    ("drainage", "drainage_pump"),
    ("washer", "washing_plant"),
    ("conveyor_plc", "conveyor_plc"),
    ("power_meter", "power_meter"),
)
"""(device name, profile) of the demo site: a mine with its washing plant and weighbridge."""

_NAME = re.compile(r"^[a-z0-9_-]+$")
_YIELD_EVERY = 500  # ticks
_MAX_CATCH_UP = 10.0  # real seconds: after a stall the clock jumps at most this far (× speed)


class SimServer(Protocol):
    protocol: str
    faults_supported: tuple[str, ...]
    host: str
    port: int
    failed: set[str]
    """Points answering as failed (Modbus exception, OPC UA Bad status)."""
    out_of_range: set[str]
    """Points flagged as beyond their range where the protocol can say so (OPC UA status)."""
    silent: bool

    @property
    def connection(self) -> dict[str, Any]: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def running(self) -> bool: ...
    async def start(self, initial: Mapping[str, Any]) -> None: ...
    async def stop(self) -> None: ...
    async def set_offline(self, offline: bool) -> None: ...
    async def publish(self, values: Mapping[str, Any]) -> dict[str, Any]: ...
    def collect_writes(self) -> None: ...


SERVERS: dict[str, str] = {
    "modbus": "devices.simulators.modbus_server:ModbusSimServer",
    "opcua": "devices.simulators.opcua_server:OpcUaSimServer",
    "s7": "devices.simulators.s7_server:S7SimServer",
}
"""Imported on first use: serving Modbus does not load the OPC UA stack."""


def _server_class(driver: str) -> type[Any]:
    module, _, name = SERVERS[driver].partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def simulated_profiles() -> list[str]:
    """Profiles that have a simulator."""
    return sorted(MODELS)


def _epoch(start: datetime | float | None) -> float:
    if start is None:
        return float(math.floor(time.time()))
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise ValueError("start needs a time zone (e.g. datetime(..., tzinfo=ZoneInfo('Asia/Shanghai')))")
        return start.timestamp()
    return float(start)


class Simulator:
    """A running simulated device: its model, its protocol server and the faults in force."""

    def __init__(self, name: str, profile: Profile, model: DeviceModel, server: Any, group: SimGroup) -> None:
        self.name = name
        self.profile = profile
        self.model = model
        self.server: SimServer = server
        self.group = group
        self.fault_set = Faults()
        model.faults = self.fault_set.tags
        self._served: dict[str, Any] = {}
        self._pending: asyncio.Task[None] | None = None
        server.on_write = self._on_write
        server.notify = self._on_notify

    # -- where it is ---------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def endpoint(self) -> str:
        """`modbus-tcp://host:port`, `opc.tcp://host:port/minegate/` or `s7://host:port`."""
        return self.server.endpoint

    @property
    def connection(self) -> dict[str, Any]:
        """The `connection:` mapping a gateway config needs to reach this device."""
        return dict(self.server.connection)

    @property
    def driver(self) -> str:
        return self.profile.driver

    @property
    def now(self) -> datetime:
        """The simulated time (UTC)."""
        return datetime.fromtimestamp(self.group.clock.t, UTC)

    def device_config(self, name: str | None = None) -> dict[str, Any]:
        """A device entry for a gateway config file that polls this simulator."""
        return {
            "name": name or self.name,
            "driver": self.profile.driver,
            "connection": self.connection,
            "profile": self.profile.name,
            "interval": self.profile.data.get("interval", "1s"),
        }

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Engineering values as a driver decodes them now (after faults and encoding)."""
        return dict(self._served)

    def true_values(self) -> dict[str, Any]:
        """The physical values behind them (what the device would show without faults)."""
        return dict(self.model.v)

    def preset(self, tag: str, value: Any) -> None:
        """Force a state (e.g. a totalizer just below its maximum); served on the next publish."""
        self.model.preset(tag, value)

    async def step(self, seconds: float) -> None:
        """Advance the simulated clock (of the whole group) by `seconds`, then serve the result."""
        await self.group.step(seconds)

    async def publish(self) -> None:
        """Serve the model's current values now (after `preset`)."""
        async with self.group.lock:
            await self._publish()

    async def _publish(self) -> None:
        shown = self.fault_set.apply(self.model.v, self.model.ranges)
        self._served = await self.server.publish(shown)

    # -- client writes -------------------------------------------------------------------------
    def _on_write(self, tag: str, value: Any) -> None:
        try:
            self.model.write(tag, value)
        except Exception:  # a model must never take the server down with it
            log.exception("simulator %s: write of %s=%r failed", self.name, tag, value)

    def _on_notify(self) -> None:
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._after_write())

    async def _after_write(self) -> None:
        async with self.group.lock:
            self.server.collect_writes()
            await self._publish()

    # -- faults --------------------------------------------------------------------------------
    @property
    def faults(self) -> dict[str, str]:
        """Faults in force: tag -> kind, and `"*"` -> kind for a device fault."""
        out = dict(self.fault_set.tags)
        for kind in sorted(self.fault_set.device):
            out["*"] = kind
        return out

    async def inject_fault(self, tag: str | None, kind: str) -> None:
        """Switch a fault on: `stuck`, `out_of_range`, `failed` (per tag) or `offline`, `no_answer`.

        `FaultError` names what is allowed when the kind, the tag or the protocol does not fit.
        """
        self.fault_set.check(tag, kind, self.model.tags, self.server.faults_supported, self.model.ranges,
                             self.profile.driver)
        async with self.group.lock:
            current = self._served.get(tag) if tag is not None else None
            self.fault_set.add(tag, kind, current)
            self.model.refresh()
            await self._apply_faults()
            await self._publish()

    async def clear_fault(self, tag: str | None = None) -> None:
        """Clear the faults of `tag`, or every fault (device faults included) when `tag` is None."""
        async with self.group.lock:
            self.fault_set.clear(tag)
            self.model.refresh()
            await self._apply_faults()
            await self._publish()

    async def _apply_faults(self) -> None:
        server = self.server
        server.failed = self.fault_set.failed()
        server.out_of_range = {t for t, k in self.fault_set.tags.items() if k == "out_of_range"}
        server.silent = "no_answer" in self.fault_set.device
        await server.set_offline("offline" in self.fault_set.device)

    async def stop(self) -> None:
        """Stop serving; a standalone simulator also stops its clock."""
        if self.group.standalone:
            await self.group.stop()
        else:
            await self._stop_server()

    async def _stop_server(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pending
        await self.server.stop()


class SimGroup:
    """Simulators sharing one clock and one ticker."""

    def __init__(self, clock: SimClock, speed: float, standalone: bool = False) -> None:
        if not (speed >= 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be >= 0 (0 = only when stepped), got {speed!r}")
        self.clock = clock
        self.speed = speed
        self.standalone = standalone
        self.sims: list[Simulator] = []
        self.lock = asyncio.Lock()
        self.ticks_run = 0
        self._task: asyncio.Task[None] | None = None

    async def step(self, seconds: float) -> None:
        async with self.lock:
            for sim in self.sims:
                sim.server.collect_writes()
            n = self.clock.due(seconds)
            for i in range(n):
                for sim in self.sims:
                    sim.model.advance(self.clock.tick)
                self.clock.ticks += 1
                if i % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await asyncio.sleep(0)  # a long fast-forward must not starve the servers' clients
            self.ticks_run += n
            if n:
                for sim in self.sims:
                    await sim._publish()

    def start_ticker(self) -> None:
        if self.speed > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="simulator clock")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = min(1.0, max(0.05, self.clock.tick / self.speed))
        last = loop.time()
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            elapsed, last = min(now - last, _MAX_CATCH_UP), now
            try:
                await self.step(elapsed * self.speed)
            except Exception:  # keep the clock alive: a simulator that stops moving is worse
                log.exception("simulator clock step failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sim in self.sims:
            with contextlib.suppress(Exception):
                await sim._stop_server()


def _auto_tick(speed: float, tick: float | None) -> float:
    if tick is not None:
        return float(tick)
    return 1.0 if speed <= 20 else speed / 20.0  # about 20 model steps per real second when fast


async def _build(group: SimGroup, name: str, profile_name: str, *, host: str, port: int, seed: int | str,
                 schedule: Schedule, initial: Mapping[str, Any] | None) -> Simulator:
    if not _NAME.match(name):
        raise ValueError(f"bad device name {name!r} (allowed: a-z, 0-9, _ and -)")
    model_cls = MODELS.get(profile_name)
    if model_cls is None:
        raise KeyError(f"no simulator for profile {profile_name!r} (allowed: {', '.join(simulated_profiles())})")
    profile = load_spec(profile_name)
    rng = random.Random(f"{seed}/{name}")
    model = model_cls(rng, group.clock, schedule, profile.tags)
    for tag, value in (initial or {}).items():
        model.preset(tag, value)
    server = _server_class(profile.driver)(profile.tags, host=host, port=port, options=profile.options)
    sim = Simulator(name, profile, model, server, group)
    sim._served = dict(model.v) if server.protocol == "opcua" else await server.publish(model.v)
    await server.start(dict(model.v))
    await sim._publish()
    return sim


async def start_simulator(profile: str, *, port: int = 0, host: str = "127.0.0.1", seed: int | str = 0,
                          speed: float = 1.0, start: datetime | float | None = None, tick: float | None = None,
                          night_ban: tuple[str, str] | None = ("00:00", "08:00"),
                          timezone: str = "Asia/Shanghai", name: str | None = None,
                          initial: Mapping[str, Any] | None = None) -> Simulator:
    """Start one simulated device serving `profile` over its protocol on `host:port` (0 = a free port).

    `speed` is simulated seconds per real second (0: the clock moves only on `step`); `start` is the
    simulated start time (default: now); given the same seed, start and ticks, values are identical.
    `initial` presets states (e.g. `{"total_t": 4294900.0}`). Stop it with `await sim.stop()`.
    """
    clock = SimClock(_epoch(start), _auto_tick(speed, tick))
    group = SimGroup(clock, speed, standalone=True)
    sim = await _build(group, name or profile, profile, host=host, port=port, seed=seed,
                       schedule=Schedule(timezone, night_ban), initial=initial)
    group.sims.append(sim)
    group.start_ticker()
    return sim


class Plant:
    """Several simulated devices in one process on one simulated clock."""

    def __init__(self, group: SimGroup) -> None:
        self.group = group

    @property
    def sims(self) -> dict[str, Simulator]:
        return {s.name: s for s in self.group.sims}

    def __getitem__(self, name: str) -> Simulator:
        try:
            return self.sims[name]
        except KeyError:
            raise KeyError(f"no simulated device {name!r} (have: {', '.join(self.sims)})") from None

    def __iter__(self) -> Any:
        return iter(self.group.sims)

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.group.clock.t, UTC)

    async def step(self, seconds: float) -> None:
        await self.group.step(seconds)

    def values(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.values() for s in self.group.sims}

    def gateway_config(self, gateway_id: str = "gw-sim-01", enterprise: str = "E000000000") -> dict[str, Any]:
        """A gateway config (CONTRACTS §1) polling every device of the plant; add `northbound`."""
        return {
            "gateway": {"id": gateway_id, "enterprise": enterprise},
            "devices": [s.device_config() for s in self.group.sims],
        }

    async def stop(self) -> None:
        await self.group.stop()


async def start_plant(devices: Sequence[str | tuple[str, str]] = DEFAULT_PLANT, *, host: str = "127.0.0.1",
                      base_port: int | None = None, seed: int | str = 0, speed: float = 1.0,
                      start: datetime | float | None = None, tick: float | None = None,
                      night_ban: tuple[str, str] | None = ("00:00", "08:00"),
                      timezone: str = "Asia/Shanghai") -> Plant:
    """Start several simulated devices sharing one clock: `devices` are profile names or
    `(device name, profile)` pairs. Ports are free ones, or `base_port`, `base_port + 1`, ... in order.
    """
    pairs = [(d, d) if isinstance(d, str) else (d[0], d[1]) for d in devices]
    names = [n for n, _ in pairs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"device names must be unique, repeated: {', '.join(dupes)}")
    clock = SimClock(_epoch(start), _auto_tick(speed, tick))
    group = SimGroup(clock, speed)
    schedule = Schedule(timezone, night_ban)
    try:
        for i, (name, profile) in enumerate(pairs):
            port = 0 if base_port is None else base_port + i
            group.sims.append(await _build(group, name, profile, host=host, port=port, seed=seed,
                                           schedule=schedule, initial=None))
    except BaseException:
        await group.stop()
        raise
    group.start_ticker()
    return Plant(group)
