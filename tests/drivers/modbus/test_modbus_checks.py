"""Config checks of the Modbus driver: every problem names its field and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from devices.model import Access, DeviceSpec, TagSpec
from drivers.base import DriverError
from drivers.modbus import ModbusDriver
from drivers.modbus.settings import connection_settings, parse_seconds, plan_options
from drivers.registry import driver_class


def problems(found: list[Any]) -> dict[str, str]:
    return {p.field: p.message for p in found}


def test_registry_finds_the_driver() -> None:
    assert driver_class("modbus") is ModbusDriver


@pytest.mark.parametrize(
    "connection",
    [
        {"host": "127.0.0.1"},
        {"host": "plc-1", "port": 5020, "unit": 0, "timeout": 0.25},
        {"host": "10.0.0.5", "port": 502, "unit": 255, "timeout": "500ms", "transport": "tcp"},
        {"transport": "rtu-over-tcp", "host": "10.0.0.6", "port": 4001, "unit": 3},
        {"transport": "rtu", "port": "/dev/ttyUSB0", "baudrate": 9600, "parity": "E", "unit": 3},
        {"transport": "rtu", "port": "/dev/ttyS1", "baudrate": 19200, "parity": "n", "stopbits": 2, "bytesize": 7},
    ],
)
def test_good_connections_pass(connection: dict[str, Any]) -> None:
    assert ModbusDriver.check_connection(connection) == []


@pytest.mark.parametrize(
    ("connection", "field", "fragment"),
    [
        ({}, "host", "needs `host`"),
        ({"host": "x", "port": 70000}, "port", "allowed: 1..65535"),
        ({"host": "x", "port": "/dev/ttyUSB0"}, "port", "set transport: rtu"),
        ({"host": "x", "unit": 256}, "unit", "allowed: 0..255"),
        ({"host": "x", "unit": True}, "unit", "allowed: 0..255"),
        ({"host": "x", "timeout": "soon"}, "timeout", "not a duration"),
        ({"host": "x", "timeout": 0}, "timeout", "positive"),
        ({"host": "x", "transport": "udp"}, "transport", "allowed: tcp, rtu, rtu-over-tcp"),
        ({"host": "x", "hots": "y"}, "hots", "unknown field (allowed: transport, host, port"),
        ({"host": "x", "baudrate": 9600}, "baudrate", "only used with transport rtu"),
        ({"transport": "rtu"}, "port", "needs `port`: the device path"),
        ({"transport": "rtu", "port": "/dev/x", "parity": "X"}, "parity", "allowed: N, E, O"),
        ({"transport": "rtu", "port": "/dev/x", "stopbits": 3}, "stopbits", "allowed: 1, 1.5, 2"),
        ({"transport": "rtu", "port": "/dev/x", "bytesize": 9}, "bytesize", "allowed: 5, 6, 7, 8"),
        ({"transport": "rtu", "port": "/dev/x", "baudrate": "fast"}, "baudrate", "not a baud rate"),
        ({"transport": "rtu", "port": "/dev/x", "unit": 0}, "unit", "0 is broadcast"),
        ({"transport": "rtu", "port": "/dev/x", "host": "h"}, "host", "not used with transport rtu"),
    ],
)
def test_bad_connections_name_field_and_allowed(connection: dict[str, Any], field: str, fragment: str) -> None:
    found = problems(ModbusDriver.check_connection(connection))
    assert field in found, found
    assert fragment in found[field]


def test_every_connection_problem_is_reported_at_once() -> None:
    found = problems(ModbusDriver.check_connection({"port": 0, "unit": -1, "timeout": "x"}))
    assert set(found) == {"host", "port", "unit", "timeout"}


def test_options() -> None:
    assert ModbusDriver.check_options({"max_registers_per_request": 60, "max_gap": 0, "one_request_per_tag": True,
                                       "force_multiple_write": False, "mask_write": True,
                                       "max_bits_per_request": 800, "max_gap_bits": 64, "read_timeout": 3}) == []
    found = problems(ModbusDriver.check_options({"max_registers_per_request": 126, "max_gap": -1,
                                                 "mask_write": "yes", "max_gap_regs": 3,
                                                 "max_bits_per_request": 2001}))
    assert "allowed: 1..125" in found["max_registers_per_request"]
    assert "allowed: a whole number >= 0" in found["max_gap"]
    assert "allowed: true, false" in found["mask_write"]
    assert "unknown option" in found["max_gap_regs"] and "max_gap" in found["max_gap_regs"]
    assert "allowed: 1..2000" in found["max_bits_per_request"]


def tag(**kw: Any) -> TagSpec:
    return TagSpec(**{"name": "t", "address": "HR0", **kw})


@pytest.mark.parametrize(
    "spec",
    [
        tag(type="float32", byte_order="CDAB"),
        tag(address="40001", type="uint64", byte_order="DCBA"),
        tag(address="HR10.3", type="bool", access=Access.READ_WRITE),
        tag(address="HR10.3"),
        tag(address="CO5", access=Access.READ_WRITE),
        tag(address="DI5"),
        tag(type="string", length=10, encoding="gbk"),
        tag(type="int16", scale=0.1, offset=-40, access=Access.READ_WRITE),
        tag(address="HR65534", type="float32"),
        tag(address="IR3", type="bool"),
    ],
)
def test_good_tags_pass(spec: TagSpec) -> None:
    assert ModbusDriver.check_tag(spec, {}) == []


@pytest.mark.parametrize(
    ("spec", "options", "field", "fragment"),
    [
        (tag(address="HR70000"), {}, "address", "allowed: 0..65535"),
        (tag(address="4x0001"), {}, "address", "allowed: HR0..HR65535"),
        (tag(type="real"), {}, "type", "allowed: bool, int16, uint16"),
        (tag(type="float"), {}, "type", "not a Modbus type"),
        (tag(address="CO1", type="int16"), {}, "type", "holds one bit (allowed: bool)"),
        (tag(address="HR1.2", type="int16"), {}, "type", "single bit (allowed: bool)"),
        (tag(type="float32", byte_order="BACD"), {}, "byte_order", "allowed: ABCD, CDAB, BADC, DCBA"),
        (tag(type="string"), {}, "length", "needs `length` in registers"),
        (tag(type="string", length=2, encoding="klingon"), {}, "encoding", "allowed: ascii, gbk, utf-8"),
        (tag(type="int16", length=2), {}, "length", "strings only"),
        (tag(address="HR1.0", scale=2.0), {}, "scale", "numeric types only"),
        (tag(address="IR1", access=Access.READ_WRITE), {}, "access", "read-only (allowed: r)"),
        (tag(address="DI1", access=Access.WRITE), {}, "access", "read-only (allowed: r)"),
        (tag(address="HR65535", type="float32"), {}, "address", "runs past HR65535"),
        (tag(type="string", length=126), {}, "length", "at most 125"),
        (tag(type="float64"), {"max_registers_per_request": 2}, "type",
         "needs 4 registers but one request may read at most 2"),
        (tag(type="string", length=124, access=Access.READ_WRITE), {}, "length", "at most 123 registers (FC16)"),
    ],
)
def test_bad_tags_name_field_and_allowed(spec: TagSpec, options: dict[str, Any], field: str, fragment: str) -> None:
    found = problems(ModbusDriver.check_tag(spec, options))
    assert field in found, found
    assert fragment in found[field]


def test_durations_are_accepted_as_numbers_or_text() -> None:
    assert parse_seconds(2) == 2.0
    assert parse_seconds("250ms") == 0.25
    assert parse_seconds("1.5s") == 1.5
    assert parse_seconds("2m") == 120.0
    for bad in ("-1s", "1d2", True, 0, float("nan")):
        with pytest.raises(ValueError):
            parse_seconds(bad)


def test_settings_refuse_unchecked_config_with_a_clear_error() -> None:
    with pytest.raises(DriverError, match=r"connection\.host"):
        connection_settings({})
    with pytest.raises(DriverError, match=r"options\.max_gap"):
        plan_options({"max_gap": "wide"})
    with pytest.raises(DriverError, match=r"connection\.unit"):
        ModbusDriver(DeviceSpec("d", "modbus", {"host": "h", "unit": 999}))


def test_defaults() -> None:
    s = connection_settings({"host": "Plc-1"}, default_timeout=2.0)
    assert (s.port, s.unit, s.timeout, s.transport, s.key) == (502, 1, 2.0, "tcp", ("tcp", "plc-1", 502))
    r = connection_settings({"transport": "rtu", "port": "/dev/ttyUSB0", "parity": "e"})
    assert (r.device, r.baudrate, r.parity, r.stopbits, r.bytesize, r.key) == (
        "/dev/ttyUSB0", 9600, "E", 1, 8, ("rtu", "/dev/ttyUSB0", 0))
    o = plan_options({"max_gap": 4})
    assert (o.max_registers, o.max_bits, o.max_gap, o.max_gap_bits) == (125, 2000, 4, 64)


CONFIG = """\
gateway: {id: gw-1, enterprise: E1}
devices:
  - name: scale
    driver: modbus
    connection: {host: 127.0.0.1, port: 5020, unit: 300}
    options: {max_registers_per_request: 200}
    tags:
      - {name: flow, address: HR0, type: float32, byte_order: CDAB}
      - {name: bad_addr, address: 40000, type: int16}
      - {name: text, address: HR10, type: string}
      - {name: coil_as_int, address: 000017, type: int16}
"""


def test_the_loader_reports_modbus_problems_with_file_and_line() -> None:
    config = pytest.importorskip("gateway.config")
    with pytest.raises(config.ConfigError) as err:
        config.parse_config(CONFIG, "site.yaml")
    text = str(err.value)
    assert "site.yaml:5: devices[0].connection.unit: 300 is not a unit id (allowed: 0..255)" in text
    assert "devices[0].options.max_registers_per_request: 200 is not allowed (allowed: 1..125)" in text
    assert "site.yaml:9: devices[0].tags[1].address: '40000': a 5-digit Modicon number" in text
    assert "site.yaml:10: devices[0].tags[2].length: a string needs `length`" in text
    assert "site.yaml:11: devices[0].tags[3].type: 'int16': a coil holds one bit (allowed: bool)" in text
