"""Connection fields and device options of a Modbus device: validation and typed settings.

`check_*` report every problem as a `ConfigProblem` (the loader adds file and line); the
`*_settings` builders assume a checked mapping and raise `DriverError` otherwise, so a device
built in code without the loader still gets a clear message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devices.model import positive_duration
from drivers.base import ConfigProblem, DriverError

TRANSPORTS = ("tcp", "rtu", "rtu-over-tcp")
PARITIES = ("N", "E", "O")
STOPBITS = (1, 1.5, 2)
BYTESIZES = (5, 6, 7, 8)
CONNECTION_FIELDS = ("transport", "host", "port", "unit", "timeout", "baudrate", "parity", "stopbits", "bytesize")
SERIAL_ONLY = ("baudrate", "parity", "stopbits", "bytesize")

MAX_READ_REGISTERS = 125  # FC3/FC4
MAX_READ_BITS = 2000  # FC1/FC2
MAX_WRITE_REGISTERS = 123  # FC16
OPTION_FIELDS = (
    "max_registers_per_request",
    "max_bits_per_request",
    "max_gap",
    "max_gap_bits",
    "one_request_per_tag",
    "force_multiple_write",
    "mask_write",
)
RUNTIME_OPTIONS = ("read_timeout",)
"""Device options the gateway runtime itself reads; accepted here so they are not reported."""
parse_seconds = positive_duration
"""A timeout as float seconds: a number, or text such as `500ms`, `1s`, `2m`."""


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    transport: str = "tcp"
    host: str = "127.0.0.1"
    port: int = 502
    device: str = ""
    unit: int = 1
    timeout: float = 1.0
    baudrate: int = 9600
    parity: str = "N"
    stopbits: float = 1
    bytesize: int = 8

    @property
    def key(self) -> tuple[str, str, int]:
        """Devices with equal keys share one connection (one TCP socket or one serial port)."""
        if self.transport == "rtu":
            return ("rtu", self.device, 0)
        return (self.transport, self.host.lower(), self.port)

    @property
    def serial_line(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits:g}"

    def describe(self) -> str:
        if self.transport == "rtu":
            return f"rtu {self.device} ({self.serial_line})"
        return f"{self.transport} {self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PlanOptions:
    max_registers: int = MAX_READ_REGISTERS
    max_bits: int = MAX_READ_BITS
    max_gap: int = 16
    max_gap_bits: int = 256
    one_request_per_tag: bool = False
    force_multiple_write: bool = False
    mask_write: bool = False


def _int_in(value: Any, lo: int, hi: int | None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= lo and (hi is None or value <= hi)


def _range(lo: int, hi: int | None) -> str:
    return f"{lo}..{hi}" if hi is not None else f"a whole number >= {lo}"


def check_connection(connection: Mapping[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    add = problems.append
    for key in connection:
        if key not in CONNECTION_FIELDS:
            add(ConfigProblem(str(key), f"unknown field (allowed: {', '.join(CONNECTION_FIELDS)})"))
    transport = connection.get("transport", "tcp")
    if transport not in TRANSPORTS:
        add(ConfigProblem("transport", f"{transport!r} is not a transport (allowed: {', '.join(TRANSPORTS)})"))
        return problems
    serial = transport == "rtu"
    port = connection.get("port")
    if serial:
        if not isinstance(port, str) or not port.strip():
            add(ConfigProblem("port", "a serial line needs `port`: the device path (e.g. /dev/ttyUSB0)"))
        if "host" in connection:
            add(ConfigProblem("host", "is not used with transport rtu (set the serial device in `port`)"))
        baud = connection.get("baudrate", 9600)
        if not _int_in(baud, 50, 4_000_000):
            add(ConfigProblem("baudrate", f"{baud!r} is not a baud rate (allowed: e.g. 9600, 19200, 115200)"))
        parity = connection.get("parity", "N")
        if str(parity).upper() not in PARITIES:
            add(ConfigProblem("parity", f"{parity!r} is not a parity (allowed: N, E, O)"))
        stopbits = connection.get("stopbits", 1)
        if isinstance(stopbits, bool) or stopbits not in STOPBITS:
            add(ConfigProblem("stopbits", f"{stopbits!r} is not allowed (allowed: 1, 1.5, 2)"))
        bytesize = connection.get("bytesize", 8)
        if isinstance(bytesize, bool) or bytesize not in BYTESIZES:
            add(ConfigProblem("bytesize", f"{bytesize!r} is not allowed (allowed: 5, 6, 7, 8)"))
    else:
        host = connection.get("host")
        if not isinstance(host, str) or not host.strip():
            add(ConfigProblem("host", f"transport {transport} needs `host` (a name or IP address)"))
        if port is not None and not _int_in(port, 1, 65535):
            hint = " (for a serial line set transport: rtu)" if isinstance(port, str) else ""
            add(ConfigProblem("port", f"{port!r} is not a TCP port (allowed: 1..65535){hint}"))
        for key in SERIAL_ONLY:
            if key in connection:
                add(ConfigProblem(key, f"is only used with transport rtu (this device uses {transport})"))
    unit = connection.get("unit", 1)
    lo, hi = (1, 247) if serial else (0, 255)
    if not _int_in(unit, lo, hi):
        why = " (0 is broadcast on a serial line: nobody answers)" if serial and unit == 0 else ""
        add(ConfigProblem("unit", f"{unit!r} is not a unit id (allowed: {lo}..{hi}){why}"))
    if "timeout" in connection:
        try:
            parse_seconds(connection["timeout"])
        except ValueError as exc:
            add(ConfigProblem("timeout", str(exc)))
    return problems


def connection_settings(connection: Mapping[str, Any], default_timeout: float = 1.0) -> ConnectionSettings:
    problems = check_connection(connection)
    if problems:
        raise DriverError("; ".join(f"connection.{p.field}: {p.message}" for p in problems))
    transport = str(connection.get("transport", "tcp"))
    timeout = parse_seconds(connection["timeout"]) if "timeout" in connection else default_timeout
    if transport == "rtu":
        return ConnectionSettings(
            transport=transport,
            device=str(connection["port"]).strip(),
            port=0,
            host="",
            unit=int(connection.get("unit", 1)),
            timeout=timeout,
            baudrate=int(connection.get("baudrate", 9600)),
            parity=str(connection.get("parity", "N")).upper(),
            stopbits=connection.get("stopbits", 1),
            bytesize=int(connection.get("bytesize", 8)),
        )
    return ConnectionSettings(
        transport=transport,
        host=str(connection["host"]).strip(),
        port=int(connection.get("port", 502)),
        unit=int(connection.get("unit", 1)),
        timeout=timeout,
    )


_OPTION_RULES: dict[str, tuple[str, int, int | None]] = {
    "max_registers_per_request": ("int", 1, MAX_READ_REGISTERS),
    "max_bits_per_request": ("int", 1, MAX_READ_BITS),
    "max_gap": ("int", 0, None),
    "max_gap_bits": ("int", 0, None),
    "one_request_per_tag": ("bool", 0, None),
    "force_multiple_write": ("bool", 0, None),
    "mask_write": ("bool", 0, None),
}


def check_options(options: Mapping[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for key, value in options.items():
        rule = _OPTION_RULES.get(str(key))
        if rule is None:
            if key not in RUNTIME_OPTIONS:
                allowed = ", ".join((*OPTION_FIELDS, *RUNTIME_OPTIONS))
                problems.append(ConfigProblem(str(key), f"unknown option (allowed: {allowed})"))
            continue
        kind, lo, hi = rule
        if kind == "bool" and not isinstance(value, bool):
            problems.append(ConfigProblem(str(key), f"{value!r} is not allowed (allowed: true, false)"))
        elif kind == "int" and not _int_in(value, lo, hi):
            problems.append(ConfigProblem(str(key), f"{value!r} is not allowed (allowed: {_range(lo, hi)})"))
    return problems


def plan_options(options: Mapping[str, Any]) -> PlanOptions:
    problems = check_options(options)
    if problems:
        raise DriverError("; ".join(f"options.{p.field}: {p.message}" for p in problems))
    max_gap = int(options.get("max_gap", 16))
    return PlanOptions(
        max_registers=int(options.get("max_registers_per_request", MAX_READ_REGISTERS)),
        max_bits=int(options.get("max_bits_per_request", MAX_READ_BITS)),
        max_gap=max_gap,
        max_gap_bits=int(options.get("max_gap_bits", 16 * max_gap)),
        one_request_per_tag=bool(options.get("one_request_per_tag", False)),
        force_multiple_write=bool(options.get("force_multiple_write", False)),
        mask_write=bool(options.get("mask_write", False)),
    )
