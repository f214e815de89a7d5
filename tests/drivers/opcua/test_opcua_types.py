"""Every OPC UA type, read once and subscribed, against a real asyncua server; bad NodeIds; browse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from devices.model import TagSpec
from drivers.opcua import OpcUaDriver
from tests.drivers.opcua.opcua_testkit import (
    GUID,
    NS_URI,
    T0,
    Collector,
    PlantServer,
    device,
    opened,
    tag,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXPECTED = {
    "bool": True, "sbyte": -5, "byte": 200, "int16": -1234, "uint16": 54321, "int32": -123456,
    "uint32": 4_000_000_000, "int64": -(2**40), "uint64": 2**63 + 5, "float": 12.3, "double": 1234.5678,
    "string": "原煤 raw coal", "datetime": "2026-12-03T08:00:00.125Z", "bytestring": "AQL/",
    "guid": str(GUID), "text": "选煤厂", "noderef": "ns=2;s=Plant.Flow", "duration": 250.0,
    "doublearray": [1.5, 2.5, -3.25], "int32array": [1, -2, 3], "stringarray": ["a", "b"],
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plant(shared_plant: PlantServer) -> PlantServer:
    return shared_plant  # the default `Plant` section: every NodeId form lives there


@pytest_asyncio.fixture(loop_scope="session")
async def drv(plant: PlantServer) -> AsyncIterator[OpcUaDriver]:
    d = await opened(device(plant.endpoint, []))
    try:
        yield d
    finally:
        await d.close()


def typed_tags(plant: PlantServer) -> list[TagSpec]:
    names = {k.lower(): k for k in ("Bool", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64",
                                    "UInt64", "Float", "Double", "String", "DateTime", "ByteString", "Guid",
                                    "Text", "NodeRef", "Duration", "DoubleArray", "Int32Array", "StringArray")}
    return [tag(n, plant.nodeid(names[n])) for n in EXPECTED]


async def test_read_maps_every_type(plant: PlantServer, drv: OpcUaDriver) -> None:
    tags = typed_tags(plant)
    samples = await drv.read(tags)
    assert [s.tag for s in samples] == [t.name for t in tags]
    assert {s.tag: s.value for s in samples} == EXPECTED
    assert all(s.quality == "good" and s.error is None for s in samples)


async def test_subscribe_delivers_every_type_with_the_same_values(plant: PlantServer, drv: OpcUaDriver) -> None:
    got = Collector()
    await drv.subscribe(typed_tags(plant), got)
    await wait_until(lambda: {s.tag for s in got.samples} >= set(EXPECTED), what="initial values of every type")
    assert {t: got.last(t).value for t in EXPECTED} == EXPECTED  # type: ignore[union-attr]
    assert all(isinstance(b, list) for b in got.batches)


async def test_source_timestamp_becomes_ts(plant: PlantServer, drv: OpcUaDriver) -> None:
    src = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)
    await plant.set("Level", 11.0, ts=src)
    [sample] = await drv.read([tag("level", plant.nodeid("Level"))])
    assert sample.ts == src.timestamp()
    assert sample.to_dict()["ts"] == "2025-06-01T12:00:00.250Z"


async def test_status_codes_become_quality_with_the_name(plant: PlantServer, drv: OpcUaDriver) -> None:
    unc, bad = await drv.read([tag("unc", plant.nodeid("Uncertain")), tag("bad", plant.nodeid("Failed"))])
    assert (unc.quality, unc.value, unc.error, unc.ts) == ("uncertain", 3.5, "UncertainLastUsableValue", T0.timestamp())
    assert bad.quality == "bad" and bad.value is None
    assert bad.error is not None and bad.error.startswith("BadSensorFailure")


async def test_every_nodeid_form_reads(plant: PlantServer, drv: OpcUaDriver) -> None:
    ns = plant.ns
    tags = [tag("numeric", f"ns={ns};i=1001"), tag("guid", f"ns={ns};g={GUID}"), tag("opaque", f"ns={ns};b=AG1n"),
            tag("uri", f"nsu={NS_URI};s=Plant.Flow"), tag("server_time", "i=2258")]
    values = {s.tag: s for s in await drv.read(tags)}
    assert values["numeric"].value == 42
    assert values["guid"].value == 1.25
    assert values["opaque"].value == "opaque"
    assert values["uri"].value == (await plant.get("Flow"))
    assert values["server_time"].quality == "good" and values["server_time"].value.endswith("Z")


async def test_bad_nodeid_gives_a_bad_sample_with_the_reason(plant: PlantServer, drv: OpcUaDriver) -> None:
    tags = [tag("syntax", "Plant.Flow"), tag("missing", f"ns={plant.ns};s=Plant.Nope"),
            tag("uri", "nsu=urn:other;s=Flow"), tag("ok", plant.nodeid("Flow"))]
    samples = {s.tag: s for s in await drv.read(tags)}
    assert samples["syntax"].quality == "bad" and "expected i=, s=, g= or b=" in (samples["syntax"].error or "")
    assert samples["missing"].quality == "bad" and (samples["missing"].error or "").startswith("BadNodeIdUnknown")
    assert "urn:other" in (samples["uri"].error or "")
    assert samples["ok"].quality == "good"
    got = Collector()
    await drv.subscribe(tags, got)
    await wait_until(lambda: len({s.tag for s in got.samples}) == 4, what="a sample for every tag")
    by_tag = {s.tag: s for s in got.samples}
    assert by_tag["missing"].quality == "bad" and (by_tag["missing"].error or "").startswith("BadNodeIdUnknown")
    assert by_tag["syntax"].quality == "bad" and by_tag["ok"].quality == "good"
    assert drv.stats()["failed_items"] == 3


async def test_scaled_tag_reads_in_engineering_units(plant: PlantServer, drv: OpcUaDriver) -> None:
    [s] = await drv.read([tag("speed_pct", plant.nodeid("Washer.Pump.Speed"), scale=0.1, offset=-5.0)])
    assert s.value == pytest.approx(1450 * 0.1 - 5.0)


async def test_browse_lists_variables_with_type_and_depth(plant: PlantServer, drv: OpcUaDriver) -> None:
    shallow = await drv.browse(depth=2)
    by_address = {v["address"]: v for v in shallow}
    flow = by_address[plant.nodeid("Flow")]
    assert flow == {"address": plant.nodeid("Flow"), "name": "Flow", "type": "Double", "access": "rw",
                    "path": "Plant/Flow"}
    assert by_address[plant.nodeid("DoubleArray")]["type"] == "Double[]"
    assert by_address[plant.nodeid("Duration")]["type"] == "Duration"
    assert by_address[plant.nodeid("ReadOnly")]["access"] == "r"
    assert by_address[f"ns={plant.ns};i=1001"]["type"] == "Int32"
    assert plant.nodeid("Washer.Feed") not in by_address  # three levels down
    assert all(not v["address"].startswith("i=") for v in shallow)  # the standard Server object is left out
    deep = {v["address"]: v for v in await drv.browse(depth=4)}
    assert deep[plant.nodeid("Washer.Pump.Speed")]["path"] == "Plant/Washer/Pump/Speed"
    assert deep[plant.nodeid("Washer.Pump.Speed")]["type"] == "UInt16"
    # every listed address reads back as written: browse output is usable as tag addresses
    addresses = [a for a, v in deep.items() if v["path"].startswith("Plant/")]
    samples = await drv.read([tag(f"t{i}", a) for i, a in enumerate(addresses)])
    bad = {addresses[int(s.tag[1:])] for s in samples if s.quality == "bad"}
    assert bad == {plant.nodeid("Failed")}
