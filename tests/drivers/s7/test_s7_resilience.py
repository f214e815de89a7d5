"""Failures stay small and clear: missing DBs, addresses past a DB's end, a CPU in STOP, a PLC that
hangs, refuses the ISO connect, or goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from devices.model import TagSpec
from drivers.base import DriverError
from drivers.s7 import S7Driver
from gateway.runtime import Gateway
from gateway.settings import GatewayConfig
from tests.drivers.s7.s7_testkit import RecordingOutlet, Rig, S7Proxy, free_port, s7_device, start_rig


async def test_a_missing_db_fails_only_its_own_tags(rig: Rig) -> None:
    rig.db1[0:2] = b"\x00\x07"
    tags = [TagSpec("ok", "DB1.DBW0", "int"), TagSpec("gone", "DB9.DBW0", "int"), TagSpec("m", "MB0")]
    d = S7Driver(s7_device(rig.port, tags))
    await d.connect()
    try:
        ok, gone, m = await d.read(tags)
        assert (ok.quality, ok.value, m.quality) == ("good", 7, "good")
        assert gone.quality == "bad" and gone.value is None
        assert gone.error == "DB9.DBW0: DB9 does not exist in the PLC (S7 item code 0x0A)"
    finally:
        await d.close()


async def test_an_address_past_the_end_of_a_db_is_isolated_from_its_neighbours(rig: Rig) -> None:
    # DB2 has 300 bytes; the three tags merge into one span that runs past its end
    tags = [TagSpec("a", "DB2.DBD280", "dint"), TagSpec("b", "DB2.DBD296", "dint"),
            TagSpec("c", "DB2.DBD298", "dint"), TagSpec("far", "DB1.DBW0", "int")]
    rig.db2[283] = 1
    rig.db2[299] = 2
    d = S7Driver(s7_device(rig.port, tags))
    await d.connect()
    try:
        for cycle in range(2):
            a, b, c, far = await d.read(tags)
            assert (a.value, b.value, far.quality) == (1, 2, "good"), cycle
            assert c.quality == "bad" and "DB2.DBD298: address out of range (S7 item code 0x05)" in (c.error or "")
            assert "Optimized block access" in (c.error or "")
        assert d.stats()["isolated_tags"] == ["a", "b", "c"]
        assert d.stats()["plan"]["spans"] == 4  # from the second cycle on, no request is wasted on retries
    finally:
        await d.close()


async def test_a_cpu_in_stop_gives_uncertain_samples_with_the_reason(rig: Rig) -> None:
    tags = [TagSpec("speed", "DB1.DBW0", "int"), TagSpec("gone", "DB9.DBW0", "int")]
    d = S7Driver(s7_device(rig.port, tags, cpu_state_interval=0))
    await d.connect()
    try:
        speed, gone = await d.read(tags)
        assert speed.quality == "good" and d.stats()["cpu_state"] == "run"
        rig.plc.set_cpu_status(4)  # STOP: the PLC still answers, with frozen values
        speed, gone = await d.read(tags)
        assert speed.quality == "uncertain" and speed.value == 0
        assert speed.error == "CPU in STOP: values are frozen at their last state"
        assert gone.quality == "bad"  # bad stays bad
        assert d.stats()["cpu_state"] == "stop"
        assert speed.to_dict()["error"].startswith("CPU in STOP")
        rig.plc.set_cpu_status(8)
        speed, _ = await d.read(tags)
        assert speed.quality == "good" and speed.error is None
    finally:
        await d.close()


async def test_the_cpu_state_is_read_every_interval_not_every_cycle(rig: Rig) -> None:
    tags = [TagSpec("a", "DB1.DBW0", "int")]
    proxy = S7Proxy(rig.port)
    await proxy.start()
    d = S7Driver(s7_device(proxy.port, tags, cpu_state_interval="1h"))
    await d.connect()
    try:
        requests = d.stats()["requests"]
        for _ in range(5):
            await d.read(tags)
        assert d.stats()["requests"] - requests == 5  # reads only: the mode was read at connect
    finally:
        await d.close()
        await proxy.stop()


async def test_a_plc_that_does_not_report_its_mode_is_read_normally() -> None:
    r = start_rig(answer_cpu_state=False)  # the stock snap7 server has no SZL 0x0424
    try:
        d = S7Driver(s7_device(r.port, [TagSpec("a", "MB0")], cpu_state_interval=0))
        await d.connect()
        assert (await d.read([TagSpec("a", "MB0")]))[0].quality == "good"
        assert d.stats()["cpu_state"] == "not reported"
        await d.close()
    finally:
        r.plc.stop()


async def test_connection_refused_is_a_clear_driver_error() -> None:
    d = S7Driver(s7_device(free_port(), [TagSpec("a", "MB0")], timeout=0.5))
    with pytest.raises(DriverError, match=r"cannot connect to 127\.0\.0\.1:\d+"):
        await d.connect()
    with pytest.raises(DriverError, match="not connected"):
        await d.read([TagSpec("a", "MB0")])


@pytest.fixture
async def silent_host() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """Accepts TCP: the first client gets silence, every later one is hung up on at once."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if len(writers) > 1:  # the second client: close as a PLC does for an unknown rack/slot
            writer.close()
            return
        with contextlib.suppress(Exception):
            await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), writers
    finally:
        for w in writers:
            w.close()
        server.close()


async def test_iso_connect_problems_point_at_rack_slot_or_tsap(silent_host: tuple[int, list[asyncio.StreamWriter]]
                                                               ) -> None:
    port, _ = silent_host
    d = S7Driver(s7_device(port, [TagSpec("a", "MB0")], timeout=0.2, connection={"rack": 0, "slot": 3}))
    with pytest.raises(DriverError, match=r"did not answer the ISO connect: check rack/slot or TSAP .*remote 01\.03"):
        await d.connect()
    with pytest.raises(DriverError, match=r"closed the connection during the ISO connect: check rack/slot"):
        await d.connect()


async def test_a_plc_that_stops_answering_is_a_driver_error_not_a_hang(rig: Rig) -> None:
    proxy = S7Proxy(rig.port, swallow=frozenset({"read"}))
    await proxy.start()
    tags = [TagSpec("a", "MB0")]
    d = S7Driver(s7_device(proxy.port, tags, timeout=0.2, cpu_state_interval="off"))
    try:
        await d.connect()
        with pytest.raises(DriverError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.2 s"):
            await d.read(tags)
        with pytest.raises(DriverError, match="no answer"):  # stays failed until the runtime reconnects
            await d.read(tags)
    finally:
        await d.close()
        await proxy.stop()


async def test_a_read_cancelled_in_flight_does_not_pair_a_late_reply_with_the_next_request(rig: Rig) -> None:
    proxy = S7Proxy(rig.port, swallow=frozenset({"read"}))
    await proxy.start()
    tags = [TagSpec("a", "MB0")]
    d = S7Driver(s7_device(proxy.port, tags, timeout=5.0, cpu_state_interval="off"))
    try:
        await d.connect()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(d.read(tags), 0.1)  # the runtime's read timeout fires first
        with pytest.raises(DriverError, match="cancelled while in flight"):
            await d.read(tags)
    finally:
        await d.close()
        await proxy.stop()


async def test_the_driver_reconnects_after_the_plc_restarts() -> None:
    first = start_rig()
    port = first.port
    first.db1[0:2] = b"\x00\x01"
    tags = [TagSpec("a", "DB1.DBW0", "int")]
    d = S7Driver(s7_device(port, tags, timeout=0.5))
    second = None
    try:
        await d.connect()
        assert (await d.read(tags))[0].value == 1
        first.plc.stop()  # power off: connections drop
        with pytest.raises(DriverError):
            await d.read(tags)
        await d.close()
        with pytest.raises(DriverError, match="cannot connect"):
            await d.connect()
        second = start_rig(port=port)  # back on the same address, with new data
        second.db1[0:2] = b"\x00\x02"
        await d.connect()
        assert (await d.read(tags))[0].value == 2
        assert d.stats()["connects"] == 2
    finally:
        await d.close()
        first.plc.stop()
        if second is not None:
            second.plc.stop()


async def test_the_gateway_keeps_polling_through_a_plc_restart() -> None:
    first = start_rig()
    port = first.port
    first.db1[0:2] = b"\x00\x01"
    spec = s7_device(port, [TagSpec("a", "DB1.DBW0", "int")], timeout=0.3, read_timeout=0.5)
    outlet = RecordingOutlet()
    gw = Gateway(GatewayConfig(id="gw", enterprise="E", devices=(spec,)), outlet, backoff_cap=0.2)
    second = None

    async def until(predicate: Callable[[], bool], limit: int = 400) -> None:
        for _ in range(limit):
            if predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition not reached")

    def values() -> list[object]:
        return [s.value if s.quality == "good" else s.quality for s in outlet.samples("plc")]

    await gw.start()
    try:
        await until(lambda: 1 in values())
        first.plc.stop()
        await until(lambda: "bad" in values())
        second = start_rig(port=port)
        second.db1[0:2] = b"\x00\x02"
        await until(lambda: 2 in values())
        seen = values()
        assert seen.index(1) < seen.index("bad") < seen.index(2)
        runner = gw.runners["plc"]
        assert runner.stats.connects >= 2 and runner.stats.state == "up"
        assert runner.snapshot()["driver"]["pdu_size"] == 480
    finally:
        await gw.stop()
        first.plc.stop()
        if second is not None:
            second.plc.stop()
