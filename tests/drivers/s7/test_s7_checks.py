"""Config checks without I/O: tags (type vs address width), connection fields and options, and the
same problems reported by the gateway's config loader as FILE:LINE: field: problem."""

from __future__ import annotations

from typing import Any

import pytest

from devices.model import TagSpec
from drivers.registry import driver_class
from drivers.s7 import S7Driver
from drivers.s7.settings import build_settings, parse_tsap
from drivers.s7.types import resolve


def problems(address: str, type_: str | None = None, **kw: Any) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in S7Driver.check_tag(TagSpec("t", address, type_, **kw), {})]


def test_registry_points_at_the_s7_driver() -> None:
    assert driver_class("s7") is S7Driver


@pytest.mark.parametrize(
    ("address", "type_", "s7type", "size"),
    [
        ("DB1.DBX0.0", None, "bool", 1),
        ("DB1.DBB0", None, "byte", 1),
        ("MB3", "char", "char", 1),
        ("DB1.DBW0", "int", "int", 2),
        ("IW2", "word", "word", 2),
        ("QW2", "uint", "uint", 2),
        ("DB1.DBD0", "real", "real", 4),
        ("MD4", "dint", "dint", 4),
        ("ID4", "udint", "udint", 4),
        ("QD4", "dword", "dword", 4),
        ("DB1.DBB18", "lreal", "lreal", 8),
        ("DB1.DBB18", "string", "string", 256),
        ("DB1.DBD0", "float32", "real", 4),
        ("DB1.DBW0", "INT16", "int", 2),
    ],
)
def test_valid_tags_resolve_to_type_and_size(address: str, type_: str | None, s7type: str, size: int) -> None:
    point = resolve(TagSpec("t", address, type_))
    assert (point.type.name, point.size) == (s7type, size)
    assert problems(address, type_) == []


def test_string_length_is_max_chars_plus_two_header_bytes() -> None:
    assert resolve(TagSpec("t", "DB1.DBB0", "string", length=20)).size == 22
    assert problems("DB1.DBB0", "string", length=255)[0][0] == "length"
    assert "1-254" in problems("DB1.DBB0", "string", length=255)[0][1]


@pytest.mark.parametrize(
    ("address", "type_", "field", "words"),
    [
        ("DB1.DBW0", None, "type", ["explicit type", "word, int or uint"]),
        ("MD0", None, "type", ["explicit type", "dword, dint, udint or real", "garbage"]),
        ("DB1.DBW0", "real", "address", ["4 bytes", "DB1.DBD0"]),
        ("DB1.DBD0", "int", "address", ["2 bytes", "DB1.DBW0"]),
        ("DB1.DBB0", "dint", "address", ["DB1.DBD0"]),
        ("DB1.DBX0.0", "int", "type", ["is a bit", "bool", "DB1.DBB0"]),
        ("DB1.DBW0", "bool", "type", ["bit address", "DB1.DBX0.0"]),
        ("DB1.DBD18", "lreal", "address", ["byte address", "DB1.DBB18"]),
        ("DB1.DBW18", "string", "address", ["byte address", "DB1.DBB18"]),
        ("DB1.DBD0", "float", "type", ["unknown S7 type", "allowed", "lreal"]),
        ("DB1.DBX0.9", "bool", "address", ["0-7"]),
        ("HR0", "int", "address", ["not an S7 address"]),
        ("DB1.DBB65530", "lreal", "address", ["ends beyond"]),
    ],
)
def test_type_and_address_mismatches_are_named(address: str, type_: str | None, field: str,
                                               words: list[str]) -> None:
    found = problems(address, type_)
    assert len(found) == 1 and found[0][0] == field, found
    for w in words:
        assert w in found[0][1], found


def test_length_and_byte_order_only_where_they_mean_something() -> None:
    assert problems("DB1.DBW0", "int", length=4)[0][0] == "length"
    assert problems("DB1.DBX0.0", "bool", byte_order="DCBA")[0][0] == "byte_order"
    assert problems("DB1.DBB0", "string", byte_order="BADC")[0][0] == "byte_order"
    assert problems("DB1.DBD0", "real", byte_order="CDAB") == []  # data copied from a word-swapped device


def test_connection_checks() -> None:
    assert S7Driver.check_connection({"host": "10.0.0.5", "rack": 0, "slot": 2}) == []
    assert S7Driver.check_connection({"host": "plc", "local_tsap": "10.00", "remote_tsap": "03.01"}) == []
    got = {p.field: p.message for p in S7Driver.check_connection(
        {"rack": 9, "slot": 40, "port": 0, "unit": 1, "connection_type": "hmi"})}
    assert "required" in got["host"]
    assert "0-7" in got["rack"] and "0-31" in got["slot"] and "1-65535" in got["port"]
    assert "unknown field" in got["unit"] and "remote_tsap" in got["unit"]
    assert "pg, op, basic" in got["connection_type"]
    both = {p.field: p.message for p in S7Driver.check_connection({"host": "h", "slot": 1, "remote_tsap": "03.01"})}
    assert "not both" in both["slot"]
    bad = {p.field: p.message for p in S7Driver.check_connection({"host": "h", "remote_tsap": 1.0})}
    assert "quote the TSAP" in bad["remote_tsap"]


@pytest.mark.parametrize(("text", "value"), [("03.01", 0x0301), ("0x0301", 0x0301), ("4D57", 0x4D57),
                                             (0x0102, 0x0102), ("10.00", 0x1000), ("1.2", 0x0102)])
def test_tsap_notations(text: Any, value: int) -> None:
    assert parse_tsap(text) == value


def test_option_checks() -> None:
    assert S7Driver.check_options({"max_gap": 0, "pdu_size": 240, "max_items": 5, "cpu_state_interval": "off"}) == []
    got = {p.field: p.message for p in S7Driver.check_options(
        {"max_gap": -1, "pdu_size": 2000, "max_items": 21, "cpu_state_interval": "soon", "max_registers": 3})}
    assert "0-1024" in got["max_gap"] and "128-960" in got["pdu_size"] and "1-20" in got["max_items"]
    assert "duration" in got["cpu_state_interval"]
    assert "unknown option" in got["max_registers"] and "max_gap" in got["max_registers"]


def test_settings_from_rack_slot_and_from_tsap() -> None:
    s = build_settings({"host": "h", "rack": 0, "slot": 2}, {}, 1.0)
    assert (s.local_tsap, s.remote_tsap, s.port, s.pdu_size, s.max_gap) == (0x0100, 0x0102, 102, 960, 32)
    s = build_settings({"host": "h", "slot": 1, "connection_type": "basic"}, {}, 1.0)
    assert s.remote_tsap == 0x0301
    s = build_settings({"host": "h", "local_tsap": "02.00", "remote_tsap": "02.01", "timeout": "250ms"},
                       {"cpu_state_interval": 0}, 1.0)
    assert (s.local_tsap, s.remote_tsap, s.timeout, s.cpu_state_interval) == (0x0200, 0x0201, 0.25, 0.0)
    with pytest.raises(ValueError, match="host"):
        build_settings({}, {}, 1.0)


CONFIG = """\
gateway: {id: gw-1, enterprise: E1}
devices:
  - name: conveyor_plc
    driver: s7
    connection: {host: 127.0.0.1, port: 102, rack: 0, slot: 1, remote_tsap: "03.01"}
    options: {max_gap: 8, pdu_size: 100}
    tags:
      - {name: speed, address: DB1.DBD0, type: real}
      - {name: count, address: DB1.DBW4}
      - {name: flag, address: DB1.DBX6.0, type: int}
      - {name: text, address: DB1.DBW8, type: string, length: 10, encoding: gbk}
      - {name: ok, address: "%MW10", type: int, access: rw, scale: 0.1}
"""


def test_the_config_loader_reports_s7_problems_with_file_and_line() -> None:
    from gateway.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG, "site.yaml")
    text = str(info.value)
    assert "site.yaml:5: devices[0].connection.rack: give rack/slot or remote_tsap, not both" in text
    assert "site.yaml:6: devices[0].options.pdu_size: 100 is out of range (allowed: 128-960)" in text
    assert "site.yaml:9: devices[0].tags[1].type: DB1.DBW4 needs an explicit type" in text
    assert "site.yaml:10: devices[0].tags[2].type: DB1.DBX6.0 is a bit" in text
    assert "site.yaml:11: devices[0].tags[3].address: a string starts at a byte address: write DB1.DBB8" in text
    assert "tags[4]" not in text
