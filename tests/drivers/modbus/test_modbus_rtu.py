"""RTU over a serial line (a pty pair made by socat) and RTU framing over TCP."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.framer import FramerType

from devices.model import Access, DeviceSpec, TagSpec
from drivers.base import DriverError
from drivers.modbus import ModbusDriver
from drivers.modbus.transport import UnitSilent, active_links
from tests.drivers.modbus.modbus_testkit import Lab, by_tag, device, sim_device

SOCAT = shutil.which("socat") or "/usr/bin/socat"


@pytest.fixture
def serial_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two connected pseudo-terminals: the server opens one end, the driver the other."""
    if not Path(SOCAT).exists():
        pytest.skip("socat is not installed")
    a, b = tmp_path / "server-end", tmp_path / "driver-end"
    proc = subprocess.Popen([SOCAT, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if a.exists() and b.exists():
                break
            if proc.poll() is not None:
                pytest.fail("socat exited")
            time.sleep(0.01)
        else:
            pytest.fail("socat did not create the pty pair")
        yield str(a), str(b)
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def rtu_device(path: str, tags: list[TagSpec], unit: int = 1, **conn: object) -> DeviceSpec:
    connection = {"transport": "rtu", "port": path, "baudrate": 19200, "parity": "N", "unit": unit,
                  "timeout": 0.3, **conn}
    return DeviceSpec(f"rtu{unit}", "modbus", connection, tuple(tags), timeout=0.3)


TAGS = [TagSpec("flow", "HR0", "float32", byte_order="CDAB"), TagSpec("total", "HR2", "uint32"),
        TagSpec("run", "HR4.2"), TagSpec("sp", "HR5", "int16", scale=0.1, access=Access.READ_WRITE),
        TagSpec("pump", "CO1", access=Access.READ_WRITE)]
REGS = {0: 0x0000, 1: 0x4400, 2: 0x0001, 3: 0x0002, 4: 0b100, 5: 123}


async def test_rtu_over_a_serial_line(lab: Lab, serial_pair: tuple[str, str]) -> None:
    server_end, driver_end = serial_pair
    server = await lab.server(sim_device(1, hr=REGS, co={0: False, 1: False}), serial_port=server_end)
    drv = await lab.driver(rtu_device(driver_end, TAGS))
    s = by_tag(await drv.read(TAGS))
    assert (s["flow"].value, s["total"].value, s["run"].value) == (512.0, 65538, True)
    assert s["sp"].value == pytest.approx(12.3)
    await drv.write(TAGS[3], -4.5)
    await drv.write(TAGS[4], True)
    s = by_tag(await drv.read(TAGS))
    assert s["sp"].value == pytest.approx(-4.5) and s["pump"].value is True
    assert sorted({r.function for r in server.seen}) == [1, 3, 5, 6]


async def test_units_on_one_serial_line_share_it_and_a_silent_one_does_not_stall(
        lab: Lab, serial_pair: tuple[str, str]) -> None:
    server_end, driver_end = serial_pair
    silent = lab.behaviour(silent=True)
    server = await lab.server(sim_device(1, hr=REGS), sim_device(2, hr={0: 0, 1: 0x4000, 2: 9, 3: 9, 4: 0, 5: 7}),
                              sim_device(3, hr=REGS, behaviour=silent), serial_port=server_end)
    d1 = await lab.driver(rtu_device(driver_end, TAGS[:4], unit=1))
    d2 = await lab.driver(rtu_device(driver_end, TAGS[:4], unit=2))
    d3 = await lab.driver(rtu_device(driver_end, TAGS[:4], unit=3, timeout=0.2))
    assert len(active_links()) == 1 and active_links()[0].refs == 3
    active_links()[0].backoff_initial = 600.0

    async def poll(drv: ModbusDriver, n: int) -> list[float]:
        return [(await drv.read(TAGS[:1]))[0].value for _ in range(n)]

    async def poll_silent() -> int:
        failures = 0
        for _ in range(10):
            with pytest.raises(UnitSilent):
                await d3.read(TAGS[:1])
            failures += 1
            await asyncio.sleep(0)
        return failures

    one, two, failures = await asyncio.gather(poll(d1, 15), poll(d2, 15), poll_silent())
    assert one == [512.0] * 15 and two == [2.0] * 15 and failures == 10
    assert len(server.requests(unit=3)) == 1


async def test_one_serial_port_has_one_setting(lab: Lab, serial_pair: tuple[str, str]) -> None:
    server_end, driver_end = serial_pair
    await lab.server(sim_device(1, hr=REGS), serial_port=server_end)
    await lab.driver(rtu_device(driver_end, TAGS, unit=1))
    other = await lab.driver(rtu_device(driver_end, TAGS, unit=2, baudrate=9600, parity="E"), connect=False)
    with pytest.raises(DriverError, match="already open as 19200 8N1; this device asks for 9600 8E1"):
        await other.connect()


async def test_a_missing_serial_port_fails_to_connect_cleanly(lab: Lab, tmp_path: Path) -> None:
    drv = await lab.driver(rtu_device(str(tmp_path / "ttyUSB9"), TAGS), connect=False)
    with pytest.raises(DriverError, match="cannot connect to rtu"):
        await drv.connect()
    assert active_links() == []


async def test_rtu_framing_over_tcp(lab: Lab) -> None:
    server = await lab.server(sim_device(1, hr=REGS), sim_device(7, hr={0: 1, 1: 2}), framer=FramerType.RTU)
    drv = await lab.driver(device(server.port, TAGS[:4], transport="rtu-over-tcp"))
    drv7 = await lab.driver(device(server.port, [TagSpec("x", "HR1")], unit=7, transport="rtu-over-tcp"))
    s = by_tag(await drv.read(TAGS[:4]))
    assert s["flow"].value == 512.0 and s["total"].value == 65538
    assert (await drv7.read([TagSpec("x", "HR1")]))[0].value == 2
    assert server.connections == 1
    await drv.write(TAGS[3], 1.0)
    assert by_tag(await drv.read(TAGS[:4]))["sp"].value == pytest.approx(1.0)
