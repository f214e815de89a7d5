"""Shared Modbus connections ("links") over the pymodbus async client.

Every device that points at the same TCP host:port (or the same serial port) uses one `Link`:
one socket or one open serial line, with requests serialized under the link's lock (a serial
line and most TCP-to-RTU gateways can only carry one request at a time anyway). A unit that does
not answer costs one timeout, then is skipped for a back-off period that doubles up to a cap, so
it cannot stall the other units on the line; any answer from it clears the back-off.

The link owns timeouts itself (pymodbus' own retry/timeout machinery is disabled), so every
device keeps its own `timeout` even on a shared line.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU

from drivers.base import DriverError
from drivers.modbus.address import Table
from drivers.modbus.planner import Holes
from drivers.modbus.responses import LEAN_RESPONSES
from drivers.modbus.settings import ConnectionSettings

log = logging.getLogger(__name__)

BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
SILENT_BEFORE_RECONNECT = 3
"""Unanswered requests in a row after which a TCP link is re-opened, when no unit answers."""
_NO_TIMEOUT = 24 * 3600.0  # pymodbus' own response timeout: never reached, the link times out first

EXCEPTIONS: dict[int, tuple[str, str]] = {
    1: ("ILLEGAL_FUNCTION", "illegal function"),
    2: ("ILLEGAL_ADDRESS", "illegal data address"),
    3: ("ILLEGAL_VALUE", "illegal data value"),
    4: ("DEVICE_FAILURE", "server device failure"),
    5: ("ACKNOWLEDGE", "acknowledge, still processing"),
    6: ("DEVICE_BUSY", "server device busy"),
    7: ("NEGATIVE_ACKNOWLEDGE", "negative acknowledge"),
    8: ("MEMORY_PARITY_ERROR", "memory parity error"),
    10: ("GATEWAY_PATH_UNAVAILABLE", "gateway path unavailable"),
    11: ("GATEWAY_NO_RESPONSE", "gateway target device failed to respond"),
}
ILLEGAL_ADDRESS = 2
_UNIT_SILENT_CODES = frozenset({10, 11})


def exception_text(code: int) -> str:
    name, text = EXCEPTIONS.get(code, ("UNKNOWN_EXCEPTION", "unknown exception"))
    return f"{name}: {text} (Modbus exception {code})"


class LinkDown(DriverError):
    """The connection itself is gone or cannot be opened."""


class UnitSilent(DriverError):
    """One unit does not answer (timeout, or a gateway says so); it is in back-off."""


class ModbusExceptionResponse(Exception):
    """The device answered with a Modbus exception: the request (not the device) failed."""

    def __init__(self, code: int) -> None:
        super().__init__(exception_text(code))
        self.code = code


class BadResponse(Exception):
    """An answer that does not fit the request (short, garbled)."""


class _NoAnswer(Exception):
    """Set on the pending pymodbus response when the unit's timeout expires."""


@dataclass(slots=True)
class Counters:
    """Per-device request statistics, updated by the link on every exchange."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    last_rtt_ms: float | None = None


@dataclass(slots=True)
class UnitState:
    failures: int = 0
    blocked_until: float = 0.0
    last_error: str = ""


_Call = Callable[..., Awaitable[ModbusPDU]]
_READERS: dict[Table, _Call] = {
    Table.HR: ModbusBaseClient.read_holding_registers,
    Table.IR: ModbusBaseClient.read_input_registers,
    Table.CO: ModbusBaseClient.read_coils,
    Table.DI: ModbusBaseClient.read_discrete_inputs,
}


class Link:
    """One connection shared by every device (unit) behind it."""

    def __init__(self, settings: ConnectionSettings, backoff_initial: float = BACKOFF_INITIAL,
                 backoff_max: float = BACKOFF_MAX) -> None:
        self.settings = settings
        self.key = settings.key
        self.describe = settings.describe()
        self.refs = 0
        self.holes = Holes()
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.connects = 0
        self._client: ModbusBaseClient | None = None
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._units: dict[int, UnitState] = {}
        self._silent = 0
        self._in_flight = False
        self._direct = False  # timeouts fail pymodbus' pending future (else a timeout context)
        self._deadline = 0.0  # loop time at which the request in flight has waited too long
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_at = 0.0

    # -- connection ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        client = self._client
        return client is not None and client.connected

    def _make_client(self) -> ModbusBaseClient:
        s = self.settings
        common: dict[str, Any] = {
            "retries": 0,
            "reconnect_delay": 0,
            "timeout": _NO_TIMEOUT,
            "trace_connect": self._on_connect_change,
        }
        if s.transport == "rtu":
            return AsyncModbusSerialClient(
                s.device, framer=FramerType.RTU, baudrate=s.baudrate, bytesize=s.bytesize,
                parity=s.parity, stopbits=s.stopbits,  # type: ignore[arg-type]
                **common)
        framer = FramerType.RTU if s.transport == "rtu-over-tcp" else FramerType.SOCKET
        return AsyncModbusTcpClient(s.host, port=s.port, framer=framer, **common)

    def _new_client(self) -> ModbusBaseClient:
        client = self._make_client()
        for response_class in LEAN_RESPONSES:
            client.register(response_class)
        return client

    async def open(self, within: float) -> None:
        """Connect unless connected; concurrent callers share one attempt."""
        if self.connected:
            return
        async with self._connect_lock:
            if self.connected:
                return
            self._drop()
            client = self._new_client()
            reason = "refused or unreachable"
            try:
                async with asyncio.timeout(within):
                    ok = await client.connect()
            except TimeoutError:
                ok, reason = False, f"no connection within {within:g} s"
            except (OSError, ModbusException) as exc:
                ok, reason = False, str(exc) or type(exc).__name__
            if not ok or not client.connected:
                client.close()
                raise LinkDown(f"cannot connect to {self.describe}: {reason}")
            self._client = client
            ctx_params = getattr(getattr(client, "ctx", None), "comm_params", None)
            self._direct = self._pending(client) is not None and hasattr(ctx_params, "timeout_connect")
            if self._direct:
                # the link's watchdog replaces pymodbus' own per-request response timer
                ctx_params.timeout_connect = None  # type: ignore[union-attr]
            self._silent = 0
            self.connects += 1
            log.debug("connected to %s", self.describe)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def close(self) -> None:
        self._drop()

    @staticmethod
    def _pending(client: ModbusBaseClient | None) -> asyncio.Future[Any] | None:
        """The pymodbus future a client's request in flight waits on (None if this pymodbus has none)."""
        future = getattr(getattr(client, "ctx", None), "response_future", None)
        return future if isinstance(future, asyncio.Future) else None

    def _on_connect_change(self, up: bool) -> None:
        """pymodbus reports a lost connection here: fail the request in flight at once rather
        than letting it run into its timeout (which would wrongly blame the unit)."""
        if up or self._client is None or not self._in_flight:
            return
        future = self._pending(self._client)
        if future is not None and not future.done():
            future.set_exception(ConnectionError("connection lost"))

    def _arm(self, loop: asyncio.AbstractEventLoop, within: float) -> None:
        """Set the deadline of the request about to be sent.

        One watchdog timer per link instead of one timer per request: answers come in well
        under a millisecond and timeouts are seconds, so the watchdog fires about once per
        timeout, finds the line idle or a later deadline, and re-arms or stops. The hot path
        only stores a number (no timer to create, cancel and sweep out of the loop's heap)."""
        self._deadline = deadline = loop.time() + within
        if self._watchdog is None or deadline < self._watch_at:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watch_at = deadline
            self._watchdog = loop.call_at(deadline, self._watch, loop)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watchdog = None
        deadline = self._deadline
        if not self._in_flight or not deadline:
            return
        if loop.time() >= deadline:
            future = self._pending(self._client)
            if future is not None and not future.done():
                future.set_exception(_NoAnswer())
            return
        self._watch_at = deadline
        self._watchdog = loop.call_at(deadline, self._watch, loop)

    # -- units -----------------------------------------------------------------------------
    def unit_state(self, unit: int) -> UnitState:
        state = self._units.get(unit)
        if state is None:
            state = self._units[unit] = UnitState()
        return state

    def _check_backoff(self, unit: int, state: UnitState) -> None:
        if state.blocked_until:
            wait = state.blocked_until - asyncio.get_running_loop().time()
            if wait > 0:
                raise UnitSilent(f"unit {unit} on {self.describe} is not answering ({state.last_error}); "
                                 f"next try in {wait:.1f} s")

    def _silence(self, unit: int, state: UnitState, reason: str) -> None:
        state.failures += 1
        state.last_error = reason
        delay = min(self.backoff_initial * 2 ** min(state.failures - 1, 30), self.backoff_max)
        state.blocked_until = asyncio.get_running_loop().time() + delay
        self._silent += 1
        if (self._silent >= SILENT_BEFORE_RECONNECT and self.settings.transport != "rtu"
                and all(s.failures for s in self._units.values())):
            # nobody behind this socket answers any more: it may be half-open, open a fresh one
            log.info("%s: %d requests in a row unanswered, re-opening the connection", self.describe, self._silent)
            self._drop()

    # -- exchanges (the caller holds the lock) ---------------------------------------------
    async def _exchange(self, unit: int, within: float, counters: Counters, call: _Call,
                        *args: Any, **kwargs: Any) -> ModbusPDU:
        client = self._client
        if client is None or not client.connected:
            raise LinkDown(f"connection to {self.describe} lost")
        state = self._units.get(unit) or self.unit_state(unit)
        if state.blocked_until:
            self._check_backoff(unit, state)
        counters.requests += 1
        started = time.perf_counter()
        self._in_flight = True
        direct = self._direct
        if direct:
            self._arm(asyncio.get_running_loop(), within)
        try:
            if direct:
                response = await call(client, *args, device_id=unit, **kwargs)
            else:
                async with asyncio.timeout(within):
                    response = await call(client, *args, device_id=unit, **kwargs)
        except (TimeoutError, _NoAnswer):
            counters.errors += 1
            counters.timeouts += 1
            if not client.connected:
                raise LinkDown(f"connection to {self.describe} lost") from None
            reason = f"no answer within {within:g} s"
            self._silence(unit, state, reason)
            raise UnitSilent(f"unit {unit} on {self.describe}: {reason}") from None
        except (ConnectionError, ConnectionException) as exc:
            counters.errors += 1
            self._drop()
            raise LinkDown(f"connection to {self.describe} lost: {exc}") from None
        except ModbusException as exc:
            counters.errors += 1
            raise BadResponse(f"unusable answer from unit {unit}: {exc}") from None
        finally:
            self._in_flight = False
            self._deadline = 0.0
        counters.last_rtt_ms = round((time.perf_counter() - started) * 1000.0, 3)
        self._silent = 0
        if state.failures:
            state.failures, state.blocked_until, state.last_error = 0, 0.0, ""
        if response.isError():
            counters.errors += 1
            code = int(getattr(response, "exception_code", 0))
            if code in _UNIT_SILENT_CODES:
                self._silence(unit, state, exception_text(code))
                raise UnitSilent(f"unit {unit} on {self.describe}: {exception_text(code)}")
            raise ModbusExceptionResponse(code)
        return response

    async def _locked(self, unit: int) -> None:
        """Fail fast for a unit in back-off, then take the line."""
        state = self._units.get(unit)
        if state is not None and state.blocked_until:
            self._check_backoff(unit, state)
        await self._lock.acquire()

    # -- public requests -------------------------------------------------------------------
    async def read_registers(self, unit: int, table: Table, start: int, count: int, within: float,
                             counters: Counters) -> bytes:
        """The data bytes of registers `[start, start + count)` (big-endian, as on the wire)."""
        state = self._units.get(unit)
        if state is not None and state.blocked_until:
            self._check_backoff(unit, state)  # fail fast, without waiting for the line
        async with self._lock:
            response = await self._exchange(unit, within, counters, _READERS[table], start, count=count)
        block: bytes | None = getattr(response, "block", None)
        if block is None:
            block = struct.pack(f">{len(response.registers)}H", *response.registers)
        if len(block) < 2 * count:
            counters.errors += 1
            raise BadResponse(f"unit {unit} answered {len(block) // 2} of {count} registers")
        return block

    async def read_bits(self, unit: int, table: Table, start: int, count: int, within: float,
                        counters: Counters) -> list[bool]:
        """Coils or discrete inputs `[start, start + count)` (the answer may hold a few more)."""
        state = self._units.get(unit)
        if state is not None and state.blocked_until:
            self._check_backoff(unit, state)
        async with self._lock:
            response = await self._exchange(unit, within, counters, _READERS[table], start, count=count)
        bits = response.bits
        if len(bits) < count:
            counters.errors += 1
            raise BadResponse(f"unit {unit} answered {len(bits)} of {count} bits")
        return bits  # type: ignore[return-value]

    async def write_registers(self, unit: int, address: int, values: list[int], within: float,
                              counters: Counters, multiple: bool = False) -> None:
        """FC6 for one register, FC16 for more (or always, when `multiple`)."""
        await self._locked(unit)
        try:
            await self._write_registers(unit, address, values, within, counters, multiple)
        finally:
            self._lock.release()

    async def _write_registers(self, unit: int, address: int, values: list[int], within: float,
                               counters: Counters, multiple: bool) -> None:
        if len(values) == 1 and not multiple:
            await self._exchange(unit, within, counters, ModbusBaseClient.write_register, address, values[0])
        else:
            await self._exchange(unit, within, counters, ModbusBaseClient.write_registers, address, values)

    async def write_coil(self, unit: int, address: int, value: bool, within: float, counters: Counters,
                         multiple: bool = False) -> None:
        """FC5, or FC15 with one coil when `multiple`."""
        await self._locked(unit)
        try:
            if multiple:
                await self._exchange(unit, within, counters, ModbusBaseClient.write_coils, address, [value])
            else:
                await self._exchange(unit, within, counters, ModbusBaseClient.write_coil, address, value)
        finally:
            self._lock.release()

    async def write_bit(self, unit: int, address: int, bit: int, value: bool, within: float,
                        counters: Counters, mask_write: bool = False, multiple: bool = False) -> None:
        """Set one bit of a holding register: FC22 mask write, or read-modify-write under the
        line's lock so no other request can slip in between the read and the write."""
        mask = 1 << bit
        await self._locked(unit)
        try:
            if mask_write:
                await self._exchange(unit, within, counters, _mask_write, address, 0xFFFF & ~mask,
                                     mask if value else 0)
                return
            response = await self._exchange(unit, within, counters, ModbusBaseClient.read_holding_registers,
                                            address, count=1)
            if not response.registers:
                raise BadResponse(f"unit {unit} answered no register for HR{address}")
            old = response.registers[0]
            new = (old | mask) if value else (old & ~mask & 0xFFFF)
            await self._write_registers(unit, address, [new], within, counters, multiple)
        finally:
            self._lock.release()


def _mask_write(client: ModbusBaseClient, address: int, and_mask: int, or_mask: int,
                device_id: int) -> Awaitable[ModbusPDU]:
    return client.mask_write_register(address=address, and_mask=and_mask, or_mask=or_mask, device_id=device_id)


@dataclass(slots=True)
class _Registry:
    links: dict[tuple[str, str, int], Link] = field(default_factory=dict)


_REGISTRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registry] = weakref.WeakKeyDictionary()


def acquire_link(settings: ConnectionSettings) -> Link:
    """The link for these settings, shared with every other device behind the same endpoint."""
    registry = _REGISTRIES.setdefault(asyncio.get_running_loop(), _Registry())
    link = registry.links.get(settings.key)
    if link is None:
        link = registry.links[settings.key] = Link(settings)
    elif settings.transport == "rtu" and settings.serial_line != link.settings.serial_line:
        raise DriverError(f"serial port {settings.device} is already open as {link.settings.serial_line}; "
                          f"this device asks for {settings.serial_line} (one line has one setting)")
    link.refs += 1
    return link


def release_link(link: Link) -> None:
    """Give a link back; the last user closes it."""
    link.refs -= 1
    if link.refs > 0:
        return
    link.close()
    try:
        registry = _REGISTRIES.get(asyncio.get_running_loop())
    except RuntimeError:
        registry = None
    if registry is not None and registry.links.get(link.key) is link:
        del registry.links[link.key]


def active_links() -> list[Link]:
    """Links open in the running event loop (for statistics and tests)."""
    registry = _REGISTRIES.get(asyncio.get_running_loop())
    return list(registry.links.values()) if registry is not None else []
