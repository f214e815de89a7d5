"""A real asyncua server for the OPC UA driver tests: a small plant with every type, optional
security, users, small (enforced) OperationLimits, and a way to restart it on the same port."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole

from devices.model import DeviceSpec, Sample, TagSpec
from drivers.opcua import OpcUaDriver, make_client_certificate

for _name in ("asyncua", "asyncua.server", "asyncua.client"):
    logging.getLogger(_name).setLevel(logging.ERROR)

NS_URI = "urn:minegate:test:plant"
SERVER_URI = "urn:minegate:test:server"
T0 = datetime(2026, 12, 3, 8, 0, 0, 125000, tzinfo=UTC)
GUID = uuid.UUID("72962b91-fa75-4ae6-8d28-b404dc7daf63")
VT = ua.VariantType

# name -> (initial value, variant type, DataType override (ns=0 id) or None)
TYPED: dict[str, tuple[Any, ua.VariantType, int | None]] = {
    "Bool": (True, VT.Boolean, None),
    "SByte": (-5, VT.SByte, None),
    "Byte": (200, VT.Byte, None),
    "Int16": (-1234, VT.Int16, None),
    "UInt16": (54321, VT.UInt16, None),
    "Int32": (-123456, VT.Int32, None),
    "UInt32": (4_000_000_000, VT.UInt32, None),
    "Int64": (-(2**40), VT.Int64, None),
    "UInt64": (2**63 + 5, VT.UInt64, None),
    "Float": (12.3, VT.Float, None),
    "Double": (1234.5678, VT.Double, None),
    "String": ("原煤 raw coal", VT.String, None),
    "DateTime": (T0, VT.DateTime, None),
    "ByteString": (b"\x01\x02\xff", VT.ByteString, None),
    "Guid": (GUID, VT.Guid, None),
    "Text": (ua.LocalizedText("选煤厂"), VT.LocalizedText, None),
    "NodeRef": (ua.NodeId("Plant.Flow", 2), VT.NodeId, None),
    "Duration": (250.0, VT.Double, ua.ObjectIds.Duration),
    "DoubleArray": ([1.5, 2.5, -3.25], VT.Double, None),
    "Int32Array": ([1, -2, 3], VT.Int32, None),
    "StringArray": (["a", "b"], VT.String, None),
    "Flow": (512.5, VT.Double, None),
    "Level": (10.0, VT.Double, None),
    "Name": ("belt", VT.String, None),
}


@dataclass
class PlantServer:
    """A server plus one section of it: the typed variables under the object `prefix`.

    Tests that share one server each take their own `section`, so no test sees another's writes.
    """

    server: Server
    ns: int
    prefix: str = "Plant"
    nodes: dict[str, Node] = field(default_factory=dict)
    read_sizes: list[int] = field(default_factory=list)
    item_batches: list[int] = field(default_factory=list)
    enforce: dict[str, int] = field(default_factory=dict)
    hidden: set[Any] = field(default_factory=set)
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/plant/"

    def nodeid(self, name: str) -> str:
        return f"ns={self.ns};s={self.prefix}.{name}"

    async def section(self, prefix: str) -> PlantServer:
        """A fresh copy of the typed variables under a new object, on the same server."""
        view = replace(self, prefix=prefix, nodes={})
        await _add_section(view)
        return view

    async def start(self, port: int | None = None) -> None:
        self.server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port if port is None else port}/plant/")
        await self.server.start()
        assert self.server.bserver is not None
        self.port = int(self.server.bserver.port)

    async def set(self, name: str, value: Any, vt: ua.VariantType | None = None,
                  status: int = ua.StatusCodes.Good, ts: datetime | None = None) -> None:
        node = self.nodes[name]
        vt = vt or (await node.read_data_value()).Value.VariantType
        dv = ua.DataValue(ua.Variant(value, vt), StatusCode=ua.StatusCode(status),
                          SourceTimestamp=ts or datetime.now(UTC), ServerTimestamp=datetime.now(UTC))
        await self.server.write_attribute_value(node.nodeid, dv)

    async def get(self, name: str) -> Any:
        return (await self.nodes[name].read_data_value()).Value.Value

    async def stop(self) -> None:
        await self.server.stop()

    def hide_limits(self, hide: bool = True) -> None:
        """Make the OperationLimits nodes read as absent (BadNodeIdUnknown) — an older server."""
        from drivers.opcua.limits import LIMIT_NODES

        self.hidden.clear()
        if hide:
            self.hidden.update(ua.NodeId(i) for i in LIMIT_NODES.values())

    async def publish_limits(self, **limits: int) -> None:
        """Change the OperationLimits the server publishes (what a new session reads)."""
        for key, value in limits.items():
            node_id = getattr(ua.ObjectIds, f"Server_ServerCapabilities_OperationLimits_{key}")
            await self.server.write_attribute_value(ua.NodeId(node_id), ua.DataValue(ua.Variant(value, VT.UInt32)))

    def channel_modes(self) -> list[str]:
        """Security mode of every open client channel, as the server sees it."""
        modes = []
        for proto in self.server.bserver.clients if self.server.bserver else []:
            processor = proto.processor
            if processor is not None:
                modes.append(processor._connection.security_policy.Mode.name)
        return modes

    def client_subscriptions(self) -> list[int]:
        return list(self.server.iserver.subscription_service.subscriptions)


class PasswordUsers:
    """Username/password checking (the default asyncua user manager accepts anyone)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return None  # no anonymous access
        if self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


async def start_plant(
    port: int = 0,
    *,
    start: bool = True,
    limits: Mapping[str, int] | None = None,
    drop_limits: bool = False,
    enforce: Mapping[str, int] | None = None,
    bulk: int = 0,
    secure_only: bool = False,
    cert_dir: Path | None = None,
    users: Mapping[str, str] | None = None,
    trusted: Callable[[bytes], bool] | None = None,
) -> PlantServer:
    """A plant server on 127.0.0.1 (port 0 = a free port), started unless `start=False`.

    `limits` publishes OperationLimits values; `enforce` makes the server refuse bigger requests with
    BadTooManyOperations (defaults to `limits`); `drop_limits` deletes the OperationLimits nodes.
    """
    server = Server(user_manager=PasswordUsers(users) if users else None)
    await server.init()
    server.set_server_name("minegate test plant")
    await server.set_application_uri(SERVER_URI)
    if cert_dir is not None:
        made = make_client_certificate("server", cert_dir, application_uri=SERVER_URI, overwrite=True)
        await server.load_certificate(str(made.certificate))
        await server.load_private_key(str(made.private_key))
        policies = [ua.SecurityPolicyType.Basic256Sha256_Sign, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        if not secure_only:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
        server.set_security_policy(policies)
    if users:
        server.set_identity_tokens([ua.UserNameIdentityToken])
    if trusted is not None:
        async def validate(cert: Any, app: Any) -> None:
            from cryptography.hazmat.primitives.serialization import Encoding

            if not trusted(cert.public_bytes(Encoding.DER)):
                raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

        server.set_certificate_validator(validate)

    ns = await server.register_namespace(NS_URI)
    ps = PlantServer(server, ns, port=port)
    await _add_section(ps)
    if bulk:
        holder = await server.nodes.objects.add_object(ua.NodeId("Bulk", ns), "Bulk")
        for i in range(bulk):
            await holder.add_variable(ua.NodeId(f"Bulk.{i}", ns), f"B{i}", float(i))
    if drop_limits:
        from drivers.opcua.limits import LIMIT_NODES

        await server.delete_nodes([server.get_node(ua.NodeId(i)) for i in LIMIT_NODES.values()])
    await ps.publish_limits(**(limits or {}))
    ps.enforce.update(enforce if enforce is not None else (limits or {}))
    _enforce(ps)
    if start:
        await ps.start()
    return ps


async def _add_section(ps: PlantServer) -> None:
    ns, prefix, nodes = ps.ns, ps.prefix, ps.nodes
    plant = await ps.server.nodes.objects.add_object(ua.NodeId(prefix, ns), prefix)
    for name, (value, vt, dtype) in TYPED.items():
        variant = ua.Variant(value, vt)
        kwargs: dict[str, Any] = {}
        if dtype is not None:
            kwargs["datatype"] = ua.NodeId(dtype)
        node = await plant.add_variable(ua.NodeId(f"{prefix}.{name}", ns), name, variant, **kwargs)
        await node.set_writable()
        if isinstance(value, list):
            await node.write_value_rank(1)
        nodes[name] = node
    nodes["ReadOnly"] = await plant.add_variable(ua.NodeId(f"{prefix}.ReadOnly", ns), "ReadOnly", 7.5)
    for name in ("Uncertain", "Failed"):
        nodes[name] = await plant.add_variable(ua.NodeId(f"{prefix}.{name}", ns), name, 3.5)
    washer = await plant.add_object(ua.NodeId(f"{prefix}.Washer", ns), "Washer")
    nodes["Washer.Feed"] = await washer.add_variable(ua.NodeId(f"{prefix}.Washer.Feed", ns), "Feed", 88.0)
    pump = await washer.add_object(ua.NodeId(f"{prefix}.Washer.Pump", ns), "Pump")
    nodes["Washer.Pump.Speed"] = await pump.add_variable(ua.NodeId(f"{prefix}.Washer.Pump.Speed", ns), "Speed",
                                                         ua.Variant(1450, VT.UInt16))
    if prefix == "Plant":  # the other NodeId forms exist once per server
        nodes["Numeric"] = await plant.add_variable(ua.NodeId(1001, ns), "Numeric", ua.Variant(42, VT.Int32))
        nodes["ByGuid"] = await plant.add_variable(ua.NodeId(GUID, ns), "ByGuid", ua.Variant(1.25, VT.Double))
        nodes["ByBytes"] = await plant.add_variable(ua.NodeId(b"\x00mg", ns, ua.NodeIdType.ByteString), "ByBytes",
                                                    ua.Variant("opaque", VT.String))
    await ps.set("Uncertain", 3.5, VT.Double, ua.StatusCodes.UncertainLastUsableValue, T0)
    await ps.set("Failed", 0.0, VT.Double, ua.StatusCodes.BadSensorFailure, T0)


def _enforce(ps: PlantServer) -> None:
    """Record request sizes; refuse those above `ps.enforce` like a strict server does."""
    iserver = ps.server.iserver
    attribute_read = iserver.attribute_service.read

    def read(params: ua.ReadParameters) -> list[ua.DataValue]:
        ps.read_sizes.append(len(params.NodesToRead))
        max_read = ps.enforce.get("MaxNodesPerRead")
        if max_read and len(params.NodesToRead) > max_read:
            raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        results = attribute_read(params)
        if ps.hidden:  # answer for hidden nodes exactly as a server without them does
            unknown = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown))
            results = [unknown if rv.NodeId in ps.hidden else dv
                       for rv, dv in zip(params.NodesToRead, results, strict=True)]
        return results

    iserver.attribute_service.read = read  # type: ignore[method-assign]
    create_items = iserver.subscription_service.create_monitored_items

    async def create(params: ua.CreateMonitoredItemsParameters) -> list[ua.MonitoredItemCreateResult]:
        ps.item_batches.append(len(params.ItemsToCreate))
        max_items = ps.enforce.get("MaxMonitoredItemsPerCall")
        if max_items and len(params.ItemsToCreate) > max_items:
            raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        return await create_items(params)

    iserver.subscription_service.create_monitored_items = create  # type: ignore[method-assign]


# --- driver side ------------------------------------------------------------------------------

def device(endpoint: str, tags: Sequence[TagSpec], *, interval: float = 0.1, options: Mapping[str, Any] | None = None,
           name: str = "washer", **connection: Any) -> DeviceSpec:
    conn = {"endpoint": endpoint, "timeout": 2.0, **connection}
    return DeviceSpec(name=name, driver="opcua", connection=conn, tags=tuple(tags), interval=interval,
                      options=dict(options or {}))


def tag(name: str, address: str, **kw: Any) -> TagSpec:
    return TagSpec(name=name, address=address, **kw)


class Collector:
    """A subscribe callback that keeps every batch; tests wait on counts, never on time."""

    def __init__(self) -> None:
        self.batches: list[list[Sample]] = []

    def __call__(self, samples: list[Sample]) -> None:
        self.batches.append(list(samples))

    @property
    def samples(self) -> list[Sample]:
        return [s for b in self.batches for s in b]

    def of(self, tag_name: str) -> list[Sample]:
        return [s for s in self.samples if s.tag == tag_name]

    def last(self, tag_name: str) -> Sample | None:
        found = self.of(tag_name)
        return found[-1] if found else None

    def clear(self) -> None:
        self.batches.clear()


async def wait_until(predicate: Callable[[], object], within: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (bounded): fail with `what` rather than hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def opened(spec: DeviceSpec) -> OpcUaDriver:
    drv = OpcUaDriver(spec)
    await drv.connect()
    return drv
