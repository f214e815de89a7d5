"""Serve a model's values as OPC UA variables with asyncua, node ids exactly as in the profile.

Values carry a source timestamp (the server's clock) and a status: a point with an `out_of_range`
fault is `UncertainEngineeringUnitsExceeded`, a `failed` one `BadSensorFailure`, as a plant
control system reports them. Only changed values are written, so subscriptions see real changes.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from asyncua.server.binary_server_asyncio import BinaryServer

from devices.model import TagSpec

__all__ = ["OpcUaSimServer"]

NAMESPACE_URI = "urn:minegate:simulator"
WriteCallback = Callable[[str, Any], None]


def _variant_type(value: Any) -> ua.VariantType:
    if isinstance(value, bool):
        return ua.VariantType.Boolean
    if isinstance(value, int):
        return ua.VariantType.Int32
    if isinstance(value, float):
        return ua.VariantType.Double
    if isinstance(value, str):
        return ua.VariantType.String
    raise TypeError(f"no OPC UA type for {type(value).__name__}")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class OpcUaSimServer:
    protocol = "opcua"
    faults_supported = ("stuck", "out_of_range", "failed", "offline")

    def __init__(self, tags: Sequence[TagSpec], host: str = "127.0.0.1", port: int = 0,
                 options: Mapping[str, Any] | None = None, on_write: WriteCallback | None = None) -> None:
        self.tags = {t.name: t for t in tags}
        self.host = host
        self.port = port
        self.on_write = on_write
        self.notify: Callable[[], None] | None = None
        """Called after a client write request was processed; the simulator collects it."""
        self.failed: set[str] = set()
        self.out_of_range: set[str] = set()
        self.silent = False
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._types: dict[str, ua.VariantType] = {}
        self._published: dict[str, tuple[Any, int]] = {}
        self._offline = False
        for name in ("asyncua", "asyncua.server", "asyncua.common"):
            logging.getLogger(name).setLevel(logging.ERROR)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/minegate/"

    @property
    def connection(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "security": "None"}

    @property
    def running(self) -> bool:
        return self._server is not None and not self._offline

    async def start(self, initial: Mapping[str, Any]) -> None:
        """Build the address space with the types of `initial` and start listening."""
        if self.port == 0:
            self.port = _free_port(self.host)
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("minegate simulated device")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE_URI)
        if idx != 2:
            raise RuntimeError(f"simulator namespace got index {idx}, profiles address ns=2")
        folder_name = self._folder_name()
        folder = await server.nodes.objects.add_object(ua.NodeId.from_string(f"ns={idx};s={folder_name}"), folder_name)
        for name, tag in self.tags.items():
            node_id = ua.NodeId.from_string(tag.address)
            vtype = _variant_type(initial[name])
            browse = node_id.Identifier.rsplit(".", 1)[-1] if isinstance(node_id.Identifier, str) else name
            node = await folder.add_variable(node_id, ua.QualifiedName(browse, node_id.NamespaceIndex),
                                             ua.Variant(initial[name], vtype))
            if tag.writable:
                await node.set_writable()
            self._nodes[name] = node_id
            self._types[name] = vtype
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        await server.start()
        self._server = server

    async def _post_write(self, event: Any, dispatcher: Any) -> None:
        if self.notify is not None:
            self.notify()

    def _folder_name(self) -> str:
        prefixes = {t.address.split("s=", 1)[1].split(".", 1)[0] for t in self.tags.values()
                    if "s=" in t.address and "." in t.address.split("s=", 1)[1]}
        return prefixes.pop() if len(prefixes) == 1 else "Device"

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def set_offline(self, offline: bool) -> None:
        """Drop the network side (connections and listener) or bring it back on the same port."""
        server = self._server
        if server is None or offline == self._offline:
            return
        self._offline = offline
        old = server.bserver
        if offline:
            if old is not None:
                await old.stop()
            return
        assert old is not None
        fresh = BinaryServer(old.iserver, self.host, self.port, old.limits)
        fresh.set_policies(old._policies)
        await fresh.start()
        server.bserver = fresh

    # -- values ----------------------------------------------------------------------------
    def _status(self, name: str) -> int:
        if name in self.failed:
            return int(ua.StatusCodes.BadSensorFailure)
        if name in self.out_of_range:
            return int(ua.StatusCodes.UncertainEngineeringUnitsExceeded)
        return int(ua.StatusCodes.Good)

    def _coerce(self, name: str, value: Any) -> Any:
        vtype = self._types[name]
        if vtype == ua.VariantType.Double:
            return float(value)
        if vtype == ua.VariantType.Int32:
            return int(value)
        if vtype == ua.VariantType.Boolean:
            return bool(value)
        return str(value)

    async def publish(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Write changed values (and statuses) into the address space; return what clients read."""
        server = self._server
        out: dict[str, Any] = {}
        now = datetime.now(UTC)
        for name, value in values.items():
            if name not in self._nodes:
                continue
            v = self._coerce(name, value)
            status = self._status(name)
            out[name] = v
            if server is None or self._published.get(name) == (v, status):
                continue
            if self.tags[name].writable and name in self._published:
                current = self._current(name)
                if current is not None and current != self._published[name][0]:
                    out[name] = current  # a client wrote it: collected on the next tick
                    continue
            stamp = cast(ua.DateTime, now)
            dv = ua.DataValue(ua.Variant(v, self._types[name]), StatusCode=ua.StatusCode(ua.UInt32(status)),
                              SourceTimestamp=stamp, ServerTimestamp=stamp)
            await server.write_attribute_value(self._nodes[name], dv)
            self._published[name] = (v, status)
        return out

    def _current(self, name: str) -> Any:
        assert self._server is not None
        dv = self._server.iserver.aspace.read_attribute_value(self._nodes[name], ua.AttributeIds.Value)
        return None if dv.Value is None else dv.Value.Value

    def collect_writes(self) -> None:
        if self._server is None:
            return
        for name, tag in self.tags.items():
            if not tag.writable or name not in self._published:
                continue
            current = self._current(name)
            last, status = self._published[name]
            if current is not None and current != last:
                self._published[name] = (current, status)
                if self.on_write is not None:
                    self.on_write(name, current)
