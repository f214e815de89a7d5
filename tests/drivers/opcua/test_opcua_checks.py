"""Config checks (no I/O): every problem names its field and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devices.model import DeviceSpec, TagSpec
from drivers.base import ConfigProblem, DriverError
from drivers.opcua import OpcUaDriver, make_client_certificate
from drivers.opcua.settings import parse_duration
from drivers.registry import driver_class
from tests.drivers.opcua.opcua_testkit import free_port


def fields(problems: list[ConfigProblem]) -> dict[str, str]:
    return {p.field: p.message for p in problems}


def test_registry_points_at_the_driver() -> None:
    cls = driver_class("opcua")
    assert cls is OpcUaDriver
    assert cls.supports_subscribe is True


def test_plain_endpoint_is_fine() -> None:
    assert OpcUaDriver.check_connection({"endpoint": "opc.tcp://127.0.0.1:4840", "security": "None"}) == []
    assert OpcUaDriver.check_connection({"endpoint": "opc.tcp://plc-7", "timeout": "2s"}) == []


@pytest.mark.parametrize(
    ("conn", "field", "needle"),
    [
        ({}, "endpoint", "required"),
        ({"endpoint": "http://x:4840"}, "endpoint", "only opc.tcp://"),
        ({"endpoint": "opc.tcp://:4840"}, "endpoint", "no host"),
        ({"endpoint": "opc.tcp://h:99999"}, "endpoint", "port"),
        ({"endpoint": "opc.tcp://h", "security": "Basic128Rsa15"}, "security", "allowed: None, Basic256Sha256"),
        ({"endpoint": "opc.tcp://h", "security": "Basic256Sha256", "mode": "Encrypt"}, "mode",
         "allowed: Sign, SignAndEncrypt"),
        ({"endpoint": "opc.tcp://h", "mode": "Sign"}, "mode", "needs a security policy"),
        ({"endpoint": "opc.tcp://h", "security": "Basic256Sha256"}, "certificate", "driver opcua cert"),
        ({"endpoint": "opc.tcp://h", "security": "Basic256Sha256"}, "private_key", "required"),
        ({"endpoint": "opc.tcp://h", "certificate": "/nonexistent/c.der"}, "certificate", "not found"),
        ({"endpoint": "opc.tcp://h", "password": "x"}, "password", "without username"),
        ({"endpoint": "opc.tcp://h", "timeout": "fast"}, "timeout", "not a duration"),
        ({"endpoint": "opc.tcp://h", "securty": "None"}, "securty", "unknown field (allowed: endpoint"),
    ],
)
def test_connection_problems(conn: dict[str, Any], field: str, needle: str) -> None:
    found = fields(OpcUaDriver.check_connection(conn))
    assert field in found, found
    assert needle in found[field]


def test_secure_connection_with_files_is_fine(tmp_path: Path) -> None:
    made = make_client_certificate("site-1", tmp_path)
    conn = {"endpoint": "opc.tcp://h:4840", "security": "basic256sha256", "mode": "sign",
            "certificate": str(made.certificate), "private_key": str(made.private_key),
            "username": "op", "password": "pw"}
    assert OpcUaDriver.check_connection(conn) == []


@pytest.mark.parametrize(
    ("options", "field", "needle"),
    [
        ({"max_nodes_per_read": 0}, "max_nodes_per_read", ">= 1"),
        ({"max_monitored_items_per_call": "many"}, "max_monitored_items_per_call", ">= 1"),
        ({"keepalive": "-1s"}, "keepalive", "duration"),
        ({"reconnect_max": 0}, "reconnect_max", "positive"),
        ({"max_registers_per_request": 125}, "max_registers_per_request", "unknown OPC UA option"),
    ],
)
def test_option_problems(options: dict[str, Any], field: str, needle: str) -> None:
    found = fields(OpcUaDriver.check_options(options))
    assert needle in found[field]


def test_good_options() -> None:
    assert OpcUaDriver.check_options({"max_nodes_per_read": 50, "keepalive": "5s", "reconnect_max": "1m",
                                      "queue_size": 2, "max_monitored_items_per_call": 10}) == []


@pytest.mark.parametrize(
    ("tag", "field", "needle"),
    [
        (TagSpec("a", "Plant.Flow"), "address", "expected i=, s=, g= or b="),
        (TagSpec("a", "ns=2;s=x", mode="stream"), "mode", "allowed: subscribe, poll"),
        (TagSpec("a", "ns=2;s=x", deadband=-1.0), "deadband", ">= 0"),
        (TagSpec("a", "ns=2;s=x", interval=0.0), "interval", "positive"),
    ],
)
def test_tag_problems(tag: TagSpec, field: str, needle: str) -> None:
    found = fields(OpcUaDriver.check_tag(tag, {}))
    assert needle in found[field]


def test_good_tags() -> None:
    for tag in (TagSpec("a", "ns=2;s=Washer.Feed", mode="subscribe", deadband=0.5),
                TagSpec("b", "i=2258", mode="poll", interval=5.0), TagSpec("c", "nsu=urn:x;i=5")):
        assert OpcUaDriver.check_tag(tag, {}) == []


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("1s", 1.0), ("5m", 300.0), ("2h", 7200.0),
                                               ("7d", 604800.0), (3, 3.0), ("0.25", 0.25)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


async def test_connect_refuses_bad_settings_with_the_problems() -> None:
    drv = OpcUaDriver(DeviceSpec("washer", "opcua", connection={"endpoint": "http://x", "security": "Weird"}))
    with pytest.raises(DriverError) as err:
        await drv.connect()
    assert "endpoint" in str(err.value) and "security" in str(err.value)
    await drv.close()


async def test_unreachable_server_gives_a_driver_error_and_close_never_raises() -> None:
    port = free_port()
    drv = OpcUaDriver(DeviceSpec("washer", "opcua", connection={"endpoint": f"opc.tcp://127.0.0.1:{port}",
                                                                    "timeout": 1.0}))
    with pytest.raises(DriverError, match="cannot connect"):
        await drv.connect()
    assert drv.stats()["connected"] is False
    with pytest.raises(DriverError):
        await drv.read([TagSpec("a", "ns=2;s=x")])
    await drv.close()
    await drv.close()
