"""Writes use the node's own DataType; read-only nodes and bad values give a clear TagError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua

from devices.model import Access
from drivers.base import TagError
from drivers.opcua import OpcUaDriver
from tests.drivers.opcua.opcua_testkit import PlantServer, device, opened, tag

pytestmark = pytest.mark.asyncio(loop_scope="session")
RW = Access.READ_WRITE


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plant(shared_plant: PlantServer) -> PlantServer:
    return await shared_plant.section("Write")


@pytest_asyncio.fixture(loop_scope="session")
async def drv(plant: PlantServer) -> AsyncIterator[OpcUaDriver]:
    d = await opened(device(plant.endpoint, []))
    try:
        yield d
    finally:
        await d.close()


@pytest.mark.parametrize(("node", "value", "stored", "vt"), [
    ("Bool", "false", False, ua.VariantType.Boolean),
    ("SByte", -100, -100, ua.VariantType.SByte),
    ("Byte", "17", 17, ua.VariantType.Byte),
    ("Int16", "-300", -300, ua.VariantType.Int16),
    ("UInt16", 65535, 65535, ua.VariantType.UInt16),
    ("Int32", 12.4, 12, ua.VariantType.Int32),
    ("UInt32", "4294967295", 4294967295, ua.VariantType.UInt32),
    ("Int64", -(2**62), -(2**62), ua.VariantType.Int64),
    ("UInt64", 2**64 - 1, 2**64 - 1, ua.VariantType.UInt64),
    ("Float", "0.5", 0.5, ua.VariantType.Float),
    ("Double", 3, 3.0, ua.VariantType.Double),
    ("String", 42, "42", ua.VariantType.String),
    ("DateTime", "2027-01-01T00:00:00.5Z", datetime(2027, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), ua.VariantType.DateTime),
    ("Duration", "1500", 1500.0, ua.VariantType.Double),
    ("DoubleArray", "[4, 5.5]", [4.0, 5.5], ua.VariantType.Double),
    ("Int32Array", [7, 8, 9], [7, 8, 9], ua.VariantType.Int32),
    ("Text", "洗煤", ua.LocalizedText("洗煤"), ua.VariantType.LocalizedText),
])
async def test_write_uses_the_node_datatype(plant: PlantServer, drv: OpcUaDriver, node: str, value: Any,
                                            stored: Any, vt: ua.VariantType) -> None:
    t = tag(node.lower(), plant.nodeid(node), access=RW)
    await drv.write(t, value)
    dv = await plant.nodes[node].read_data_value()
    assert dv.Value.VariantType == vt
    if isinstance(stored, datetime):
        assert dv.Value.Value.replace(tzinfo=UTC) == stored
    else:
        assert dv.Value.Value == stored


async def test_write_inverts_scale_and_offset(plant: PlantServer, drv: OpcUaDriver) -> None:
    t = tag("setpoint", plant.nodeid("Int16"), access=RW, scale=0.1, offset=2.0)
    await drv.write(t, 52.0)
    assert await plant.get("Int16") == 500
    [back] = await drv.read([t])
    assert back.value == pytest.approx(52.0)


async def test_write_to_a_read_only_node_is_refused_clearly(plant: PlantServer, drv: OpcUaDriver) -> None:
    with pytest.raises(TagError) as err:
        await drv.write(tag("ro", plant.nodeid("ReadOnly"), access=RW), 1.0)
    assert "read-only on the server" in str(err.value) and plant.nodeid("ReadOnly") in str(err.value)
    assert await plant.get("ReadOnly") == 7.5


async def test_write_to_a_tag_configured_read_only_is_refused(plant: PlantServer, drv: OpcUaDriver) -> None:
    with pytest.raises(TagError, match=r"read-only \(access: r\)"):
        await drv.write(tag("flow", plant.nodeid("Flow")), 1.0)


@pytest.mark.parametrize(("node", "value", "needle"), [
    ("Int16", 40000, "out of range for int16"),
    ("UInt32", -1, "out of range for uint32"),
    ("Double", "fast", "not a number"),
    ("Bool", "maybe", "not a bool"),
    ("DoubleArray", 5, "give a list"),
    ("DateTime", "tomorrow", "not a time"),
])
async def test_bad_values_name_the_tag_and_the_datatype(plant: PlantServer, drv: OpcUaDriver, node: str,
                                                        value: Any, needle: str) -> None:
    before = await plant.get(node)
    with pytest.raises(TagError) as err:
        await drv.write(tag("t", plant.nodeid(node), access=RW), value)
    assert needle in str(err.value) and "tag t" in str(err.value) and "DataType" in str(err.value)
    assert await plant.get(node) == before


async def test_write_to_a_missing_node_or_bad_address(plant: PlantServer, drv: OpcUaDriver) -> None:
    with pytest.raises(TagError, match="BadNodeIdUnknown"):
        await drv.write(tag("gone", f"ns={plant.ns};s=Plant.Gone", access=RW), 1)
    with pytest.raises(TagError, match="invalid NodeId"):
        await drv.write(tag("typo", "Plant.Flow", access=RW), 1)


async def test_server_refusal_is_reported_with_its_status(plant: PlantServer, drv: OpcUaDriver) -> None:
    """A server that says no at write time (not in its access level) still gives a TagError."""
    node = plant.nodes["Name"]
    original = plant.server.iserver.attribute_service.write

    async def refuse(params: ua.WriteParameters, user: Any = None) -> list[ua.StatusCode]:
        return [ua.StatusCode(ua.StatusCodes.BadOutOfService) for _ in params.NodesToWrite]

    plant.server.iserver.attribute_service.write = refuse  # type: ignore[method-assign]
    try:
        with pytest.raises(TagError, match="BadOutOfService"):
            await drv.write(tag("name", plant.nodeid("Name"), access=RW), "x")
    finally:
        plant.server.iserver.attribute_service.write = original  # type: ignore[method-assign]
    assert (await node.read_value()) == "belt"
